"""One generation of a SISA ensemble, trained and recorded: the first training is generation 0, each
forget makes the next. Both run through :func:`build_generation`, so both are resumable alike.

Catalog records per retrained shard: a run (``NAME[.gK].sNN``) whose inputs are the shard's slice
dataset versions (``DATASET.sisa.sNN.rMM``, the union of slices 0..MM), a checkpoint artifact per slice
derived from that slice's dataset (not a run output: the closure of an erased member must reach the
checkpoints that saw it and only those), the shard model as the run's output; then the manifest
(kind ``report``, derived from the parent dataset) and the aggregate model, linked to every shard
model by ``ensemble_of``. The aggregate is registered last: when it exists, the generation is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.api import Catalog, RunContext
from disgorge.catalog.schema import Artifact
from disgorge.errors import ConflictError, NotFoundError
from disgorge.hashing import canonical_json
from disgorge.unlearning.determinism import deterministic
from disgorge.unlearning.layout import (
    Manifest,
    ShardRecord,
    SliceRecord,
    ensemble_document,
    load_ensemble,
    own_digest,
)
from disgorge.unlearning.serialize import weights_bytes, write_atomic
from disgorge.unlearning.spec import Recipe, SisaConfig
from disgorge.unlearning.train import SliceDone, SliceJob, load_examples, train_slices

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ShardWork:
    """Retrain ``shard`` from ``first_slice`` on, restarting from ``restart`` (path, sha256) or its seed."""

    shard: int
    seed: int
    first_slice: int
    restart: tuple[Path, str] | None
    layout: list[list[int]]
    """Own members per slice, after removing the erased ones."""


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    generation: int
    dataset: dict[str, Any]
    dataset_id: int
    dataset_name: str
    use: str
    party: str
    config: SisaConfig
    recipe: Recipe
    workdir: Path
    work: list[ShardWork]
    plan: str | None = None

    @property
    def model_name(self) -> str:
        return self.name if self.generation == 0 else f"{self.name}.g{self.generation}"

    @property
    def directory(self) -> Path:
        tail = f"g{self.generation}" + (f"-{self.plan[:12]}" if self.plan else "")
        return self.workdir / tail

    def fingerprint(self) -> str:
        """What the files under :attr:`directory` belong to; a different job there is refused."""
        return hashlib.sha256(
            canonical_json(
                {
                    "name": self.name,
                    "generation": self.generation,
                    "dataset": self.dataset["digest"],
                    "config": self.config.to_json(),
                    "recipe": self.recipe.to_json(),
                    "plan": self.plan,
                    "work": [
                        [w.shard, w.seed, w.first_slice, w.restart[1] if w.restart else None, w.layout]
                        for w in self.work
                    ],
                }
            )
        ).hexdigest()


def _claim(job: Job) -> None:
    marker = job.directory / "job.json"
    want = {"fingerprint": job.fingerprint(), "model": job.model_name}
    if marker.exists():
        have = json.loads(marker.read_text())
        if have.get("fingerprint") != want["fingerprint"]:
            raise ConflictError(
                f"{job.directory} holds the files of another SISA job ({have.get('model')})",
                hint="choose another workdir, or remove that folder if its job is abandoned",
            )
        return
    write_atomic(marker, json.dumps(want, sort_keys=True).encode(), durable=False)


def _open_run(cat: Catalog, job: Job, name: str) -> RunContext:
    """The shard's run; an interrupted attempt's run is taken up again rather than duplicated."""
    try:
        info = cat.store.get_run(name)
    except NotFoundError:
        return cat.run(
            name, use=job.use, party=job.party, code_version=f"disgorge-sisa:{job.fingerprint()[:16]}"
        )
    return RunContext(cat, info, [])


def _train_shard(
    cat: Catalog, job: Job, w: ShardWork, old: ShardRecord | None, progress: Progress
) -> ShardRecord:
    prefix = f"{job.model_name}.s{w.shard:02d}"
    run = _open_run(cat, job, prefix)
    try:
        records: list[SliceRecord] = []
        jobs: list[SliceJob] = []
        dataset_ids: dict[int, int] = {}
        cumulative: list[int] = []
        for r, own in enumerate(w.layout):
            cumulative = cumulative + own
            if r < w.first_slice:
                assert old is not None
                kept = old.slices[r]
                run.use_dataset(kept.dataset["ref"])
                records.append(kept)
                continue
            ds, _ = cat.store.create_dataset(
                f"{job.dataset_name}.sisa.s{w.shard:02d}.r{r:02d}",
                BitMap(cumulative),
                derived_from=job.dataset_id,
                query=f"SISA {job.model_name}: shard {w.shard}, slices 0..{r}",
            )
            run.use_dataset(ds.ref)
            dataset_ids[r] = ds.id
            dataset = {"ref": ds.ref, "digest": ds.digest, "members": ds.member_count}
            records.append(
                SliceRecord(r, list(own), own_digest(cat.store, own), dataset, {}, 0.0, job.generation)
            )
            jobs.append(SliceJob(r, list(cumulative), job.directory / f"s{w.shard:02d}" / f"r{r:02d}.ckpt"))

        def done(d: SliceDone) -> None:
            rec = records[d.slice]
            art = cat.register_artifact(d.path, kind="checkpoint", name=f"{prefix}.r{d.slice:02d}")
            cat.store.link("dataset", dataset_ids[d.slice], art.id, "derived_from")
            rec.checkpoint = {
                "name": art.name,
                "sha256": art.sha256,
                "weights_sha256": d.weights_sha256,
                "path": str(d.path),
            }
            rec.seconds = round(d.seconds, 6)
            progress(f"{prefix} slice {d.slice}: {'resumed' if d.resumed else f'{d.seconds:.2f} s'}")

        examples = load_examples(cat.store, job.recipe, (m for own in w.layout for m in own))
        with deterministic(job.config.threads):
            model = train_slices(
                job.recipe, job.config, w.seed, examples, jobs, shard=w.shard, start=w.restart, on_done=done
            )
        path = job.directory / f"s{w.shard:02d}" / "model.safetensors"
        blob = weights_bytes(model)
        if not path.exists() or path.read_bytes() != blob:
            write_atomic(path, blob)
        art = run.log_model(path, name=prefix)
    except BaseException:
        if cat.store.get_run(prefix).status != "finished":
            cat.store.finish_run(run.info.id, "failed")
        raise
    cat.store.finish_run(run.info.id, "finished")
    return ShardRecord(
        w.shard, w.seed, records, {"name": art.name, "sha256": art.sha256}, run.info.uid, job.generation
    )


def build_generation(
    cat: Catalog,
    job: Job,
    *,
    previous: Manifest | None,
    previous_sha: str | None,
    history: dict[str, Any] | None,
    environment: dict[str, Any],
    progress: Progress = lambda _: None,
) -> tuple[str, Manifest, str]:
    """Train the job's shards, keep the others from ``previous``, record the generation; returns the
    aggregate model's name, the manifest and its sha256. Running it again after a crash resumes."""
    try:
        art, done, sha = load_ensemble(cat.store, job.model_name)
    except NotFoundError:
        pass
    else:
        if done.job == job.fingerprint():
            _link_ensemble(cat, art.id, done)  # a crash may have come between the aggregate and its links
            return art.name or job.model_name, done, sha
        raise ConflictError(
            f"model {job.model_name!r} is already in the catalog from another job",
            hint="give the SISA training another name",
        )
    _claim(job)
    shards: dict[int, ShardRecord] = {sh.shard: sh for sh in (previous.shards if previous else [])}
    old = dict(shards)
    for w in job.work:
        shards[w.shard] = _train_shard(cat, job, w, old.get(w.shard), progress)
    manifest = Manifest(
        job.name,
        job.generation,
        job.model_name,
        job.dataset,
        job.use,
        job.party,
        job.config.to_json(),
        job.recipe.to_json(),
        environment,
        str(job.workdir),
        [shards[k] for k in sorted(shards)],
        [*(previous.history if previous else []), *([history] if history else [])],
        previous_sha,
        job.fingerprint(),
    )
    man_path = job.directory / "manifest.json"
    write_atomic(man_path, manifest.to_bytes())
    man = cat.register_artifact(man_path, kind="report", name=f"{job.model_name}.manifest")
    cat.store.link("dataset", job.dataset_id, man.id, "derived_from")
    agg_path = job.directory / "aggregate.json"
    write_atomic(agg_path, ensemble_document(manifest, man.sha256))
    agg = cat.register_artifact(agg_path, kind="model", name=job.model_name)
    _link_ensemble(cat, agg.id, manifest)
    progress(f"{job.model_name}: ensemble of {len(manifest.shards)} shards registered")
    return job.model_name, manifest, man.sha256


def _link_ensemble(cat: Catalog, aggregate_id: int, manifest: Manifest) -> None:
    """``ensemble_of`` from every shard model to the aggregate, in one transaction (links are a set)."""
    names = [sh.model["name"] for sh in manifest.shards]
    with cat.store.session() as s:
        rows = s.execute(select(Artifact.name, Artifact.id).where(Artifact.name.in_(names)))
        ids = {str(n): int(i) for n, i in rows}
        missing = [n for n in names if n not in ids]
        if missing:
            raise NotFoundError(f"shard models {missing[:3]} of {manifest.model} are not in the catalog")
        for name in names:
            cat.store._link(s, "artifact", ids[name], "artifact", aggregate_id, "ensemble_of")

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.api import Catalog, RunContext
from disgorge.catalog import DatasetInfo, NewArtifact, as_uri
from disgorge.catalog.schema import Artifact
from disgorge.errors import ConflictError, NotFoundError, VerificationFailed
from disgorge.hashing import canonical_json
from disgorge.hashing.digest import sha256_path
from disgorge.unlearning.determinism import deterministic
from disgorge.unlearning.layout import (
    Manifest,
    ShardRecord,
    SliceRecord,
    ensemble_document,
    load_ensemble,
    own_digest,
)
from disgorge.unlearning.serialize import sync_paths, weights_bytes, write_atomic
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


@dataclass(slots=True)
class _Trained:
    """A shard trained and its files written, not yet durable nor registered."""

    record: ShardRecord
    run_id: int
    checkpoints: dict[int, tuple[Path, int]]
    """slice -> (checkpoint path, id of the slice dataset it derives from)."""
    model_path: Path


def _train_shard(
    cat: Catalog, job: Job, w: ShardWork, old: ShardRecord | None, progress: Progress
) -> _Trained:
    prefix = f"{job.model_name}.s{w.shard:02d}"
    run = _open_run(cat, job, prefix)
    try:
        records: list[SliceRecord] = []
        jobs: list[SliceJob] = []
        inputs: list[str | DatasetInfo] = []
        dataset_ids: dict[int, int] = {}
        cumulative: list[int] = []
        for r, own in enumerate(w.layout):
            cumulative = cumulative + own
            if r < w.first_slice:
                assert old is not None
                kept = old.slices[r]
                inputs.append(kept.dataset["ref"])
                records.append(kept)
                continue
            ds, _ = cat.store.create_dataset(
                f"{job.dataset_name}.sisa.s{w.shard:02d}.r{r:02d}",
                BitMap(cumulative),
                derived_from=job.dataset_id,
                query=f"SISA {job.model_name}: shard {w.shard}, slices 0..{r}",
            )
            inputs.append(ds)
            dataset_ids[r] = ds.id
            dataset = {"ref": ds.ref, "digest": ds.digest, "members": ds.member_count}
            records.append(
                SliceRecord(r, list(own), own_digest(cat.store, own), dataset, {}, 0.0, job.generation)
            )
            jobs.append(SliceJob(r, list(cumulative), job.directory / f"s{w.shard:02d}" / f"r{r:02d}.ckpt"))
        run.use_datasets(inputs)  # every member read is checked, kept slices too: one decision

        def done(d: SliceDone) -> None:
            rec = records[d.slice]
            rec.checkpoint = {
                "name": f"{prefix}.r{d.slice:02d}",
                "sha256": d.sha256,
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
        if not path.is_file() or path.read_bytes() != blob:
            write_atomic(path, blob, durable=False)
    except BaseException:
        if cat.store.get_run(prefix).status != "finished":
            cat.store.finish_run(run.info.id, "failed")
        raise
    record = ShardRecord(
        w.shard,
        w.seed,
        records,
        {"name": prefix, "sha256": hashlib.sha256(blob).hexdigest()},
        run.info.uid,
        job.generation,
    )
    return _Trained(record, run.info.id, {j.slice: (j.path, dataset_ids[j.slice]) for j in jobs}, path)


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
    aggregate model's name, the manifest and its sha256. Running it again after a crash resumes.

    Files are written without fsync while training (a killed process loses none of them), then made
    durable together, then everything the generation adds to the catalog (checkpoints, shard models,
    manifest, aggregate, their links, the runs finished) is registered in one transaction: the catalog
    never names a file that a power loss could take back, and a generation is recorded whole or not at
    all."""
    try:
        art, done, sha = load_ensemble(cat.store, job.model_name)
    except NotFoundError:
        pass
    else:
        if done.job == job.fingerprint():
            return art.name or job.model_name, done, sha
        raise ConflictError(
            f"model {job.model_name!r} is already in the catalog from another job",
            hint="give the SISA training another name",
        )
    _claim(job)
    old = {sh.shard: sh for sh in (previous.shards if previous else [])}
    trained: list[_Trained] = []
    try:
        for w in job.work:
            trained.append(_train_shard(cat, job, w, old.get(w.shard), progress))
        name, manifest, man_sha = _record(cat, job, previous, previous_sha, history, environment, trained)
    except BaseException:
        for t in trained:  # trained but not recorded: failed until a rerun takes their files up
            cat.store.finish_run(t.run_id, "failed")
        raise
    progress(f"{name}: ensemble of {len(manifest.shards)} shards registered")
    return name, manifest, man_sha


def _record(
    cat: Catalog,
    job: Job,
    previous: Manifest | None,
    previous_sha: str | None,
    history: dict[str, Any] | None,
    environment: dict[str, Any],
    trained: list[_Trained],
) -> tuple[str, Manifest, str]:
    """Sync the generation's files, then register all of it in one transaction."""
    shards: dict[int, ShardRecord] = {sh.shard: sh for sh in (previous.shards if previous else [])}
    _known_names(cat, trained)
    for t in trained:
        shards[t.record.shard] = t.record
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
    man_bytes = manifest.to_bytes()
    man_sha = hashlib.sha256(man_bytes).hexdigest()
    man_path, agg_path = job.directory / "manifest.json", job.directory / "aggregate.json"
    agg_bytes = ensemble_document(manifest, man_sha)
    write_atomic(man_path, man_bytes, durable=False)
    write_atomic(agg_path, agg_bytes, durable=False)
    specs: list[tuple[Path, str, NewArtifact]] = []
    for t in trained:
        for sl in t.record.slices:
            if sl.slice in t.checkpoints:
                path, ds_id = t.checkpoints[sl.slice]
                parents = (("dataset", ds_id, "derived_from"),)
                specs.append(
                    (path, sl.checkpoint["sha256"], _spec("checkpoint", sl.checkpoint["name"], parents))
                )
        specs.append(
            (t.model_path, t.record.model["sha256"], _spec("model", t.record.model["name"], run=t.run_id))
        )
    last_slices = tuple(
        ("dataset", cat.store.get_dataset(sh.slices[-1].dataset["ref"]).id, "derived_from")
        for sh in manifest.shards
    )  # together exactly the members it lists: a later generation is not downstream of erased ones
    specs.append((man_path, man_sha, _spec("report", f"{job.model_name}.manifest", last_slices)))
    members = tuple(("artifact", sh.model["name"], "ensemble_of") for sh in manifest.shards)
    specs.append((agg_path, hashlib.sha256(agg_bytes).hexdigest(), _spec("model", job.model_name, members)))
    sync_paths(p for p, _, _ in specs)
    cat.store.register_artifacts(
        [_on_disk(p, sha, spec) for p, sha, spec in specs], finish_runs=[t.run_id for t in trained]
    )
    return job.model_name, manifest, man_sha


def _spec(
    kind: str, name: str, parents: tuple[tuple[str, int | str, str], ...] = (), run: int | None = None
) -> NewArtifact:
    return NewArtifact(kind, "", "", 0, name, run, parents=parents)


def _on_disk(path: Path, sha256: str, spec: NewArtifact) -> NewArtifact:
    """The spec with the file's uri, size and identity; its bytes must still be the ones recorded."""
    digest, size = sha256_path(path)
    if digest != sha256:
        raise VerificationFailed(
            f"{path} changed while the SISA generation was being recorded", hint="run it again"
        )
    st = path.stat()
    return replace(
        spec, uri=as_uri(str(path)), sha256=digest, size=size, mtime_ns=st.st_mtime_ns, inode=st.st_ino
    )


def _known_names(cat: Catalog, trained: list[_Trained]) -> None:
    """Bytes the catalog already holds under another name (an identical training) keep that name,
    as registering them again would: the manifest must name what the catalog will hold."""
    wanted = [
        (sl.checkpoint, "checkpoint") for t in trained for sl in t.record.slices if sl.slice in t.checkpoints
    ]
    wanted += [(t.record.model, "model") for t in trained]
    shas = sorted({d["sha256"] for d, _ in wanted})
    named: dict[tuple[str, str], str] = {}
    with cat.store.session() as s:
        for i in range(0, len(shas), 900):
            q = select(Artifact.sha256, Artifact.kind, Artifact.name, Artifact.id).where(
                Artifact.sha256.in_(shas[i : i + 900]), Artifact.name.is_not(None)
            )
            for sha, kind, name, _ in sorted(s.execute(q), key=lambda r: r[3]):
                named.setdefault((str(sha), str(kind)), str(name))
    for d, kind in wanted:
        d["name"] = named.get((d["sha256"], kind), d["name"])

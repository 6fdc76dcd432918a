"""Proof of exactness: retrain shards from scratch on their recorded members and compare hashes.

For each shard checked, training restarts from the shard's seed on the manifest's remaining members,
slice by slice, in a scratch folder; every slice checkpoint (weights, optimizer and RNG states) and the
final weights must hash exactly as recorded, so an incremental retrain that restarted from an old
checkpoint is shown equal to a model that never saw the erased members. The member sets are checked
too: each slice's own members against its recorded digest, each slice dataset in the catalog against
the union of its slices. Nothing is written to the catalog.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.api import Catalog
from disgorge.errors import NotFoundError, UsageError
from disgorge.unlearning.layout import Manifest, ShardRecord, load_ensemble, own_digest
from disgorge.unlearning.spec import Recipe, SisaConfig


@dataclass(slots=True)
class VerifyReport:
    model: str
    model_sha256: str
    manifest_sha256: str
    generation: int
    shards: list[dict[str, Any]]
    member_sets: list[dict[str, Any]]
    environment: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(s["match"] for s in self.shards) and all(m["match"] for m in self.member_sets)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "manifest_sha256": self.manifest_sha256,
            "generation": self.generation,
            "shards": self.shards,
            "member_sets": self.member_sets,
            "environment": self.environment,
        }


def _member_sets(cat: Catalog, sh: ShardRecord) -> list[dict[str, Any]]:
    out = []
    union = BitMap()
    for sl in sh.slices:
        union |= BitMap(sl.members)
        own_ok = own_digest(cat.store, sl.members) == sl.member_digest
        try:
            ds = cat.store.get_dataset(sl.dataset["ref"])
            ds_ok = ds.digest == sl.dataset["digest"] and cat.store.members(ds.id) == union
        except NotFoundError:
            ds_ok = False
        out.append(
            {"shard": sh.shard, "slice": sl.slice, "dataset": sl.dataset["ref"], "match": own_ok and ds_ok}
        )
    return out


def _replay(cat: Catalog, manifest: Manifest, sh: ShardRecord, scratch: Path) -> dict[str, Any]:
    from disgorge.unlearning.determinism import deterministic
    from disgorge.unlearning.serialize import weight_hash
    from disgorge.unlearning.train import SliceDone, SliceJob, load_examples, train_slices

    recipe = Recipe.from_json(manifest.recipe)
    config = SisaConfig.from_json(manifest.config)
    members = [m for sl in sh.slices for m in sl.members]
    examples = load_examples(cat.store, recipe, members)
    jobs: list[SliceJob] = []
    cumulative: list[int] = []
    for sl in sh.slices:
        cumulative = cumulative + sl.members
        jobs.append(
            SliceJob(sl.slice, list(cumulative), scratch / f"s{sh.shard:02d}" / f"r{sl.slice:02d}.ckpt")
        )
    got: dict[int, SliceDone] = {}
    t0 = time.perf_counter()
    with deterministic(config.threads):
        model = train_slices(
            recipe,
            config,
            sh.seed,
            examples,
            jobs,
            shard=sh.shard,
            on_done=lambda d: got.__setitem__(d.slice, d),
        )
    reproduced = weight_hash(model)
    checkpoints = [
        {
            "slice": sl.slice,
            "recorded_sha256": sl.checkpoint.get("sha256"),
            "reproduced_sha256": got[sl.slice].sha256,
            "match": sl.checkpoint.get("sha256") == got[sl.slice].sha256,
        }
        for sl in sh.slices
    ]
    return {
        "shard": sh.shard,
        "model": sh.model["name"],
        "generation": sh.generation,
        "members": sh.member_count,
        "slices": len(sh.slices),
        "recorded_sha256": sh.model["sha256"],
        "reproduced_sha256": reproduced,
        "match": reproduced == sh.model["sha256"] and all(c["match"] for c in checkpoints),
        "checkpoints": checkpoints,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def verify_exact(
    catalog: Catalog,
    model_ref: str,
    *,
    shards: Sequence[int] | None = None,
    scratch: Path | None = None,
) -> VerifyReport:
    """Retrain ``shards`` (default: those the latest generation retrained, or all for generation 0)
    from scratch and compare with the recorded hashes."""
    art, manifest, sha = load_ensemble(catalog.store, model_ref)
    by_shard = {sh.shard: sh for sh in manifest.shards}
    if shards is None:
        chosen = list(manifest.history[-1]["shards"]) if manifest.history else sorted(by_shard)
    else:
        chosen = sorted(set(shards))
        unknown = [s for s in chosen if s not in by_shard]
        if unknown:
            raise UsageError(
                f"shard {unknown[0]} is not in {art.label} (shards 0..{len(by_shard) - 1})",
                hint="list shards with their numbers in the manifest",
            )
    from disgorge.unlearning.determinism import (
        REPLAY_KEYS,
        deterministic,
    )  # torch: only once the request is valid

    config = SisaConfig.from_json(manifest.config)
    with deterministic(config.threads) as env:
        pass
    recorded = manifest.environment
    environment = {
        "recorded": {k: recorded.get(k) for k in REPLAY_KEYS},
        "current": {k: env.get(k) for k in REPLAY_KEYS},
        "differences": [k for k in REPLAY_KEYS if recorded.get(k) != env.get(k)],
    }
    results: list[dict[str, Any]] = []
    member_sets: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="disgorge-verify-", dir=scratch) as tmp:
        for s in chosen:
            member_sets.extend(_member_sets(catalog, by_shard[s]))
            results.append(_replay(catalog, manifest, by_shard[s], Path(tmp)))
    return VerifyReport(
        art.name or model_ref, art.sha256, sha, manifest.generation, results, member_sets, environment
    )

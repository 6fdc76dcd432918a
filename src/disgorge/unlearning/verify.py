"""Proof of exactness: retrain shards from scratch on their recorded members and compare hashes.

For each shard checked, training restarts from the shard's seed on the manifest's remaining members,
slice by slice, in a scratch folder; every slice checkpoint (weights, optimizer and RNG states) and the
final weights must hash exactly as recorded, so an incremental retrain that restarted from an old
checkpoint is shown equal to a model that never saw the erased members. The member sets are checked
too: each slice's own members against its recorded digest, each slice dataset in the catalog against
the union of its slices. Nothing is written to the catalog.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.api import Catalog
from disgorge.catalog import CatalogStore
from disgorge.errors import InputError, NotFoundError, UsageError
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
    certificate: dict[str, Any] | None = None
    """With a certificate: whether the replay and the model match the hashes it certifies."""

    @property
    def ok(self) -> bool:
        return (
            all(s["match"] for s in self.shards)
            and all(m["match"] for m in self.member_sets)
            and (self.certificate is None or bool(self.certificate["match"]))
        )

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
            "certificate": self.certificate,
        }


@dataclass(frozen=True, slots=True)
class CertifiedRetrain:
    """What a certificate of destruction says a retrain produced: per retrained aggregate, its new
    weight hash and the new hash of each shard it retrained (from the new aggregate document)."""

    plan_id: str
    aggregates: dict[str, dict[int, str]]
    """new aggregate sha256 -> {retrained shard: its new weight hash}"""

    def shards_for(self, store: CatalogStore, model_ref: str) -> list[int]:
        art = store.resolve_artifact(model_ref, kind="model")
        if art.sha256 not in self.aggregates:
            raise UsageError(
                f"the certificate of plan {self.plan_id[:12]} certifies no retrain that produced {art.label}",
                hint="give the model the certificate lists as the new aggregate (its new_model)",
            )
        return sorted(self.aggregates[art.sha256])


def certified_retrain(doc: dict[str, Any]) -> CertifiedRetrain:
    """The retrains a certificate claims (read, not verified: ``disgorge certificate verify`` checks
    its signature, proofs and consistency)."""
    aggregates: dict[str, dict[int, str]] = {}
    try:
        plan_id = str(doc["order"]["plan_id"])
        for m in doc["models"]:
            d = m.get("detail") or {}
            if m.get("disposition") != "retrained" or d.get("role") != "sisa_aggregate":
                continue
            new = json.loads(d["ensemble"]["new"])
            hashes = {int(s["shard"]): str(s["sha256"]) for s in new["shards"]}
            aggregates[str(d["new_sha256"])] = {int(s): hashes[int(s)] for s in d["shards_retrained"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the certificate's retrained models cannot be read ({exc})") from exc
    if not aggregates:
        raise UsageError(f"the certificate of plan {plan_id[:12]} lists no retrained model")
    return CertifiedRetrain(plan_id, aggregates)


def compare_certificate(report: VerifyReport, claim: CertifiedRetrain) -> dict[str, Any]:
    """The replayed hashes against the certified ones: the model's own, and each shard's."""
    want = claim.aggregates.get(report.model_sha256, {})
    problems = [] if want else [f"the certificate certifies no retrain producing {report.model_sha256[:12]}…"]
    for s in report.shards:
        if want.get(s["shard"]) != s["reproduced_sha256"]:
            problems.append(
                f"shard {s['shard']} replays to {s['reproduced_sha256'][:12]}…, not the certified hash"
            )
    return {"plan_id": claim.plan_id, "match": not problems, "problems": problems}


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

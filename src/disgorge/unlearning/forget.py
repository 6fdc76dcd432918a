"""Forgetting members of a SISA ensemble exactly: plan (pure), execute (resumable), verify (replay).

:func:`plan_forget` reads only the catalog and the manifest and needs no torch: which shards and
slices hold the erased members, the checkpoint to restart each from, the checkpoints that saw the
data (to destroy), and the cost against a full retrain. Several erasures are batched by passing the
union of their members: each affected shard is retrained once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.api import Catalog
from disgorge.catalog import CatalogStore
from disgorge.errors import ConflictError, InputError, NotFoundError, VerificationFailed
from disgorge.hashing import canonical_json, sha256_file
from disgorge.unlearning.layout import Manifest, load_ensemble


@dataclass(frozen=True, slots=True)
class ShardRetrain:
    shard: int
    first_slice: int
    """The first slice holding an erased member; slices from here on are retrained."""
    slices: tuple[int, ...]
    restart_from: dict[str, Any] | None
    """The checkpoint after slice ``first_slice - 1`` (it never saw the erased data); None: from scratch."""
    destroy: tuple[dict[str, Any], ...]
    """Checkpoints of slices ``first_slice`` and later: each saw erased data."""
    old_model: dict[str, Any]
    erased: tuple[int, ...]
    remaining_members: int
    estimated_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "first_slice": self.first_slice,
            "slices": list(self.slices),
            "restart_from": self.restart_from,
            "destroy": list(self.destroy),
            "old_model": self.old_model,
            "erased": list(self.erased),
            "erased_members": len(self.erased),
            "remaining_members": self.remaining_members,
            "estimated_seconds": self.estimated_seconds,
        }


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    model: str
    model_sha256: str
    manifest_sha256: str
    generation: int
    """The generation the retrain will create."""
    erased: tuple[int, ...]
    """Requested asset ids that are members of the ensemble (sorted)."""
    not_members: int
    shards: tuple[ShardRetrain, ...]
    cost: dict[str, Any]
    full_retrain: dict[str, Any]
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.compute_id())

    def body(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_sha256": self.model_sha256,
            "manifest_sha256": self.manifest_sha256,
            "generation": self.generation,
            "erased": list(self.erased),
            "not_members": self.not_members,
            "shards": [s.to_json() for s in self.shards],
            "cost": self.cost,
            "full_retrain": self.full_retrain,
        }

    def compute_id(self) -> str:
        return hashlib.sha256(canonical_json(self.body())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"plan_id": self.id, "disposition": "retrain" if self.shards else "unaffected", **self.body()}

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ForgetPlan:
        """The plan back from :meth:`to_json` (e.g. stored with an erasure plan); its id is re-checked."""
        shards = tuple(
            ShardRetrain(
                int(s["shard"]),
                int(s["first_slice"]),
                tuple(int(r) for r in s["slices"]),
                s["restart_from"],
                tuple(s["destroy"]),
                dict(s["old_model"]),
                tuple(int(m) for m in s["erased"]),
                int(s["remaining_members"]),
                float(s["estimated_seconds"]),
            )
            for s in v["shards"]
        )
        plan = cls(
            v["model"],
            v["model_sha256"],
            v["manifest_sha256"],
            int(v["generation"]),
            tuple(int(m) for m in v["erased"]),
            int(v["not_members"]),
            shards,
            dict(v["cost"]),
            dict(v["full_retrain"]),
        )
        if plan.id != v.get("plan_id"):
            raise InputError("the stored forget plan does not match its id", hint="plan the forget again")
        return plan


def _successor(store: CatalogStore, manifest: Manifest) -> str | None:
    name = f"{manifest.name}.g{manifest.generation + 1}"
    try:
        store.resolve_artifact(name, kind="model")
    except NotFoundError:
        return None
    return name


def plan_forget(catalog: Catalog, model_ref: str, erased_asset_ids: set[int] | list[int]) -> ForgetPlan:
    """What forgetting ``erased_asset_ids`` (the union of every pending erasure) costs this ensemble."""
    return forget_plan(catalog.store, model_ref, erased_asset_ids)


def forget_plan(
    store: CatalogStore,
    model_ref: str,
    erased_asset_ids: set[int] | list[int] | BitMap,
    *,
    superseded_ok: bool = False,
) -> ForgetPlan:
    """:func:`plan_forget` over a store; ``superseded_ok`` plans against a generation a retrain
    already replaced (to take up that retrain's result again: executing it returns the same one)."""
    art, manifest, sha = load_ensemble(store, model_ref)
    if not superseded_ok and (newer := _successor(store, manifest)) is not None:
        raise ConflictError(
            f"model {art.label} was superseded by {newer} (a retrain already ran)",
            hint=f"plan against {newer}",
        )
    erased = {int(i) for i in erased_asset_ids}
    members: set[int] = set()
    shards: list[ShardRetrain] = []
    total_seconds = 0.0
    for sh in manifest.shards:
        total_seconds += sum(sl.seconds for sl in sh.slices)
        hit = [sorted(erased.intersection(sl.members)) for sl in sh.slices]
        members.update(m for h in hit for m in h)
        first = next((r for r, h in enumerate(hit) if h), None)
        if first is None:
            continue
        shards.append(
            ShardRetrain(
                sh.shard,
                first,
                tuple(range(first, len(sh.slices))),
                dict(sh.slices[first - 1].checkpoint) if first > 0 else None,
                tuple(dict(sl.checkpoint) for sl in sh.slices[first:]),
                dict(sh.model),
                tuple(m for h in hit for m in h),
                sh.member_count - sum(len(h) for h in hit),
                round(sum(sl.seconds for sl in sh.slices[first:]), 6),
            )
        )
    cost = {
        "shards": len(shards),
        "slices": sum(len(s.slices) for s in shards),
        "estimated_seconds": round(sum(s.estimated_seconds for s in shards), 6),
    }
    full = {
        "shards": len(manifest.shards),
        "slices": sum(len(sh.slices) for sh in manifest.shards),
        "estimated_seconds": round(total_seconds, 6),
    }
    return ForgetPlan(
        art.name or model_ref,
        art.sha256,
        sha,
        manifest.generation + 1,
        tuple(sorted(members)),
        len(erased - members),
        tuple(shards),
        cost,
        full,
    )


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """What the erasure side records (and a certificate lists) for a retrained ensemble."""

    plan: ForgetPlan
    model: str
    """The new aggregate (the old one when nothing was affected)."""
    model_sha256: str
    manifest_sha256: str
    manifest: Manifest

    def dispositions(self) -> list[dict[str, Any]]:
        """Per model: ``retrained`` (old and new weight hashes, shards and slices, member-set digests)."""
        if not self.plan.shards:
            return []
        by_shard = {sh.shard: sh for sh in self.manifest.shards}
        out: list[dict[str, Any]] = []
        for s in self.plan.shards:
            new = by_shard[s.shard]
            out.append(
                {
                    "model": s.old_model["name"],
                    "disposition": "retrained",
                    "role": "sisa_shard",
                    "shard": s.shard,
                    "slices_retrained": list(s.slices),
                    "old_sha256": s.old_model["sha256"],
                    "new_model": new.model["name"],
                    "new_sha256": new.model["sha256"],
                    "restarted_from": s.restart_from["sha256"] if s.restart_from else None,
                    "member_set_digests": [
                        {"slice": sl.slice, "dataset": sl.dataset["ref"], "digest": sl.dataset["digest"]}
                        for sl in new.slices
                    ],
                    "checkpoints_destroyed": [c["sha256"] for c in s.destroy],
                }
            )
        out.append(
            {
                "model": self.plan.model,
                "disposition": "retrained",
                "role": "sisa_aggregate",
                "old_sha256": self.plan.model_sha256,
                "new_model": self.model,
                "new_sha256": self.model_sha256,
                "old_manifest_sha256": self.plan.manifest_sha256,
                "manifest_sha256": self.manifest_sha256,
                "shards_retrained": [s.shard for s in self.plan.shards],
                "torch": self.manifest.environment.get("torch"),
                "determinism": {
                    k: self.manifest.environment.get(k)
                    for k in (
                        "deterministic_algorithms",
                        "threads",
                        "interop_threads",
                        "cpu_capability",
                        "default_dtype",
                    )
                },
            }
        )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan.id,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "manifest_sha256": self.manifest_sha256,
            "dispositions": self.dispositions(),
        }


def _check_file(path: Path, sha256: str) -> None:
    digest = sha256_file(path)[0] if path.is_file() else None
    if digest != sha256:
        raise VerificationFailed(
            f"restart checkpoint {path} is missing or no longer matches its recorded sha256 {sha256[:12]}…",
            hint="restore the file from a copy; nothing was retrained or recorded",
        )


def execute_forget(
    catalog: Catalog,
    plan: ForgetPlan,
    *,
    strict_environment: bool = True,
    progress: Any = None,
) -> ForgetResult:
    """Retrain the plan's shards on their remaining members and record the next generation.

    Refuses a plan that no longer matches the ensemble, or (with ``strict_environment``) a machine
    whose torch build, threads or CPU capability differ from the recorded ones, since then the retrain
    could not equal a fresh training bit for bit. Running it again after a crash resumes; running it
    after it completed returns the same result.
    """
    from disgorge.unlearning.determinism import REPLAY_KEYS, deterministic
    from disgorge.unlearning.generation import Job, ShardWork, build_generation
    from disgorge.unlearning.spec import Recipe, SisaConfig

    if plan.id != plan.compute_id():
        raise InputError("the forget plan was altered after it was made (its id does not match its body)")
    art, manifest, sha = load_ensemble(catalog.store, plan.model)
    if sha != plan.manifest_sha256 or art.sha256 != plan.model_sha256:
        raise ConflictError(
            f"model {plan.model} changed since the plan was made", hint="plan the forget again"
        )
    if not plan.shards:
        return ForgetResult(plan, art.name or plan.model, art.sha256, sha, manifest)
    config = SisaConfig.from_json(manifest.config)
    with deterministic(config.threads) as env:
        pass
    diffs = {
        k: (manifest.environment.get(k), env.get(k))
        for k in REPLAY_KEYS
        if manifest.environment.get(k) != env.get(k)
    }
    if diffs and strict_environment:
        raise ConflictError(
            "this machine differs from the one that trained the ensemble: "
            + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diffs.items()),
            hint="retrain where it was trained, or accept a retrain that is exact but not bit-comparable",
        )
    erased = set(plan.erased)
    by_shard = {sh.shard: sh for sh in manifest.shards}
    work = []
    for s in plan.shards:
        sh = by_shard[s.shard]
        restart = None
        if s.restart_from is not None:
            restart = (Path(s.restart_from["path"]), str(s.restart_from["sha256"]))
            _check_file(*restart)
        layout = [[m for m in sl.members if m not in erased] for sl in sh.slices]
        work.append(ShardWork(s.shard, sh.seed, s.first_slice, restart, layout))
    ds = catalog.store.get_dataset(manifest.dataset["ref"])
    job = Job(
        manifest.name,
        plan.generation,
        manifest.dataset,
        ds.id,
        ds.name,
        manifest.use,
        manifest.party,
        config,
        Recipe.from_json(manifest.recipe),
        Path(manifest.workdir),
        work,
        plan.id,
    )
    history = {
        "generation": plan.generation,
        "plan": plan.id,
        "replaced": plan.model,
        "erased_members": len(plan.erased),
        "shards": [s.shard for s in plan.shards],
        "first_slice": {str(s.shard): s.first_slice for s in plan.shards},
    }
    name, new, new_sha = build_generation(
        catalog,
        job,
        previous=manifest,
        previous_sha=sha,
        history=history,
        environment={**manifest.environment, **env},
        progress=progress or (lambda _: None),
    )
    agg = catalog.store.resolve_artifact(name, kind="model")
    return ForgetResult(plan, name, agg.sha256, new_sha, new)

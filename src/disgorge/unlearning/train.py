"""Training one shard slice by slice, resumable from its last checkpoint on disk.

Every byte trained on is read through :func:`disgorge.integrations.torch.read_verified` (a file
swapped after registration is refused). A slice's checkpoint is written atomically after the slice,
with its training time in a sidecar written first, so a run killed at any instant resumes from the
last complete slice and never trains one twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import select

from disgorge.catalog import CatalogStore
from disgorge.catalog.schema import Asset, Copy
from disgorge.enforcement.export import local_path
from disgorge.errors import NotFoundError, VerificationFailed
from disgorge.integrations.torch import read_verified
from disgorge.unlearning.determinism import seed_all
from disgorge.unlearning.serialize import (
    capture_state,
    read_checkpoint,
    restore_state,
    weight_hash,
    write_atomic,
)
from disgorge.unlearning.spec import Recipe, SisaConfig

Example = tuple[torch.Tensor, torch.Tensor]


def load_examples(store: CatalogStore, recipe: Recipe, asset_ids: Iterable[int]) -> dict[int, Example]:
    """asset id -> (x, y) through the recipe's features, every file verified against its sha256."""
    ids = sorted(set(asset_ids))
    features = recipe.features.resolve()
    out: dict[int, Example] = {}
    with store.session() as s:
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            paths: dict[int, list[str]] = {}
            q = select(Copy.asset_id, Copy.uri).where(Copy.asset_id.in_(chunk), Copy.state == "present")
            for aid, uri in s.execute(q.order_by(Copy.uri)):
                if (p := local_path(uri)) is not None:
                    paths.setdefault(aid, []).append(str(p))
            rows = s.execute(select(Asset.id, Asset.sha256, Asset.meta).where(Asset.id.in_(chunk))).all()
            if len(rows) != len(chunk):
                missing = sorted(set(chunk) - {r[0] for r in rows})
                raise NotFoundError(
                    f"{len(missing)} members to train on are no longer in the catalog (asset ids {missing[:5]})",
                    hint="plan the retrain before the catalog forgets the erased assets",
                )
            for aid, sha, meta in rows:
                local = [p for p in paths.get(aid, []) if Path(p).is_file()]
                if not local:
                    raise NotFoundError(f"asset {sha[:12]}… has no local copy to train on")
                x, y = features(read_verified(sha, local[0]), dict(meta or {}), **recipe.features.args)
                out[aid] = (x, y)
    return out


@dataclass(frozen=True, slots=True)
class SliceJob:
    slice: int
    members: list[int]
    """The union of slices 0..slice, in training order."""
    path: Path


@dataclass(frozen=True, slots=True)
class SliceDone:
    slice: int
    path: Path
    sha256: str
    weights_sha256: str
    seconds: float
    resumed: bool
    """Found complete on disk from an earlier, interrupted attempt rather than trained now."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _done(job: SliceJob, blob: bytes, info: dict[str, Any], resumed: bool) -> SliceDone:
    side = _sidecar(job.path)
    seconds = float(json.loads(side.read_text())["seconds"]) if side.exists() else 0.0
    return SliceDone(
        job.slice, job.path, hashlib.sha256(blob).hexdigest(), info["weights_sha256"], seconds, resumed
    )


def train_slices(
    recipe: Recipe,
    config: SisaConfig,
    seed: int,
    examples: dict[int, Example],
    jobs: list[SliceJob],
    *,
    shard: int,
    start: tuple[Path, str] | None = None,
    on_done: Callable[[SliceDone], None] = lambda d: None,
) -> torch.nn.Module:
    """Train ``jobs`` in order from ``start`` (a checkpoint path and the sha256 it must have) or from
    the shard's seed; a job whose checkpoint is already on disk is taken as done. Call inside
    :func:`~disgorge.unlearning.determinism.deterministic`. Returns the final model."""
    shuffle = seed_all(seed)
    model: torch.nn.Module = recipe.model()
    optimizer: torch.optim.Optimizer = recipe.optimizer(model.parameters())
    step = recipe.step.resolve()
    resume_at = max((k for k, j in enumerate(jobs) if j.path.exists()), default=-1)
    if resume_at >= 0:
        for job in jobs[:resume_at]:
            blob = job.path.read_bytes()
            on_done(_done(job, blob, read_checkpoint(blob, str(job.path))[1], True))
        job = jobs[resume_at]
        blob = job.path.read_bytes()
        tensors, info = read_checkpoint(blob, str(job.path))
        restore_state(tensors, info, model, optimizer, shuffle)
        on_done(_done(job, blob, info, True))
    elif start is not None:
        path, sha = start
        blob = path.read_bytes() if path.is_file() else b""
        if hashlib.sha256(blob).hexdigest() != sha:
            raise VerificationFailed(
                f"restart checkpoint {path} is missing or no longer matches its recorded sha256 {sha[:12]}…",
                hint="retrain the shard from scratch (plan without the checkpoint) or restore the file",
            )
        tensors, info = read_checkpoint(blob, str(path))
        restore_state(tensors, info, model, optimizer, shuffle)
    model.train()
    for job in jobs[resume_at + 1 :]:
        xs = torch.stack([examples[m][0] for m in job.members]) if job.members else torch.empty(0)
        ys = torch.stack([examples[m][1] for m in job.members]) if job.members else torch.empty(0)
        n = len(job.members)
        t0 = time.perf_counter()
        for _ in range(config.epochs if n else 0):
            order = torch.randperm(n, generator=shuffle)
            for i in range(0, n, config.batch_size):
                idx = order[i : i + config.batch_size]
                step(model, optimizer, xs[idx], ys[idx], recipe.task, **recipe.step.args)
        seconds = time.perf_counter() - t0
        info = {"shard": shard, "slice": job.slice, "members": n}
        blob = capture_state(model, optimizer, shuffle, info)
        write_atomic(_sidecar(job.path), json.dumps({"seconds": seconds}).encode(), durable=False)
        write_atomic(job.path, blob)
        digest = hashlib.sha256(blob).hexdigest()
        on_done(SliceDone(job.slice, job.path, digest, weight_hash(model), seconds, False))
    model.eval()
    return model

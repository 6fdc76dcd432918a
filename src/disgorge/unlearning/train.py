"""Training one shard slice by slice, resumable from its last checkpoint on disk.

Every byte trained on is read through :func:`disgorge.integrations.torch.read_verified` (a file
swapped after registration is refused). A slice's checkpoint is written atomically (temporary file,
rename) after the slice, with its training time in a sidecar written first, so a run killed at any
instant resumes from the last complete slice and never trains one twice. Checkpoints are not fsynced
here: the generation syncs all its files at once before registering them; a checkpoint that a power
loss tore before that is found unreadable on resume and trained again.
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
from disgorge.errors import InputError, NotFoundError, VerificationFailed
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


def load_examples(store: CatalogStore, recipe: Recipe, asset_ids: Iterable[int]) -> dict[int, list[Example]]:
    """asset id -> its examples through the recipe's features, every file verified against its sha256.
    A features function returns one ``(x, y)``, or a list of them (views of one member, e.g. shifted
    copies: each is an example, and all of them go with the member)."""
    ids = sorted(set(asset_ids))
    features = recipe.features.resolve()
    out: dict[int, list[Example]] = {}
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
                value = features(read_verified(sha, local[0]), dict(meta or {}), **recipe.features.args)
                out[aid] = list(value) if isinstance(value, list) else [value]
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
    examples: dict[int, list[Example]],
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
    resume_at, last = -1, None
    for k, job in enumerate(jobs):
        try:
            blob = job.path.read_bytes()
            last = read_checkpoint(blob, str(job.path))
        except (FileNotFoundError, InputError):
            break  # not written yet, or torn by a power loss before it was synced: trained (again)
        resume_at = k
        on_done(_done(job, blob, last[1], True))
    if last is not None and resume_at >= 0:
        restore_state(*last, model, optimizer, shuffle)
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
        pairs = [e for m in job.members for e in examples[m]]
        xs = torch.stack([x for x, _ in pairs]) if pairs else torch.empty(0)
        ys = torch.stack([y for _, y in pairs]) if pairs else torch.empty(0)
        n = len(pairs)
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
        write_atomic(job.path, blob, durable=False)  # synced with the generation's files, before registration
        digest = hashlib.sha256(blob).hexdigest()
        on_done(SliceDone(job.slice, job.path, digest, weight_hash(model), seconds, False))
    model.eval()
    return model

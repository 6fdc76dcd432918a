"""Built-in, importable factories for :class:`~disgorge.unlearning.spec.Recipe`: a small MLP, SGD and
Adam, image pixels as features, and the supervised step. Your own go in any importable module."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from disgorge.errors import InputError


def mlp(inputs: int, classes: int, hidden: Sequence[int] = (64,)) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    width = inputs
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, classes))
    return torch.nn.Sequential(*layers)


def sgd(
    params: Iterable[torch.nn.Parameter], lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam(
    params: Iterable[torch.nn.Parameter], lr: float = 0.001, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def image_pixels(
    data: bytes,
    meta: dict[str, Any],
    *,
    size: Sequence[int] = (8, 8),
    mode: str = "L",
    label: str = "label",
    task: str = "classification",
) -> tuple[torch.Tensor, torch.Tensor]:
    """An image's pixels in [0, 1], flattened, and the asset's metadata ``label`` as the target."""
    with Image.open(io.BytesIO(data)) as raw:
        im = raw.convert(mode)
    if im.size != tuple(size):
        im = im.resize((int(size[0]), int(size[1])), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32).reshape(-1) / 255.0)
    if label not in meta:
        raise InputError(
            f"asset has no metadata {label!r} to learn", hint="ingest with a manifest column for it"
        )
    try:
        y = torch.tensor(int(meta[label]) if task == "classification" else float(meta[label]))
    except (TypeError, ValueError) as exc:
        raise InputError(f"metadata {label!r} = {meta[label]!r} is not a {task} target") from exc
    return x, y


def supervised_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, task: str
) -> None:
    optimizer.zero_grad(set_to_none=True)
    out = model(x)
    if task == "classification":
        loss = torch.nn.functional.cross_entropy(out, y)
    else:
        loss = torch.nn.functional.mse_loss(out.reshape(y.shape), y.to(out.dtype))
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()

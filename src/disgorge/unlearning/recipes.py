"""Built-in, importable factories for :class:`~disgorge.unlearning.spec.Recipe`: a small MLP and CNN,
SGD and Adam, image pixels (optionally with shifted copies) as features, and the supervised step. Your
own go in any importable module."""

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


def cnn(
    size: Sequence[int] = (8, 8),
    classes: int = 10,
    channels: Sequence[int] = (16,),
    hidden: int = 64,
    in_channels: int = 1,
) -> torch.nn.Module:
    """A small convolutional network over flattened images (as :func:`image_pixels` gives them):
    3x3 convolutions, one 2x2 max-pool, a hidden layer. Its shared filters need fewer examples than an
    MLP to learn strokes anywhere in the image, which matters when each shard sees few."""
    width, height = int(size[0]), int(size[1])
    layers: list[torch.nn.Module] = [torch.nn.Unflatten(1, (in_channels, height, width))]
    c = in_channels
    for ch in channels:
        layers += [torch.nn.Conv2d(c, ch, 3, padding=1), torch.nn.ReLU()]
        c = ch
    layers += [
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(c * (height // 2) * (width // 2), hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, classes),
    ]
    return torch.nn.Sequential(*layers)


def sgd(
    params: Iterable[torch.nn.Parameter], lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam(
    params: Iterable[torch.nn.Parameter], lr: float = 0.001, weight_decay: float = 0.0, fused: bool = False
) -> torch.optim.Optimizer:
    """``fused``: one kernel per step for all parameters (about twice as fast for small models on CPU;
    deterministic, but not bit-equal to the unfused update, so it is part of the recipe)."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def _pixels(data: bytes, size: Sequence[int], mode: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    """(height, width[, bands]) float32 pixels in [0, 1]."""
    with Image.open(io.BytesIO(data)) as raw:
        im = raw if raw.mode == mode else raw.convert(mode)
        if im.size != tuple(size):
            im = im.resize((int(size[0]), int(size[1])), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0


def _target(meta: dict[str, Any], label: str, task: str) -> torch.Tensor:
    if label not in meta:
        raise InputError(
            f"asset has no metadata {label!r} to learn", hint="ingest with a manifest column for it"
        )
    try:
        return torch.tensor(int(meta[label]) if task == "classification" else float(meta[label]))
    except (TypeError, ValueError) as exc:
        raise InputError(f"metadata {label!r} = {meta[label]!r} is not a {task} target") from exc


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
    y = _target(meta, label, task)
    return torch.from_numpy(_pixels(data, size, mode).reshape(-1)), y


SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted_pixels(
    data: bytes,
    meta: dict[str, Any],
    *,
    size: Sequence[int] = (8, 8),
    mode: str = "L",
    label: str = "label",
    task: str = "classification",
    shifts: Sequence[Sequence[int]] = SHIFTS,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`image_pixels` and copies moved by ``shifts`` (dx, dy) pixels, the vacated edge black:
    several training examples from one member, computed while training (nothing derived is stored),
    and gone with the member when it is forgotten. Default: the image and its four 1-pixel shifts."""
    y = _target(meta, label, task)
    image = _pixels(data, size, mode)
    height, width = image.shape[:2]
    out = np.zeros((len(shifts), *image.shape), dtype=np.float32)
    for k, (dx, dy) in enumerate(shifts):
        dx, dy = int(dx), int(dy)
        if abs(dx) >= width or abs(dy) >= height:
            raise InputError(f"shift ({dx}, {dy}) moves a {width}x{height} image out of view")
        out[k, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
            max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
        ]
    flat = torch.from_numpy(out.reshape(len(shifts), -1))
    return [(flat[k], y) for k in range(len(shifts))]


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

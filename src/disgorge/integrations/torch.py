"""PyTorch datasets over a catalog dataset that enforce before reading and verify while reading.

Constructing one checks the dataset for the run's use and party (PolicyDenied before any byte is
read) and records it as the run's input; every file is re-hashed as it is read, so a file swapped on
disk after registration is refused, never trained on. Needs the ``disgorge[torch]`` extra.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from disgorge.api import RunContext
from disgorge.client import RemoteRun
from disgorge.errors import VerificationFailed
from disgorge.integrations.members import readable_members

Transform = Callable[[Image.Image], Any]


def to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB image as a float tensor (C, H, W) in [0, 1]."""
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def read_verified(sha256: str, path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise VerificationFailed(
            f"{path}: bytes differ from the registered asset {sha256[:12]}…; refusing to train on them",
            hint="re-ingest the file if the change is legitimate, then create a new dataset version",
        )
    return data


class CatalogDataset(Dataset[Any]):
    """Map-style dataset: ``ds[i]`` is the i-th member image (transformed), verified by sha256."""

    def __init__(
        self, run: RunContext | RemoteRun, dataset: str, *, transform: Transform | None = None
    ) -> None:
        self.items = readable_members(run, dataset)
        self.transform = transform or to_tensor

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        sha, path = self.items[index]
        with Image.open(io.BytesIO(read_verified(sha, path))) as im:
            return self.transform(im.convert("RGB"))


class CatalogIterableDataset(IterableDataset[Any]):
    """Streaming variant; DataLoader workers take disjoint shares of the members."""

    def __init__(
        self, run: RunContext | RemoteRun, dataset: str, *, transform: Transform | None = None
    ) -> None:
        self.items = readable_members(run, dataset)
        self.transform = transform or to_tensor

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        share = self.items if info is None else self.items[info.id :: info.num_workers]
        for sha, path in share:
            with Image.open(io.BytesIO(read_verified(sha, path))) as im:
                yield self.transform(im.convert("RGB"))

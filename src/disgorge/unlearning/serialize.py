"""Canonical bytes for weights and checkpoints, so equal state gives equal sha256.

``torch.save`` archives embed a per-call ``serialization_id`` and pickle framing, so two saves of the
same weights need not hash alike, and loading one runs pickle. Here tensors are laid out in the
safetensors format (8-byte little-endian header length, a JSON header with sorted keys giving dtype,
shape and byte offsets, then the raw little-endian bytes in key order), written with no randomness; a
shard model's file sha256 *is* its weight hash. Checkpoints add the optimizer's and every RNG's state,
the non-tensor parts as JSON in the header's ``__metadata__``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgorge.errors import InputError

_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_BY_NAME = {v: k for k, v in _DTYPES.items()}
CHECKPOINT_FORMAT = "disgorge-sisa-checkpoint/1"


def _raw(t: torch.Tensor) -> bytes:
    if t.dtype not in _DTYPES:
        raise InputError(
            f"tensor dtype {t.dtype} cannot be serialised", hint=f"use one of {sorted(_BY_NAME)}"
        )
    flat = t.detach().cpu().contiguous().reshape(-1)
    return bytes(flat.view(torch.uint8).numpy().tobytes()) if flat.numel() else b""


def dump_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors byte form of ``tensors``: sorted names, no padding randomness, stable header."""
    header: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        data = _raw(t)
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def load_tensors(blob: bytes, origin: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Parse :func:`dump_tensors` output; anything malformed is an InputError naming ``origin``."""
    try:
        (size,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + size])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        body = memoryview(blob)[8 + size :]
        meta = header.pop("__metadata__", {})
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("__metadata__ is not an object of strings")
        ends = [int(spec["data_offsets"][1]) for spec in header.values()]
        if max(ends, default=0) != len(body):
            raise ValueError(
                f"the tensors need {max(ends, default=0)} bytes after the header, found {len(body)}"
            )
        out: dict[str, torch.Tensor] = {}
        for name, spec in header.items():
            lo, hi = spec["data_offsets"]
            dtype = _BY_NAME[spec["dtype"]]
            raw = bytearray(body[lo:hi])
            flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
            out[name] = flat.view(dtype).reshape(spec["shape"]).clone()
    except (
        struct.error,
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise InputError(
            f"{origin} is not a readable tensor file ({exc})", hint="it may be truncated or not one of ours"
        ) from exc
    return out, meta


def weights_bytes(model: torch.nn.Module) -> bytes:
    return dump_tensors(dict(model.state_dict()))


def weight_hash(model_or_state: torch.nn.Module | dict[str, torch.Tensor]) -> str:
    """sha256 over the canonical serialisation of a state dict (sorted keys, dtype, shape, raw bytes)."""
    state = model_or_state.state_dict() if isinstance(model_or_state, torch.nn.Module) else model_or_state
    return hashlib.sha256(dump_tensors(dict(state))).hexdigest()


def _split(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able form of optimizer state: tensors moved to ``tensors`` by path, tuples tagged."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value
        return {"__tensor__": path}
    if isinstance(value, dict):
        return {"__dict__": [[_key(k), _split(v, f"{path}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_split(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_split(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InputError(f"optimizer state {path} holds a {type(value).__name__}, which cannot be checkpointed")


def _key(k: Any) -> Any:
    return k if isinstance(k, int | str) else str(k)


def _join(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__dict__" in value:
            return {k: _join(v, tensors) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(_join(v, tensors) for v in value["__tuple__"])
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    return value


def capture_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, shuffle: torch.Generator, info: dict[str, Any]
) -> bytes:
    """A checkpoint: weights, optimizer state, the torch CPU, shuffle, Python and numpy RNG states."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = _split(optimizer.state_dict(), "optim", tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle.get_state()
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "optimizer": opt,
        "python_random": [py_version, list(py_state), py_gauss],
        "numpy_random": [np_name, [int(k) for k in np_keys], int(np_pos), int(np_has_gauss), float(np_gauss)],
        "weights_sha256": weight_hash(model),
        **info,
    }
    return dump_tensors(tensors, {"disgorge": json.dumps(meta, sort_keys=True, separators=(",", ":"))})


def read_checkpoint(blob: bytes, origin: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, meta = load_tensors(blob, origin)
    try:
        info = json.loads(meta["disgorge"])
        if not isinstance(info, dict) or info.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("no checkpoint format tag")
    except (KeyError, ValueError) as exc:
        raise InputError(f"{origin} is not a Disgorge SISA checkpoint ({exc})") from exc
    return tensors, info


def restore_state(
    tensors: dict[str, torch.Tensor],
    info: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
) -> None:
    """Put a checkpoint back: weights, optimizer, then every RNG last (building objects draws from them)."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_join(info["optimizer"], tensors))
    shuffle.set_state(tensors["rng.shuffle"])
    torch.set_rng_state(tensors["rng.torch"])
    version, state, gauss = info["python_random"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = info["numpy_random"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def sync_paths(paths: Iterable[Path]) -> None:
    """Make files durable that were written with ``durable=False``: fsync each and each parent
    directory (their renames), all at once from a few threads, since the file system commits fsyncs
    that arrive together in one journal transaction (about a quarter of the time of one after another)."""
    files = list(dict.fromkeys(paths))
    targets = files + list(dict.fromkeys(p.parent for p in files))
    if not targets:
        return

    def sync(p: Path) -> None:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        list(pool.map(sync, targets))


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write through a temporary file and rename: a reader (or a resumed run) sees all or nothing.
    ``durable`` adds the fsyncs that keep it across a power loss (a killed process needs none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if not durable:
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Hugging Face ``datasets`` behind the catalog's gate (extra ``disgorge[hf]``).

:func:`load` gives a registered dataset version as a ``datasets.Dataset`` after checking it for the run's
use and party; :func:`wrap` takes a ``datasets.Dataset`` built any other way (``Dataset.from_dict``,
``load_dataset("imagefolder", ...)``), hashes the bytes of every image without decoding one, records them
as an exact dataset version of registered assets, and refuses, before the first example is read, content
the policy does not allow or that is not registered at all (unknown provenance) unless told otherwise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import datasets
from sqlalchemy import select

from disgorge.api import RunContext
from disgorge.catalog.schema import Asset
from disgorge.client import RemoteRun
from disgorge.errors import InputError, PolicyDenied
from disgorge.integrations.members import readable_members


def load(run: RunContext | RemoteRun, ref: str) -> datasets.Dataset:
    """A dataset version's images (paths resolved from the catalog's copies) and their sha256, checked
    for the run's use and party first and recorded as the run's input."""
    items = readable_members(run, ref)
    images, shas = [path for _, path in items], [sha for sha, _ in items]
    return datasets.Dataset.from_dict({"image": images, "sha256": shas}).cast_column(
        "image", datasets.Image()
    )


def _content(ds: datasets.Dataset, column: str) -> list[str]:
    if column not in ds.column_names:
        raise InputError(
            f"dataset has no {column!r} column (columns: {', '.join(ds.column_names)})", hint="pass column="
        )
    raw = ds.cast_column(column, datasets.Image(decode=False))
    out = []
    for item in raw[column]:
        data: Any = item.get("bytes") if isinstance(item, dict) else None
        if data is None:
            path = item.get("path") if isinstance(item, dict) else item
            data = Path(str(path)).read_bytes()
        out.append(hashlib.sha256(data).hexdigest())
    return out


def wrap(
    run: RunContext,
    ds: datasets.Dataset,
    *,
    column: str = "image",
    name: str | None = None,
    allow_unknown: bool = False,
) -> datasets.Dataset:
    """``ds`` unchanged, once its exact content is checked and recorded (see the module doc)."""
    shas = _content(ds, column)
    store = run.catalog.store
    found: dict[str, int] = {}
    with store.session() as s:
        unique = sorted(set(shas))
        for i in range(0, len(unique), 900):
            q = select(Asset.sha256, Asset.id).where(Asset.sha256.in_(unique[i : i + 900]))
            found.update((str(h), int(a)) for h, a in s.execute(q))
    unknown = sorted(set(shas) - set(found))
    if unknown and not allow_unknown:
        raise PolicyDenied(
            f"{len(unknown)} of {len(shas)} examples of this Hugging Face dataset are not registered (unknown "
            f"provenance, e.g. sha256 {unknown[0][:12]}…); refused before any example was read",
            hint="ingest the files with their source first (disgorge ingest), or pass allow_unknown=True",
        )
    if found:
        from pyroaring import BitMap

        label = name or f"hf-{ds._fingerprint[:16]}"
        info, _ = store.create_dataset(
            label, BitMap(found.values()), query=f"Hugging Face dataset {ds._fingerprint}"
        )
        run.use_dataset(info.ref)
    return ds

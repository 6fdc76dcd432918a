"""Resolving a producer's dataset names to what the catalog holds.

In order: a manifest digest (the ``disgorge`` input facet) names a dataset version exactly; the
``disgorge`` namespace names one by ``NAME@V``; a URI equal to a registered model's or artifact's copy
names that artifact; a URI equal to a registered copy, or a prefix of registered copies (a folder, an S3
prefix), names those assets, wrapped as a dataset version so the purpose check and the closure treat them
like any other; a URI another captured run wrote names that run. Anything else is unknown provenance.
"""

from __future__ import annotations

import hashlib

from pyroaring import BitMap
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Copy
from disgorge.model.capture import CapturedDataset

Resolution = tuple[str, int, str] | tuple[None, None, str]
"""(node kind, node id, how) or (None, None, why it is unknown)."""
WRAPPED = ("copy", "storage_prefix")
"""The ``how`` of an input bound to a dataset version that wraps registered copies at or under its URI."""


def wrap_name(uri: str) -> str:
    """The dataset that stands for the registered copies at or under ``uri``."""
    name = "captured:" + uri.replace("@", "%40")
    if len(name) > 200:
        name = name[:150] + "~" + hashlib.sha256(uri.encode()).hexdigest()[:24]
    return name


def copies_at_or_under(s: Session, uris: list[str]) -> tuple[dict[str, BitMap], dict[str, BitMap]]:
    """Per URI, the assets with a present copy exactly there, and those under it taken as a folder
    (``photos/al`` is not under ``photos/alice``): one statement per 400 URIs for both. On SQLite (byte
    order) index range scans; PostgreSQL compares by the database's collation, so there a LIKE with the
    prefix escaped."""
    exact: dict[str, BitMap] = {}
    under: dict[str, BitMap] = {}
    sqlite = s.get_bind().dialect.name == "sqlite"
    for i in range(0, len(uris), 400):
        part = uris[i : i + 400]
        bases = {u.rstrip("/") + "/": u for u in part}
        ranges: list[ColumnElement[bool]]
        if sqlite:
            ranges = [(Copy.uri >= b) & (Copy.uri < b[:-1] + chr(ord("/") + 1)) for b in bases]
        else:
            ranges = [Copy.uri.startswith(b, autoescape=True) for b in bases]
        here = set(part)
        q = select(Copy.uri, Copy.asset_id).where(or_(Copy.uri.in_(part), *ranges), Copy.state == "present")
        for uri, asset in s.execute(q):
            if uri in here:
                exact.setdefault(str(uri), BitMap()).add(int(asset))
            for cut in _ancestors(str(uri)):
                if cut in bases:
                    under.setdefault(bases[cut], BitMap()).add(int(asset))
    return exact, under


def _ancestors(uri: str) -> list[str]:
    """``s3://b/x/y.jpg`` -> ``s3://b/x/``, ``s3://b/``, ..."""
    out = []
    cut = uri.rfind("/")
    while cut > 0:
        out.append(uri[: cut + 1])
        cut = uri.rfind("/", 0, cut)
    return out


def unknown_reason(ds: CapturedDataset) -> str:
    return f"{ds.uri}: no registered copy, prefix, dataset version or captured run output"

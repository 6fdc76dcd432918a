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
from sqlalchemy import select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import ArtifactCopy, CapturedIO, Copy, Dataset
from disgorge.model.capture import CapturedDataset

Resolution = tuple[str, int, str] | tuple[None, None, str]
"""(node kind, node id, how) or (None, None, why it is unknown)."""


def wrap_name(uri: str) -> str:
    """The dataset that stands for the registered copies at or under ``uri``."""
    name = "captured:" + uri.replace("@", "%40")
    if len(name) > 200:
        name = name[:150] + "~" + hashlib.sha256(uri.encode()).hexdigest()[:24]
    return name


def _like_prefix(uri: str) -> str:
    base = uri.rstrip("/") + "/"
    return base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_direct(s: Session, ds: CapturedDataset) -> Resolution | None:
    """Resolutions that need no new dataset version; None to try copies and prefixes next."""
    if ds.digest is not None:
        found = s.scalar(select(Dataset.id).where(Dataset.digest == ds.digest).order_by(Dataset.id).limit(1))
        if found is None:
            return None, None, f"manifest digest {ds.digest[:16]}… is not a registered dataset version"
        return "dataset", int(found), "manifest_digest"
    if ds.dataset_ref is not None:
        name, _, version = ds.dataset_ref.partition("@")
        q = select(Dataset.id).where(Dataset.name == name)
        q = q.where(Dataset.version == int(version)) if version.isdigit() else q.order_by(Dataset.version.desc())
        found = s.scalar(q.limit(1))
        if found is None:
            return None, None, f"dataset {ds.dataset_ref} is not in the catalog"
        return "dataset", int(found), "dataset_version"
    art = s.scalar(select(ArtifactCopy.artifact_id).where(ArtifactCopy.uri == ds.uri).limit(1))
    if art is not None:
        return "artifact", int(art), "artifact_copy"
    return None


def copy_members(s: Session, uri: str) -> tuple[BitMap, str]:
    """Assets with a present copy at ``uri`` (``copy``) or under it (``storage_prefix``)."""
    exact = s.scalars(select(Copy.asset_id).where(Copy.uri == uri, Copy.state == "present")).all()
    if exact:
        return BitMap(int(a) for a in exact), "copy"
    under = s.scalars(
        select(Copy.asset_id).where(Copy.uri.like(_like_prefix(uri), escape="\\"), Copy.state == "present")
    ).all()
    return BitMap(int(a) for a in under), "storage_prefix"


def written_by(s: Session, uri: str, run_id: int) -> list[int]:
    """Captured runs (other than ``run_id``) that reported writing ``uri``."""
    rows = s.scalars(
        select(CapturedIO.run_id).where(
            CapturedIO.direction == "output", CapturedIO.uri == uri, CapturedIO.run_id != run_id
        )
    ).all()
    return sorted({int(r) for r in rows})


def unknown_reason(ds: CapturedDataset) -> str:
    return f"{ds.uri}: no registered copy, prefix, dataset version or captured run output"

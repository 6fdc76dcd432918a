"""Helpers for REST tests: records hashed as an ingest worker hashes them, statements signed by the
client with the person's own key, and assertions on the JSON error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from disgorge.ingest.pipeline import hash_one
from disgorge.model import AssetRecord
from disgorge.trust import Identity, sign
from tests.conftest import write_photo


def record(path: Path, subject: str | None, *, dihedral: bool = False) -> dict[str, Any]:
    """The JSON of one record as a remote ingest worker would send it."""
    r = hash_one((str(path), subject, (), {}), dihedral=dihedral)
    assert isinstance(r, AssetRecord), r
    return {
        "sha256": r.sha256,
        "size": r.size,
        "media_type": r.media_type,
        "uri": path.absolute().as_uri(),
        "subject": r.subject,
        "pdq": r.pdq.hex() if r.pdq else None,
        "pdq_quality": r.pdq_quality,
        "width": r.width,
        "height": r.height,
        "crops": [{"pdq": p.hex(), "quality": q} for p, q in r.crops],
        "forms": [f.hex() for f in r.forms],
        "mtime_ns": path.stat().st_mtime_ns,
        "inode": path.stat().st_ino,
    }


def photos(root: Path, subject: str, n: int, seed: int) -> list[Path]:
    return [write_photo(root / subject / f"p{k}.jpg", subject, seed + k) for k in range(n)]


def signed(identity: Identity, template: dict[str, Any], **override: Any) -> dict[str, Any]:
    """Sign a statement template the server returned (what a client does with its person's key)."""
    t = {**template, **override}
    return sign(identity, t["kind"], catalog=t["catalog"], about=t["about"], body=t["body"]).to_json()


def refused(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"].startswith("disgorge."), body
    for w in words:
        assert w in body["message"], (w, body["message"])
    return body

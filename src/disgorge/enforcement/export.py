"""Sharing is a use too: an export copies only after the check allows every member, and verifies
each file's sha256 while copying so a file swapped on disk is never sent."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import CatalogStore
from disgorge.catalog.schema import Asset, Copy
from disgorge.errors import InputError

CHUNK = 1 << 20


@dataclass(slots=True)
class ExportResult:
    dest: Path
    files: int = 0
    bytes: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)


def local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def copy_verified(src: Path, dst: Path, sha256: str) -> int:
    """Copy src to dst through a temporary file, hashing as it goes; refuse and remove on mismatch."""
    tmp = dst.with_name(dst.name + ".part")
    h = hashlib.sha256()
    size = 0
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fin, tmp.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    if h.hexdigest() != sha256:
        tmp.unlink()
        raise InputError(f"{src}: content changed since it was registered (sha256 {h.hexdigest()[:12]}…)")
    tmp.replace(dst)
    return size


def member_copies(store: CatalogStore, members: BitMap) -> list[tuple[str, str, list[str]]]:
    """(sha256, media type, URIs of its present copies, sorted) of each member, in asset order."""
    ids = list(members)
    items: list[tuple[str, str, list[str]]] = []
    with store.session() as s:
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            uris: dict[int, list[str]] = {}
            for aid, uri in s.execute(
                select(Copy.asset_id, Copy.uri)
                .where(Copy.asset_id.in_(chunk), Copy.state == "present")
                .order_by(Copy.uri)
            ):
                uris.setdefault(aid, []).append(uri)
            for aid, sha, media in s.execute(
                select(Asset.id, Asset.sha256, Asset.media_type).where(Asset.id.in_(chunk)).order_by(Asset.id)
            ):
                items.append((sha, media, uris.get(aid, [])))
    return items


def export_members(store: CatalogStore, members: BitMap, dest: Path) -> ExportResult:
    """Write each member once, named by its sha256, with a manifest of what was sent."""
    return write_members(member_copies(store, members), dest)


def write_members(rows: Iterable[tuple[str, str, Sequence[str]]], dest: Path) -> ExportResult:
    """Each (sha256, media type, copies) from the first copy this machine opens whose bytes match."""
    dest.mkdir(parents=True, exist_ok=True)
    result = ExportResult(dest)
    lines = []
    for sha, media, uris in rows:
        ext = mimetypes.guess_extension(media) or ""
        target = dest / f"{sha}{ext}"
        last_error = "no local copy"
        for uri in uris:
            path = local_path(uri)
            if path is None:
                continue
            try:
                result.bytes += copy_verified(path, target, sha)
                result.files += 1
                lines.append(f"{sha}  {target.name}")
                break
            except (OSError, InputError) as exc:
                last_error = str(exc)
        else:
            result.refused.append({"sha256": sha, "reason": last_error})
    (dest / "MANIFEST.sha256").write_text("".join(f"{ln}\n" for ln in sorted(lines)))
    return result

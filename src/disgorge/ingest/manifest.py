"""Ingest manifests: CSV with a header, or JSON Lines. Columns ``path`` (required), ``subject_id``,
``categories`` (``;``-separated in CSV, a list in JSONL); every other column becomes metadata."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgorge.errors import InputError

RESERVED = ("path", "subject_id", "categories")


@dataclass(frozen=True, slots=True)
class ManifestRow:
    line: int
    path: Path
    subject: str | None
    categories: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def _row(line: int, data: dict[str, Any], base: Path, origin: Path) -> ManifestRow:
    raw_path = data.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise InputError(f"{origin}:{line}: the row has no 'path'", hint="every row needs the file's path")
    cats = data.get("categories") or ()
    if isinstance(cats, str):
        cats = [c.strip() for c in cats.split(";") if c.strip()]
    if not isinstance(cats, list | tuple) or not all(isinstance(c, str) for c in cats):
        raise InputError(f"{origin}:{line}: 'categories' must be a list of taxonomy keys")
    subject = data.get("subject_id")
    subject = str(subject).strip() if subject not in (None, "") else None
    meta = {k: v for k, v in data.items() if k not in RESERVED and v not in (None, "")}
    p = Path(raw_path)
    return ManifestRow(line, p if p.is_absolute() else base / p, subject, tuple(cats), meta)


def read_manifest(path: Path, base: Path | None = None) -> list[ManifestRow]:
    """Parse a whole manifest first, so a malformed one is rejected before anything is registered.

    Relative paths are resolved against ``base`` (default: the manifest's folder).
    """
    base = base if base is not None else path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path}: cannot read it ({exc})") from exc
    rows: list[ManifestRow] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})",
                    hint="each line must be one JSON object; nothing was registered",
                ) from exc
            if not isinstance(data, dict):
                raise InputError(f"{path}:{n}: expected a JSON object, got {type(data).__name__}")
            rows.append(_row(n, data, base, path))
        return rows
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise InputError(
            f"manifest {path}: the CSV header has no 'path' column (header: {reader.fieldnames})",
            hint="start the file with a header such as: path,subject_id,categories,age",
        )
    for n, data in enumerate(reader, 2):
        if None in data:
            raise InputError(f"{path}:{n}: the row has more fields than the header")
        rows.append(_row(n, dict(data), base, path))
    return rows

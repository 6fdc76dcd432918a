"""Ingest manifests: CSV with a header, or JSON Lines. Columns ``path`` (required), ``subject_id``,
``categories`` (``;``-separated in CSV, a list in JSONL); every other column becomes metadata.

A manifest is read whole and validated before anything is registered: a malformed line, an unknown
data category (fideslang key), or one path listed twice is an :class:`~disgorge.errors.InputError`
naming the line(s). A UTF-8 byte order mark (Excel writes one) is accepted.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgorge.errors import InputError
from disgorge.policy.taxonomy import default_taxonomy

RESERVED = ("path", "subject_id", "categories")


@dataclass(frozen=True, slots=True)
class ManifestRow:
    line: int
    path: Path
    subject: str | None
    categories: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def _row(line: int, data: dict[str, Any], base: Path, origin: Path) -> ManifestRow:
    where = f"{origin}:{line}"
    raw_path = data.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise InputError(f"{where}: the row has no 'path'", hint="every row needs the file's path")
    if "\0" in raw_path:
        raise InputError(f"{where}: the path holds a NUL character")
    cats = data.get("categories") or ()
    if isinstance(cats, str):
        cats = [c.strip() for c in cats.split(";") if c.strip()]
    if not isinstance(cats, list | tuple) or not all(isinstance(c, str) for c in cats):
        raise InputError(f"{where}: 'categories' must be a list of taxonomy keys")
    default_taxonomy().check("category", cats, where)
    subject = data.get("subject_id")
    if isinstance(subject, dict | list):
        raise InputError(f"{where}: 'subject_id' must be a string or a number, got {type(subject).__name__}")
    subject = str(subject).strip() if subject is not None else ""
    meta = {k: v for k, v in data.items() if k not in RESERVED and v not in (None, "")}
    p = Path(raw_path)
    return ManifestRow(line, p if p.is_absolute() else base / p, subject or None, tuple(cats), meta)


def read_manifest(path: Path, base: Path | None = None) -> list[ManifestRow]:
    """Parse a whole manifest first, so a malformed one is rejected before anything is registered.

    Relative paths are resolved against ``base`` (default: the manifest's folder).
    """
    base = base if base is not None else path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path}: cannot read it ({exc})") from exc
    rows: list[ManifestRow] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                detail = (
                    f"{exc.msg} at column {exc.colno}"
                    if isinstance(exc, json.JSONDecodeError)
                    else "nested too deeply"
                )
                raise InputError(
                    f"{path}:{n}: not valid JSON ({detail})",
                    hint="each line must be one JSON object; nothing was registered",
                ) from exc
            if not isinstance(data, dict):
                raise InputError(f"{path}:{n}: expected a JSON object, got {type(data).__name__}")
            rows.append(_row(n, data, base, path))
    else:
        rows = _read_csv(text, base, path)
    _no_duplicate_paths(rows, path)
    return rows


def _read_csv(text: str, base: Path, path: Path) -> list[ManifestRow]:
    try:
        reader = csv.DictReader(text.splitlines())
        fields = reader.fieldnames
    except csv.Error as exc:
        raise InputError(f"manifest {path}: the CSV header cannot be read ({exc})") from exc
    if not fields or "path" not in fields:
        raise InputError(
            f"manifest {path}: the CSV header has no 'path' column (header: {fields})",
            hint="start the file with a header such as: path,subject_id,categories,age",
        )
    if len(set(fields)) != len(fields):
        dup = sorted({f for f in fields if fields.count(f) > 1})
        raise InputError(f"manifest {path}: the CSV header names {dup} twice")
    rows = []
    try:
        for data in reader:
            n = reader.line_num
            if None in data:
                raise InputError(f"{path}:{n}: the row has more fields than the header")
            rows.append(_row(n, dict(data), base, path))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from exc
    return rows


def _no_duplicate_paths(rows: list[ManifestRow], origin: Path) -> None:
    first: dict[Path, int] = {}
    for r in rows:
        if r.path in first:
            raise InputError(
                f"{origin}: lines {first[r.path]} and {r.line} both list {r.path}",
                hint="list each file once, with its one subject; nothing was registered",
            )
        first[r.path] = r.line

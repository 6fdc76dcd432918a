"""Reading a consent-management system's export (CSV or JSON Lines), strictly.

Columns: ``subject_id,use,recipient,action,timestamp,notice_version``. Every line is validated before
anything is imported: an unknown use, a bad timestamp (ISO 8601 with a timezone), an unknown action, a
duplicate line or a missing field rejects the whole file with the line named.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from disgorge.catalog import ConsentLine
from disgorge.errors import InputError
from disgorge.policy import default_taxonomy

FIELDS = ("subject_id", "use", "recipient", "action", "timestamp", "notice_version")


def _line(n: int, raw: dict[str, Any], origin: str) -> ConsentLine:
    where = f"{origin}:{n}"
    missing = [f for f in FIELDS[:5] if raw.get(f) in (None, "")]
    if missing:
        raise InputError(
            f"{where}: missing {', '.join(missing)}", hint=f"every line needs {', '.join(FIELDS[:5])}"
        )
    action = str(raw["action"]).strip()
    if action not in ("granted", "withdrawn"):
        raise InputError(f"{where}: action {action!r} is neither 'granted' nor 'withdrawn'")
    use = str(raw["use"]).strip()
    default_taxonomy().check("use", [use], where)
    text = str(raw["timestamp"]).strip()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"{where}: timestamp {text!r} is not ISO 8601", hint="e.g. 2024-05-01T12:00:00Z"
        ) from exc
    if at.tzinfo is None:
        raise InputError(
            f"{where}: timestamp {text!r} has no timezone", hint="add Z or an offset such as +02:00"
        )
    nv_raw = raw.get("notice_version")
    try:
        notice_version = int(nv_raw) if nv_raw not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: notice_version {nv_raw!r} is not a whole number") from exc
    return ConsentLine(
        n, str(raw["subject_id"]).strip(), use, str(raw["recipient"]).strip(), action, at, notice_version
    )


def read_consent_file(path: Path) -> tuple[list[ConsentLine], str]:
    """Parse and validate the whole file; returns its lines and the sha256 of its bytes."""
    origin = str(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"consent file {origin}: cannot read it ({exc})") from exc
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{origin}:{n}: not valid JSON ({exc.msg}); nothing was imported") from exc
            if not isinstance(obj, dict):
                raise InputError(f"{origin}:{n}: expected a JSON object")
            rows.append((n, obj))
    else:
        reader = csv.DictReader(text.splitlines())
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise InputError(
                f"{origin}: CSV header is {','.join(reader.fieldnames or [])!r}",
                hint=f"the header must be exactly {','.join(FIELDS)}",
            )
        for n, raw in enumerate(reader, 2):
            if None in raw:
                raise InputError(f"{origin}:{n}: more fields than the header")
            rows.append((n, dict(raw)))
    lines = [_line(n, raw, origin) for n, raw in rows]
    seen: dict[tuple[object, ...], int] = {}
    for ln in lines:
        key = (ln.subject, ln.use, ln.recipient, ln.action, ln.at)
        if key in seen:
            raise InputError(f"{origin}:{ln.line}: duplicates line {seen[key]}; nothing was imported")
        seen[key] = ln.line
    return lines, hashlib.sha256(data).hexdigest()

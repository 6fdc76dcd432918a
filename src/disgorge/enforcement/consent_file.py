"""Reading a consent-management system's export (CSV or JSON Lines), strictly.

Columns: ``subject_id,use,recipient,action,timestamp,notice_version``. Every line is validated before
anything is imported: an unknown use, a bad timestamp (ISO 8601 with a timezone) or one in the future,
an unknown action, a duplicate line or a missing field rejects the whole file with the line named. A
UTF-8 byte order mark (Excel writes one) is accepted. Whether a notice version exists for the subject's
sources is checked against the catalog when the file is imported (``CatalogStore.import_consent``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from disgorge.catalog import ConsentLine
from disgorge.errors import InputError
from disgorge.policy import default_taxonomy

FIELDS = ("subject_id", "use", "recipient", "action", "timestamp", "notice_version")
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of this machine's clock an event may be dated (the exporter's clock may run ahead)."""
SHOW_LINES = 10


def _line(n: int, raw: dict[str, Any], origin: str) -> ConsentLine:
    where = f"{origin}:{n}"
    missing = [f for f in FIELDS[:5] if raw.get(f) in (None, "")]
    if missing:
        raise InputError(
            f"{where}: missing {', '.join(missing)}", hint=f"every line needs {', '.join(FIELDS[:5])}"
        )
    odd = [f for f in FIELDS if isinstance(raw.get(f), dict | list | bool | float)]
    if odd:
        raise InputError(f"{where}: {', '.join(odd)} must be text (or a whole number for notice_version)")
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
    if notice_version is not None and notice_version < 1:
        raise InputError(f"{where}: notice_version {nv_raw!r} is not a version (they start at 1)")
    return ConsentLine(
        n, str(raw["subject_id"]).strip(), use, str(raw["recipient"]).strip(), action, at, notice_version
    )


def read_consent_file(path: Path, *, now: datetime | None = None) -> tuple[list[ConsentLine], str]:
    """Parse and validate the whole file; returns its lines and the sha256 of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"consent file {path}: cannot read it ({exc})") from exc
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    return parse_consent(data, str(path), jsonl=jsonl, now=now)


def parse_consent(
    data: bytes, origin: str, *, jsonl: bool = False, now: datetime | None = None
) -> tuple[list[ConsentLine], str]:
    """:func:`read_consent_file` for bytes received some other way (the server's request body)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"consent file {origin}: cannot read it ({exc})") from exc
    try:
        rows = _rows(jsonl, text, origin)
    except csv.Error as exc:
        raise InputError(f"{origin}: not valid CSV ({exc}); nothing was imported") from exc
    lines = [_line(n, raw, origin) for n, raw in rows]
    limit = (now or datetime.now(UTC)) + CLOCK_SKEW
    future = [ln.line for ln in lines if ln.at > limit]
    if future:
        shown = ", ".join(map(str, future[:SHOW_LINES])) + (" …" if len(future) > SHOW_LINES else "")
        raise InputError(
            f"{origin}: {len(future)} line(s) are dated in the future (lines {shown}); nothing was imported",
            hint="consent is recorded when it was given or withdrawn; check the export's timestamps and zone",
        )
    seen: dict[tuple[object, ...], int] = {}
    for ln in lines:
        key = (ln.subject, ln.use, ln.recipient, ln.action, ln.at)
        if key in seen:
            raise InputError(f"{origin}:{ln.line}: duplicates line {seen[key]}; nothing was imported")
        seen[key] = ln.line
    return lines, hashlib.sha256(data).hexdigest()


def _rows(jsonl: bool, text: str, origin: str) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    if jsonl:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                raise InputError(f"{origin}:{n}: not valid JSON ({msg}); nothing was imported") from exc
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
        for raw in reader:
            if None in raw:
                raise InputError(f"{origin}:{reader.line_num}: more fields than the header")
            rows.append((reader.line_num, dict(raw)))
    return rows

"""Auditing a ledger from its entries and signed checkpoints, and the strict JSON that ledger records use.

:func:`verify_log` is what ``disgorge ledger verify`` runs once the entries are read: it recomputes the
RFC 9162 tree from the entries and checks every C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint)
against it, so an edited, inserted, removed or reordered entry, a truncated log, a rolled-back or
forked checkpoint all fail, naming the first checkpoint and the range of entries that disagree. Because
every checkpoint is recomputed from the same entries, successive checkpoints that pass are consistent
(RFC 9162 §2.1.4) by construction; two checkpoints of one size with different roots are reported as a fork.

Entries and certificates are RFC 8785 canonical JSON: :func:`parse_strict_json` refuses duplicate keys
and numbers we never write, and :func:`require_canonical` refuses any other byte form of the same value,
so a byte cannot change without the value changing. Pure code, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn

import rfc8785

from disgorge.errors import DisgorgeError, InputError, VerificationFailed
from disgorge.ledger.merkle import leaf_hash
from disgorge.ledger.note import Checkpoint, NoteVerifier, verify_checkpoint
from disgorge.ledger.tree import CompactRange

__all__ = [
    "JsonReader",
    "audit_ledger",
    "canonical_bytes",
    "json_type",
    "parse_strict_json",
    "require_canonical",
    "verify_log",
]

_MAX_INT = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) represents exactly
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_HEX32 = re.compile(r"[0-9a-f]{64}")


def verify_log(
    entries: Sequence[bytes],
    checkpoints: Sequence[str],
    trusted_keys: Iterable[str | NoteVerifier],
    origin: str,
    *,
    canonical_entries: bool = True,
    allow_unsigned_tail: bool = False,
) -> None:
    """Check that ``entries`` (leaf order) are the log every checkpoint note (oldest first) signed.

    Raises VerificationFailed at the first bad checkpoint: its signature or origin, a size smaller than
    the one before, a second root for one size, more entries than the log holds, or a root the entries
    do not give. Entries must be canonical JSON unless ``canonical_entries`` is false, and every entry
    must be under a checkpoint unless ``allow_unsigned_tail`` (a live log appends between checkpoints).
    """
    if not checkpoints:
        raise VerificationFailed(
            "no checkpoint to check the log against", hint="sign one with `disgorge ledger checkpoint`"
        )
    trusted = list(trusted_keys)
    heads = []
    for i, note in enumerate(checkpoints):
        try:
            heads.append(verify_checkpoint(note, origin, trusted))
        except VerificationFailed as exc:
            raise VerificationFailed(f"checkpoint {i}: {exc.message}", hint=exc.hint) from exc
    for i in range(1, len(heads)):
        old, new = heads[i - 1], heads[i]
        if new.size < old.size:
            raise VerificationFailed(
                f"checkpoint {i} (size {new.size}) is smaller than checkpoint {i - 1} (size {old.size}): "
                "a log never shrinks, so it was rolled back or the checkpoints are out of order"
            )
        if new.size == old.size and new.root_hash != old.root_hash:
            raise VerificationFailed(
                f"checkpoints {i - 1} and {i} sign two different roots for size {new.size}: the log forked",
                hint="keep both notes: together they prove the log showed two histories",
            )
    if canonical_entries:
        for i, entry in enumerate(entries):
            require_canonical(entry, parse_strict_json(entry, f"entry {i}", VerificationFailed), f"entry {i}")
    tree, good = CompactRange(), 0
    for i, head in enumerate(heads):
        if head.size > len(entries):
            raise VerificationFailed(
                f"checkpoint {i} commits to {head.size} entries but the log holds {len(entries)}: "
                f"entries {len(entries)}..{head.size - 1} are missing (the log was truncated)"
            )
        tree.extend(leaf_hash(e) for e in entries[tree.size : head.size])
        if tree.root() != head.root_hash:
            raise VerificationFailed(
                f"checkpoint {i} (size {head.size}) does not match the log: entries 0..{head.size - 1} give "
                f"root {tree.root().hex()}, the checkpoint signs {head.root_hash.hex()}; an entry in "
                f"{good}..{head.size - 1} was edited, inserted, removed or reordered, or the log forked",
                hint=f"entries 0..{good - 1} match checkpoint {i - 1}" if good else None,
            )
        good = head.size
    if len(entries) > good and not allow_unsigned_tail:
        raise VerificationFailed(
            f"entries {good}..{len(entries) - 1} are not covered by any checkpoint",
            hint="sign a checkpoint first, or allow an unsigned tail",
        )


def audit_ledger(
    rows: Iterable[tuple[int, str, bytes]],
    checkpoints: Sequence[str],
    trusted_keys: Sequence[str],
    origin: str,
    earlier: str | None = None,
) -> dict[str, Any]:
    """``disgorge ledger verify``: the stored rows (index, entry, leaf hash) and checkpoint notes, however
    they were read (from the catalog, or page by page from a server that need not be trusted), checked
    by :func:`verify_log`, with a checkpoint kept elsewhere (``earlier``) put in its place by size."""
    entries: list[bytes] = []
    for seq, entry, leaf in rows:
        data = entry.encode()
        if leaf_hash(data) != leaf:
            raise VerificationFailed(f"ledger entry {seq}: its stored leaf hash does not match its content")
        entries.append(data)
    notes = list(checkpoints)
    if earlier is not None:
        earlier_size = verify_checkpoint(earlier, origin, trusted_keys).size
        sizes = [Checkpoint.parse(n.split("\n\n", 1)[0] + "\n").size for n in notes]
        notes.insert(sum(1 for x in sizes if x <= earlier_size), earlier)
    verify_log(entries, notes, trusted_keys, origin, allow_unsigned_tail=True)
    return {"origin": origin, "entries": len(entries), "checkpoints": len(notes), "ok": True}


def parse_strict_json(data: bytes, what: str, error: type[DisgorgeError] = InputError) -> Any:
    """Parse UTF-8 JSON, refusing duplicate object keys and non-integer numbers (we write neither)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_float
        )
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {exc}") from exc


def canonical_bytes(value: Any, what: str, error: type[DisgorgeError] = InputError) -> bytes:
    """The RFC 8785 form of ``value``; ``error`` if it has none (a float, a lone surrogate, a big int)."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise error(f"{what} cannot be canonicalized (RFC 8785): {exc}") from exc


def require_canonical(
    data: bytes,
    value: Any,
    what: str,
    error: type[DisgorgeError] = VerificationFailed,
    *,
    allow_newline: bool = False,
) -> None:
    """Raise ``error`` unless ``data`` is the canonical form of ``value`` (its parse), bar a final newline."""
    canonical = canonical_bytes(value, what, error)
    if data != canonical and not (allow_newline and data == canonical + b"\n"):
        at = next(
            (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b), len(canonical)
        )
        raise error(f"{what} is not in canonical form (RFC 8785): it departs from it at byte {at}")


class JsonReader:
    """Typed access to the members of a parsed JSON document; every complaint names the member's path.

    ``obj`` demands exactly the listed members: a format version admits nothing it does not define.
    """

    def __init__(self, error: type[DisgorgeError], what: str = "certificate") -> None:
        self.error, self.what = error, what

    def fail(self, path: str, problem: str) -> NoReturn:
        raise self.error(f"malformed {self.what}: {path} {problem}")

    def obj(self, value: Any, path: str, keys: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {json_type(value)}")
        if missing := [k for k in keys if k not in value]:
            self.fail(path, f"lacks {', '.join(missing)}")
        if extra := sorted(set(value) - set(keys)):
            self.fail(path, f"has unexpected member(s) {', '.join(map(str, extra))}")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
        return value

    def count(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
            self.fail(path, f"must be a non-negative integer, got {value!r}")
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"must be a list, got {json_type(value)}")
        return value

    def digest(self, value: Any, path: str) -> bytes:
        if not isinstance(value, str) or not _HEX32.fullmatch(value):
            self.fail(path, f"must be 64 lowercase hex digits, got {value!r}")
        return bytes.fromhex(value)

    def time(self, value: Any, path: str) -> datetime:
        if not isinstance(value, str) or not _TIME.fullmatch(value):
            self.fail(path, f"must be an RFC 3339 time with a UTC offset, got {value!r}")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(path, f"is not a valid time: {value!r}")


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_float(text: str) -> NoReturn:
    raise ValueError(f"non-integer number {text}")

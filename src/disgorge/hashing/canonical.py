"""RFC 8785 canonical JSON: the one byte form we hash, sign and content-address.

Most of what we serialise (ledger events, plan targets) is plain: ASCII strings, safe integers, no
floats. For such values RFC 8785's form is exactly what the standard library writes with sorted keys,
no spaces and ASCII escapes, several times faster than the pure-Python ``rfc8785`` encoder; everything
else (floats, large integers, non-ASCII text, whose key order or escapes differ) goes to ``rfc8785``.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_MAX_INT = 2**53 - 1
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def _plain(value: Any) -> bool:
    if value is None or value is True or value is False:
        return True
    if isinstance(value, str):
        return value.isascii() and "\x7f" not in value  # the stdlib escapes DEL, RFC 8785 does not
    if isinstance(value, int):
        return -_MAX_INT <= value <= _MAX_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    if _plain(value):
        return _encode(value).encode()
    return bytes(rfc8785.dumps(value))

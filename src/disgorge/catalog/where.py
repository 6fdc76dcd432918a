"""A small filter language for ``dataset create --from D --where EXPR``.

``EXPR`` is clauses joined by ``and``; a clause is ``FIELD OP VALUE`` with OP one of
``= != < <= > >=`` (``has`` for list fields). Fields: ``source``, ``category``, ``media_type``,
``width``, ``height``, ``size``, ``quality``, ``meta.KEY``. Values are compared as numbers when both
sides are numbers, else as text. Parsing is strict so a typo is an error, not an empty dataset.
"""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from disgorge.errors import InputError

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

FIELDS = ("source", "category", "media_type", "width", "height", "size", "quality")
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|<=|>=|=|<|>|\bhas\b)\s*(.+?)\s*$")


def _coerce(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return str(value)


def _compare(op: Callable[[Any, Any], bool], left: Any, right: str) -> bool:
    if left is None:
        return False
    a, b = _coerce(left), _coerce(right)
    if isinstance(a, float) != isinstance(b, float):
        a, b = str(left), right
    try:
        return bool(op(a, b))
    except TypeError:
        return False


def _clause(text: str, expr: str) -> Predicate:
    m = CLAUSE.match(text)
    if not m:
        raise InputError(
            f"--where {expr!r}: cannot read clause {text.strip()!r}",
            hint="write FIELD OP VALUE joined by 'and', e.g. \"meta.age >= 18 and category has user.content\"",
        )
    field, op_text, raw = m.groups()
    value = " ".join(shlex.split(raw)) if raw[:1] in "\"'" else raw
    if field == "category" or op_text == "has":
        if field != "category" or op_text not in ("has", "=", "=="):
            raise InputError(f"--where {expr!r}: use 'category has KEY' to test data categories")
        return lambda row: any(c == value or c.startswith(value + ".") for c in row["categories"])
    op = OPS[op_text]
    if field.startswith("meta."):
        key = field[5:]
        return lambda row: _compare(op, (row["meta"] or {}).get(key), value)
    if field not in FIELDS:
        raise InputError(
            f"--where {expr!r}: unknown field {field!r}",
            hint=f"fields: {', '.join(FIELDS)}, meta.KEY",
        )
    return lambda row: _compare(op, row[field], value)


def compile_where(expr: str) -> Predicate:
    """Compile EXPR into a predicate over member rows (mappings with the FIELDS, categories and meta)."""
    parts = re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE)
    if not expr.strip():
        raise InputError("--where is empty", hint="leave it out to copy every member")
    preds = [_clause(p, expr) for p in parts]
    return lambda row: all(p(row) for p in preds)

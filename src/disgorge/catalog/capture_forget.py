"""After an erasure, captured lineage forgets the erased paths too.

An OpenLineage event or an MLflow input names what a job read as its producer named it: a photo's path,
or a folder per person (``/photos/jane.doe@example.com``). The erasure deletes the copies and redacts its
own targets' paths; the captured rows, the raw events and the ``captured:URI`` datasets would still
name the person. Each captured URI that is an erased copy, or a folder holding erased copies and no
registered copy any more, becomes a keyed hash in all three places. A folder that still holds other
people's copies (``/photos``) names nobody and is kept, so their lineage still reads as it did.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from disgorge.catalog.capture_apply import chunks
from disgorge.catalog.capture_resolve import _ancestors, copies_at_or_under, wrap_name
from disgorge.catalog.schema import CapturedIO, Dataset, LineageEvent, Run


def forget_captured_paths(s: Session, erased: Sequence[str], keyed: Callable[[str], str]) -> int:
    """Rewrite the captured URIs that name erased data (see the module doc); returns how many."""
    plain = [u for u in erased if not u.startswith("keyed:")]
    if not plain:
        return 0
    exact = set(plain)
    folders = {f for u in plain for a in _ancestors(u) for f in (a, a.rstrip("/"))}  # named either way
    # one read of the captured names (far fewer than an erasure's copies at full size), not one IN per
    # 900 of the erased paths and their folders
    held = s.scalars(select(CapturedIO.uri).distinct().where(~CapturedIO.uri.startswith("keyed:")))
    named = {str(u) for u in held} & (exact | folders)
    if not named:
        return 0
    folder_uris = sorted(named - exact)
    _, still = copies_at_or_under(s, folder_uris)
    forget = sorted((named & exact) | {u for u in folder_uris if u not in still})
    if not forget:
        return 0
    new = {u: "keyed:" + keyed(u) for u in forget}
    rows: list[Any] = []
    for part in chunks(forget):
        rows += s.execute(
            select(CapturedIO.id, CapturedIO.uri, CapturedIO.namespace, CapturedIO.name, Run.uid)
            .join(Run, Run.id == CapturedIO.run_id)
            .where(CapturedIO.uri.in_(part))
        ).all()
    names: dict[tuple[str, str], str] = {}
    for io_id, uri, namespace, name, _ in rows:
        names[(str(namespace), str(name))] = new[str(uri)]
        s.execute(
            update(CapturedIO)
            .where(CapturedIO.id == io_id)
            .values(uri=new[str(uri)], name=new[str(uri)], reason=None)
        )
    for uri, to in new.items():
        s.execute(
            update(Dataset)
            .where(Dataset.name == wrap_name(uri))
            .values(name=wrap_name(to), query=f"registered copies at {to}")
        )
    _forget_in_events(s, sorted({str(r[4]) for r in rows}), names)
    return len(forget)


def _forget_in_events(s: Session, uids: list[str], names: dict[tuple[str, str], str]) -> None:
    """Each raw event of those runs with the names replaced, wherever the producer put them (see
    :func:`_scrub`), and its digest recomputed (it is the digest of the canonical body)."""
    by_name = {name: to for (_, name), to in names.items()}
    longest = max(map(len, by_name), default=0)
    for part in chunks(uids):
        for event_id, body in s.execute(
            select(LineageEvent.id, LineageEvent.body).where(LineageEvent.run_uid.in_(part))
        ):
            doc = json.loads(body)
            _rename(doc, names)
            text = _canonical(_scrub(doc, by_name, longest))
            if text == body:  # bodies are stored in this canonical form: nothing named, nothing changed
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            s.execute(
                update(LineageEvent).where(LineageEvent.id == event_id).values(body=text, digest=digest)
            )


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _rename(doc: dict[str, Any], names: dict[tuple[str, str], str]) -> None:
    for side in ("inputs", "outputs"):
        for ds in doc.get(side) or []:
            if not isinstance(ds, dict):
                continue
            to = names.get((str(ds.get("namespace")), str(ds.get("name"))))
            if to is not None:
                ds["name"] = to


def _scrub(value: Any, by_name: dict[str, str], longest: int) -> Any:
    """The document with every mention of an erased name replaced, in facets and keys too (a
    symlink, a data source's URI, a SQL text, a file under an erased folder): the event stays as
    evidence of the run, and its producer may name the person anywhere in it."""
    if isinstance(value, str):
        return _mentions_replaced(value, by_name, longest)
    if isinstance(value, list):
        return [_scrub(v, by_name, longest) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, by_name, longest): _scrub(v, by_name, longest) for k, v in value.items()}
    return value


_IN_NAME = frozenset("_.@%+~-")


def _mentions_replaced(text: str, by_name: dict[str, str], longest: int) -> str:
    """``text`` with each erased name in it replaced, longest first, where it stands as a whole name:
    ``/photos/jane`` in ``file:///photos/jane/1.jpg`` but not in ``/photos/jane2``. A mention starts
    and ends at a separator (anything but a letter, digit or one of ``_.@%+~-``), so only separator
    positions are tried: a set look-up each, however many names an erasure forgets."""
    seps = [i for i, c in enumerate(text) if not (c.isalnum() or c in _IN_NAME)]
    if not seps and text not in by_name:
        return text
    ends = [*seps, len(text)]
    out: list[str] = []
    pos = 0
    for a in (0, *(i + 1 for i in seps)):
        if a < pos:
            continue
        for b in reversed(ends[bisect_right(ends, a) : bisect_right(ends, a + longest)]):
            to = by_name.get(text[a:b])
            if to is not None:
                out += (text[pos:a], to)
                pos = b
                break
    return "".join(out) + text[pos:] if out else text

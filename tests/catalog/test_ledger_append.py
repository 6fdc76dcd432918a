"""Ledger appends from many threads of two stores at once (two processes on one catalog): every entry
gets its own index, the indexes are contiguous, and each leaf is its entry's hash."""

from __future__ import annotations

import json
import threading

from sqlalchemy import text

import disgorge
from disgorge.ledger.merkle import leaf_hash
from tests.conftest import as_


def test_appends_at_once_get_contiguous_indexes_in_order(cat: disgorge.Catalog) -> None:
    with cat.store.engine.connect() as c:
        before = int(c.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one())
    per_thread, threads = 40, []
    got: list[list[int]] = []
    with as_(cat, "bea") as other:

        def append(store: object, k: int) -> None:
            mine = []
            for n in range(per_thread):
                with store.session() as s:  # type: ignore[attr-defined]
                    events = [("probe", {"thread": k, "n": n, "part": p}) for p in range(1 + n % 2)]
                    mine.extend(store._log_many(s, events))  # type: ignore[attr-defined]
            got.append(mine)

        for k in range(6):
            threads.append(threading.Thread(target=append, args=(cat.store if k % 2 else other.store, k)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with cat.store.engine.connect() as c:
        rows = c.execute(text("SELECT seq, entry, leaf FROM ledger_entries ORDER BY seq")).all()
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    assert all(bytes(r[2]) == leaf_hash(r[1].encode()) for r in rows)
    probes = [json.loads(r[1]) for r in rows[before:] if json.loads(r[1])["kind"] == "probe"]
    assert len(probes) == sum(1 + n % 2 for n in range(per_thread)) * 6
    indexes = sorted(i for mine in got for i in mine)
    assert indexes == sorted(set(indexes)) and len(indexes) == len(probes)
    for mine in got:  # a thread's appends come in the order it made them
        assert mine == sorted(mine)


def test_the_newest_index_of_each_kind_is_kept_by_the_catalog_whoever_appends(cat: disgorge.Catalog) -> None:
    """The caches' stamps read ``ledger_kind_tops`` (a trigger keeps it), not the whole ledger: after
    appends of several kinds from two stores at once, and a raw insert no store made, each row is the
    ledger's own ``max(seq)`` of its kind."""
    with as_(cat, "bea") as other:

        def append(store: object, k: int) -> None:
            for n in range(30):
                with store.session() as s:  # type: ignore[attr-defined]
                    store._log_many(s, [(f"probe{(k + p) % 3}", {"k": k, "n": n}) for p in range(1 + n % 3)])  # type: ignore[attr-defined]

        threads = [
            threading.Thread(target=append, args=(cat.store if k % 2 else other.store, k)) for k in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with cat.store.engine.begin() as c:
        top = int(c.execute(text("SELECT max(seq) FROM ledger_entries")).scalar_one())
        c.execute(
            text("INSERT INTO ledger_entries (seq, kind, entry, leaf) VALUES (:s, 'raw', '{}', :l)"),
            {"s": top + 1, "l": b"\0" * 32},
        )
    with cat.store.engine.connect() as c:
        kept = dict(c.execute(text("SELECT kind, seq FROM ledger_kind_tops")).all())
        truth = dict(c.execute(text("SELECT kind, max(seq) FROM ledger_entries GROUP BY kind")).all())
    assert kept == truth and kept["raw"] == top + 1 and {"probe0", "probe1", "probe2"} <= kept.keys()

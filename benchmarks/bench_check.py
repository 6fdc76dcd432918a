"""Purpose check of a 3M-member dataset (issue 3): set algebra vs a per-asset Python evaluation.

Builds a catalog of N assets from three sources (a dating site under a contract notice with sensitive
categories, a partner whose notice permits training, a consent-based research set with grants and 5%
withdrawals), one dataset of every asset, then times ``check_members`` against evaluating the same
policy asset by asset in Python, in the same run, and checks that both allow exactly the same assets.

    python benchmarks/bench_check.py                 # 3,000,000 assets, SQLite
    python benchmarks/bench_check.py --quick         # 200,000 assets
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pyroaring import BitMap

import disgorge
from disgorge.catalog.members import member_columns
from disgorge.enforcement import check_datasets, check_members
from disgorge.policy import Provenance, Request, consent_state, decide

SOURCES = {
    "datingsite": (
        ["essential.service"],
        ["datingsite"],
        "contract",
        ["user.content.self_image", "user.demographic.race_ethnicity"],
    ),
    "partner": (["essential.service", "train_ai_system"], ["acme"], "contract", ["user.content.self_image"]),
    "research": (["train_ai_system"], ["acme"], "consent", ["user.content.self_image"]),
}


def build(home: Path, n_assets: int, n_subjects: int, seed: int) -> disgorge.Catalog:
    cat = disgorge.open(home)
    notice_of: dict[str, int] = {}
    for name, (uses, recipients, basis, cats) in SOURCES.items():
        info, _ = cat.add_source(
            name, notice=name.encode(), uses=uses, recipients=recipients, categories=cats, legal_basis=basis
        )
        notice_of[name] = info.notice_id
    source_id = {s.name: s.id for s in cat.store.list_sources()}
    rng = random.Random(seed)
    db = sqlite3.connect(home / "catalog.db")
    db.execute("PRAGMA synchronous=NORMAL")
    now = datetime.now(UTC).isoformat(sep=" ")
    db.executemany(
        "INSERT INTO subjects (id, pseudonym) VALUES (?, ?)",
        ((i, f"{i:064x}") for i in range(1, n_subjects + 1)),
    )
    names = list(SOURCES)
    weights = [0.6, 0.3, 0.1]
    batch = []
    for i in range(1, n_assets + 1):
        src = rng.choices(names, weights)[0]
        subject = rng.randint(1, n_subjects)
        if src == "research":
            subject = 1 + subject % max(1, n_subjects // 10)  # research subjects: the first 10%
        batch.append(
            (
                i,
                f"{i:064x}",
                1000,
                "image/jpeg",
                source_id[src],
                notice_of[src],
                subject,
                json.dumps(SOURCES[src][3]),
                "{}",
                "active",
                now,
            )
        )
        if len(batch) == 100_000:
            db.executemany(
                "INSERT INTO assets (id, sha256, size, media_type, source_id, notice_id, subject_id, "
                "categories, meta, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                batch,
            )
            batch.clear()
    if batch:
        db.executemany(
            "INSERT INTO assets (id, sha256, size, media_type, source_id, notice_id, subject_id, "
            "categories, meta, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            batch,
        )
    db.execute(
        "INSERT INTO consent_imports (id, file_sha256, rows, created_at) VALUES (1, 'bench', 0, ?)", (now,)
    )
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    events = []
    for sid in range(1, max(1, n_subjects // 10) + 1):
        events.append((sid, "train_ai_system", "acme", "granted", t0.isoformat(sep=" "), 1, 1))
        if rng.random() < 0.05:
            events.append(
                (
                    sid,
                    "train_ai_system",
                    "acme",
                    "withdrawn",
                    (t0 + timedelta(days=30)).isoformat(sep=" "),
                    1,
                    1,
                )
            )
    db.executemany(
        "INSERT INTO consent_events (subject_id, use, recipient, action, at, notice_version, import_id) "
        "VALUES (?,?,?,?,?,?,?)",
        events,
    )
    db.commit()
    db.close()
    return cat


def per_asset(cat: disgorge.Catalog, members: BitMap, use: str, recipient: str, at: datetime) -> set[int]:
    """The baseline: the same policy evaluated asset by asset, without classes or vectorisation."""
    notices = cat.store.provenance_by_notice()
    events = cat.store.consent_events(at)
    with cat.store.session() as s:
        ids, notice_ids, subject_ids, cats = member_columns(s, members)
    allowed = set()
    req = Request(use, recipient)
    for aid, nid, sid, ctext in zip(
        ids.tolist(), notice_ids.tolist(), subject_ids.tolist(), cats, strict=True
    ):
        base = notices[nid][0]
        prov = Provenance(
            base.source,
            base.notice_version,
            base.notice_uses,
            base.notice_recipients,
            base.legal_basis,
            tuple(json.loads(ctext)),
        )
        state = consent_state(events.get(sid, []), use, recipient, at) if sid >= 0 else None
        if decide(prov, sid >= 0, state, req, cat.policy).allowed:
            allowed.add(aid)
    return allowed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=3_000_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="200,000 assets")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    n = 200_000 if args.quick else args.assets
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cat = build(Path(tmp) / "home", n, args.subjects, args.seed)
        members = BitMap(range(1, n + 1))
        ds, _ = cat.store.create_dataset("everything", members)
        print(f"setup: {n:,} assets, dataset {ds.ref} in {time.perf_counter() - t:.1f}s")
        at = datetime(2026, 1, 1, tzinfo=UTC)
        rows = []
        for use, recipient in (("train_ai_system", "acme"), ("third_party_sharing", "FaceVision")):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                report = check_datasets(
                    cat.store, [ds], use=use, recipient=recipient, policy=cat.policy, at=at
                )
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            scanned = check_members(
                cat.store, members, use=use, recipient=recipient, policy=cat.policy, at=at
            )
            scan_s = time.perf_counter() - t
            assert scanned.allowed == report.allowed, "class bitmaps and row scan disagree"
            t = time.perf_counter()
            slow = per_asset(cat, members, use, recipient, at)
            slow_s = time.perf_counter() - t
            assert set(report.allowed) == slow, "set algebra and per-asset evaluation disagree"
            rows.append(
                (
                    use,
                    recipient,
                    len(report.allowed),
                    len(report.denied),
                    times[0],
                    min(times),
                    scan_s,
                    slow_s,
                )
            )
        cat.close()
    print(
        "\n| request | allowed | denied | dataset check (first) | (best of 3) | any-set check (row scan) "
        "| per-asset Python | ratio (per-asset / best) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for use, recipient, ok, bad, first, best, scan_s, slow_s in rows:
        print(
            f"| {use} by {recipient} | {ok:,} | {bad:,} | {first:.2f} s | {best:.3f} s | {scan_s:.2f} s | "
            f"{slow_s:.2f} s | {slow_s / best:.0f}x |"
        )


if __name__ == "__main__":
    main()

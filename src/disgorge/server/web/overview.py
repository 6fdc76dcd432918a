"""The overview: sources and notices, assets and subjects per source, consent coverage, recent runs and
decisions, erasures by status and deadline, and the ledger's latest checkpoint."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from disgorge.api import Catalog
from disgorge.catalog.schema import Asset, ConsentEvent, Decision, ErasurePlan, LedgerEntry, Run, Subject
from disgorge.ledger.cosignature import split_note
from disgorge.server.web.session import catalog_for, require
from disgorge.server.web.views import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
_cache: dict[str, tuple[int, dict[str, Any]]] = {}
_lock = threading.Lock()


def ledger_head(cat: Catalog) -> int:
    """The ledger's last sequence number: every change to the catalog appends an entry, so aggregates
    computed at one head stay true until the next."""
    with cat.store.session() as s:
        return int(s.scalar(select(func.max(LedgerEntry.seq))) or -1)


def aggregates(cat: Catalog) -> dict[str, Any]:
    """Counts that scan the assets and consent tables, kept until the ledger grows."""
    head = ledger_head(cat)
    key = cat.store.url
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == head:
        return hit[1]
    with cat.store.session() as s:
        per_source = {
            sid: (int(n), int(subj), int(n) - int(known))
            for sid, n, subj, known in s.execute(
                select(
                    Asset.source_id,
                    func.count(),
                    func.count(func.distinct(Asset.subject_id)),
                    func.count(Asset.subject_id),
                ).group_by(Asset.source_id)
            )
        }
        latest = (
            select(ConsentEvent.subject_id, func.max(ConsentEvent.id).label("last"))
            .group_by(ConsentEvent.subject_id)
            .subquery()
        )
        consent = dict(
            s.execute(
                select(ConsentEvent.action, func.count())
                .join(latest, ConsentEvent.id == latest.c.last)
                .group_by(ConsentEvent.action)
            ).all()
        )
        subjects = int(s.scalar(select(func.count()).select_from(Subject)) or 0)
    granted = int(consent.get("grant", 0) + consent.get("granted", 0))
    withdrawn = int(consent.get("withdraw", 0) + consent.get("withdrawn", 0))
    doc = {
        "per_source": per_source,
        "consent": {
            "granted": granted,
            "withdrawn": withdrawn,
            "notice_only": max(subjects - granted - withdrawn, 0),
        },
    }
    with _lock:
        _cache[key] = (head, doc)
    return doc


def coverage_chart(consent: dict[str, int]) -> dict[str, Any]:
    """A stacked bar as SVG geometry; the numbers are also in the page's table, for screen readers."""
    total = sum(consent.values()) or 1
    colours = {"granted": "#1a7f37", "withdrawn": "#b3261e", "notice_only": "#6e7781"}
    x, bars = 0.0, []
    for name, value in consent.items():
        w = 300 * value / total
        bars.append({"name": name.replace("_", "-"), "x": x, "w": w, "value": value, "fill": colours[name]})
        x += w
    return {"bars": bars, "total": sum(consent.values())}


def _checkpoint(cat: Catalog) -> dict[str, Any] | None:
    cps = cat.store.checkpoints()
    if not cps:
        return None
    size, root, note = cps[-1]
    return {"size": size, "root": root, "signers": signers(note)}


def signers(note: str) -> list[str]:
    """The names on a signed note's signature lines: the log's own first, then its witnesses'."""
    _, lines = split_note(note)
    return [line.removeprefix("\u2014 ").split(" ", 1)[0] for line in lines]


@router.get("/")
def overview(request: Request) -> Response:
    require(request, "read")
    cat = catalog_for(request)
    agg = aggregates(cat)
    sources = [
        {
            "info": src,
            "assets": agg["per_source"].get(src.id, (0, 0))[0],
            "subjects": agg["per_source"].get(src.id, (0, 0))[1],
        }
        for src in cat.sources()
    ]
    now = datetime.now(UTC).date().isoformat()
    with cat.store.session() as s:
        runs = s.execute(
            select(Run.uid, Run.name, Run.use, Run.party, Run.status, Run.started_at)
            .order_by(Run.id.desc())
            .limit(8)
        ).all()
        decisions = s.execute(
            select(Decision.kind, Decision.use, Decision.recipient, Decision.at, Decision.allowed)
            .add_columns(Decision.denied, Decision.by_reason)
            .order_by(Decision.id.desc())
            .limit(8)
        ).all()
        by_status = dict(
            s.execute(select(ErasurePlan.status, func.count()).group_by(ErasurePlan.status)).all()
        )
        open_plans = s.execute(
            select(ErasurePlan.id, ErasurePlan.status, ErasurePlan.deadline, ErasurePlan.scope)
            .where(ErasurePlan.status != "done")
            .order_by(ErasurePlan.deadline.is_(None), ErasurePlan.deadline, ErasurePlan.created_at)
            .limit(10)
        ).all()
    return render(
        request,
        "overview.html",
        sources=sources,
        chart=coverage_chart(agg["consent"]),
        consent=agg["consent"],
        runs=runs,
        decisions=decisions,
        by_status=by_status,
        open_plans=open_plans,
        today=now,
        checkpoint=_checkpoint(cat),
    )

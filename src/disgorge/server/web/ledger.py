"""The ledger and audit page: checkpoints and their witnesses, an entry's inclusion proof, and who did
what and when (the ledger's entries, newest first, filterable by person and kind)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from disgorge.catalog.schema import LedgerCheckpoint, LedgerEntry
from disgorge.errors import UsageError
from disgorge.server.web.overview import signers
from disgorge.server.web.session import catalog_for, require
from disgorge.server.web.views import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PAGE = 50


def _about(entry: dict[str, Any]) -> str:
    """A short line naming what an entry is about, without copying its body (which may be long)."""
    st = entry.get("statement") if isinstance(entry.get("statement"), dict) else None
    if st:
        return f"{st.get('kind')} about {str(st.get('about', ''))[:16]} by {st.get('principal')}"
    for key in ("plan_id", "plan", "name", "dataset", "source", "run", "model", "key"):
        if key in entry and isinstance(entry[key], str | int):
            return f"{key} {str(entry[key])[:40]}"
    return ""


@router.get("/ledger")
def ledger(
    request: Request, by: str = "", kind: str = "", before: int | None = None, entry: str = ""
) -> Response:
    require(request, "read")
    cat = catalog_for(request)
    with cat.store.session() as s:
        cps = s.execute(
            select(
                LedgerCheckpoint.size,
                LedgerCheckpoint.root,
                LedgerCheckpoint.note,
                LedgerCheckpoint.created_at,
            )
            .order_by(LedgerCheckpoint.id.desc())
            .limit(10)
        ).all()
        size = int(s.scalar(select(func.max(LedgerEntry.seq))) or -1) + 1
        q = select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.entry).order_by(LedgerEntry.seq.desc())
        if kind:
            q = q.where(LedgerEntry.kind == kind)
        if by:
            q = q.where(LedgerEntry.entry.contains(json.dumps(by)[1:-1]))
        if before is not None:
            q = q.where(LedgerEntry.seq < before)
        rows = s.execute(q.limit(PAGE * 4 if by else PAGE)).all()
        kinds = sorted(s.scalars(select(LedgerEntry.kind).distinct()))
    entries = []
    for seq, k, text in rows:
        doc = json.loads(text)
        if by and doc.get("by") != by:
            continue
        entries.append(
            {"seq": seq, "kind": k, "by": doc.get("by"), "at": doc.get("at"), "about": _about(doc)}
        )
        if len(entries) == PAGE:
            break
    checkpoints = [
        {"size": n, "root": root, "signers": signers(note), "at": at, "note": note}
        for n, root, note, at in cps
    ]
    proof = None
    if entry.strip():
        if not entry.strip().isdigit():
            raise UsageError(f"entry {entry!r} is not a number", hint=f"give 0 to {size - 1}")
        proof = cat.proofs.prove(int(entry))
    older = entries[-1]["seq"] if len(entries) == PAGE else None
    return render(
        request,
        "ledger.html",
        checkpoints=checkpoints,
        entries=entries,
        size=size,
        kinds=kinds,
        kind=kind,
        by=by,
        entry=entry,
        proof=proof,
        older=older,
    )

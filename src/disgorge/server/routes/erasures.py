"""Erasure plans as their people drive them: draft a plan, sign its request, approve it, resolve a
target, read it, and fetch its certificate. Every step that is a statement is signed by the client
with the person's own key; the server verifies and records it, and signs nothing for anyone.

Execution and verification scans are long work: they run as jobs (``routes/jobs.py``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from disgorge.catalog.erasure import PlanInfo
from disgorge.errors import UsageError
from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, page
from disgorge.server.routes.statements import SignedIn, TemplateOut
from disgorge.trust import parse
from disgorge.witness.client import configured_cosigner

router = APIRouter(prefix=API, tags=["erasure"])


class PlanIn(BaseModel):
    """An erasure order: one scope (or ``withdrawn``), or ``supplement`` of an earlier plan."""

    scope: Literal["subject", "source", "dataset", "asset"] | None = None
    value: str | None = Field(None, min_length=1, max_length=500)
    withdrawn: bool = False
    supplement: str | None = Field(None, min_length=4, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)
    legal_basis: str = Field(min_length=1, max_length=500)
    deadline: str | None = Field(None, max_length=40)
    retrain: list[str] = Field(
        [], max_length=100, description="Affected SISA ensembles to retrain exactly instead of destroying."
    )


class PlanOut(BaseModel):
    plan_id: str
    status: str
    scope: dict[str, Any]
    reason: str
    legal_basis: str
    deadline: str | None
    counts: dict[str, Any]


class DraftOut(BaseModel):
    plan: PlanOut
    created: bool
    to_sign: TemplateOut = Field(description="The erasure.request its requester signs and POSTs back.")


class PlanShow(BaseModel):
    """``disgorge erase show --json``."""

    plan_id: str
    status: str
    scope: dict[str, Any]
    reason: str
    legal_basis: str
    deadline: str | None
    requester: str | None
    approvers: list[str]
    authorization: dict[str, Any]
    counts: dict[str, Any]
    survives: dict[str, Any]
    hooks: list[dict[str, Any]]
    journal: dict[str, Any]
    open_targets: list[dict[str, Any]]
    verification: dict[str, Any] | None
    unreachable: dict[str, Any]
    recipients: list[dict[str, Any]] = []


class RunReportOut(BaseModel):
    """``disgorge erase run --json``: what a run did, or (a dry run) would do."""

    plan_id: str
    dry_run: bool
    status: str
    steps: dict[str, int]
    journal: dict[str, dict[str, int]]
    would_do: list[dict[str, str]]
    problems: list[dict[str, str]]
    unreachable: dict[str, Any]
    held: list[dict[str, Any]]
    stale: str | None
    authorization: dict[str, Any]


class ResolutionOut(BaseModel):
    plan_id: str
    target: int
    kind: str
    resolved_by: str


def plan_out(p: PlanInfo) -> PlanOut:
    return PlanOut(
        plan_id=p.id,
        status=p.status,
        scope=p.scope,
        reason=p.reason,
        legal_basis=p.legal_basis,
        deadline=p.deadline,
        counts=p.counts,
    )


@router.get(
    "/erasures", response_model=Page[PlanOut], summary="Erasure plans", dependencies=[requires("read")]
)
def plans(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[PlanOut]:
    return page([plan_out(p) for p in cat.plans()], cursor, limit)


@router.post(
    "/erasures",
    response_model=DraftOut,
    summary="Freeze a plan; its requester then signs the returned request",
    dependencies=[requires("erase.plan")],
)
def draft(cat: Cat, body: PlanIn) -> DraftOut:
    if (body.scope is None) != (body.value is None):
        raise UsageError("scope and value go together, e.g. scope=subject, value=alice")
    plan, created = cat.draft_erasure(
        scope=(body.scope, body.value) if body.scope and body.value else None,
        withdrawn=body.withdrawn,
        reason=body.reason,
        legal_basis=body.legal_basis,
        deadline=body.deadline,
        supplement=body.supplement,
        retrain=body.retrain,
    )
    template = cat.statement_template(plan.id, "erasure.request")
    return DraftOut(plan=plan_out(plan), created=created, to_sign=TemplateOut(**template))


@router.get("/erasures/{plan}", response_model=PlanShow, summary="One plan", dependencies=[requires("read")])
def show(cat: Cat, plan: str) -> dict[str, Any]:
    return cat.erasures.show(plan)


@router.get(
    "/erasures/{plan}/dry-run",
    response_model=RunReportOut,
    summary="What executing the plan would do now (nothing is touched): erase run without --execute",
    dependencies=[requires("read")],
)
def dry_run(cat: Cat, plan: str) -> dict[str, Any]:
    return cat.erasures.run(plan, dry_run=True).to_json()


@router.get(
    "/erasures/{plan}/statement",
    response_model=TemplateOut,
    summary="The statement to sign for a step of this plan",
    dependencies=[requires("read")],
)
def template(
    cat: Cat,
    plan: str,
    kind: Literal["erasure.request", "erasure.approve", "erasure.resolve"],
    target: int | None = Query(None, ge=0, le=2**62),
    reason: str | None = Query(None, min_length=1, max_length=2000),
) -> dict[str, Any]:
    extra = {"target": target, "reason": reason} if kind == "erasure.resolve" else None
    if extra is not None and (target is None or reason is None):
        raise UsageError("a resolution's statement needs target and reason")
    return cat.statement_template(plan, kind, extra)


@router.post(
    "/erasures/{plan}/request",
    response_model=PlanShow,
    summary="Record the requester's signed request",
    dependencies=[requires("erase.plan")],
)
def request(cat: Cat, plan: str, body: SignedIn) -> dict[str, Any]:
    return cat.submit_statement(plan, "erasure.request", parse(body.model_dump(), "the request"))


@router.post(
    "/erasures/{plan}/approvals",
    response_model=PlanShow,
    summary="Record an approver's signed approval",
    dependencies=[requires("erase.approve")],
)
def approve(cat: Cat, plan: str, body: SignedIn) -> dict[str, Any]:
    return cat.submit_statement(plan, "erasure.approve", parse(body.model_dump(), "the approval"))


@router.post(
    "/erasures/{plan}/resolutions",
    response_model=ResolutionOut,
    summary="Record an approver's signed resolution of a skipped or failed target",
    dependencies=[requires("erase.resolve")],
)
def resolve(cat: Cat, plan: str, body: SignedIn) -> dict[str, Any]:
    return cat.submit_statement(plan, "erasure.resolve", parse(body.model_dump(), "the resolution"))


@router.post(
    "/erasures/{plan}/executed",
    response_model=PlanShow,
    summary="Record the executor's signed end of an execution (the body its job's result gives)",
    dependencies=[requires("erase.run")],
)
def executed(cat: Cat, plan: str, body: SignedIn) -> dict[str, Any]:
    return cat.submit_statement(plan, "erasure.executed", parse(body.model_dump(), "the end of execution"))


@router.get(
    "/erasures/{plan}/certificate",
    summary="A signed certificate of destruction (JSON, or HTML with format=html)",
    dependencies=[requires("erase.certificate")],
    responses={200: {"content": {"application/json": {}, "text/html": {}}}},
)
def certificate(cat: Cat, plan: str, format: Literal["json", "html"] = "json") -> Any:
    doc = cat.certificate(plan, cosigner=configured_cosigner(cat.store.settings))
    if format == "html":
        from disgorge.certificate.render import render_html

        return HTMLResponse(render_html(doc))
    return JSONResponse(doc)


@router.get(
    "/erasures/{plan}/asset-proof",
    summary="The proof that one erased content (by its sha256) is in the plan's erased set",
    dependencies=[requires("read")],
)
def asset_proof(cat: Cat, plan: str, sha256: str = Query(min_length=1, max_length=80)) -> dict[str, Any]:
    return cat.asset_proof(plan, sha256)

"""The erasure workflow in the browser: plan from a scope, review targets by kind, sign the request,
approve as a second person, start the execution and watch it, verify, and fetch the certificate.

Each statement is signed in the browser by its person (see :mod:`.signing`); the services verify and
record them exactly as they do for the CLI and the REST API."""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from disgorge.api import Catalog
from disgorge.catalog.store import ACTOR
from disgorge.erasure.service import Erasures
from disgorge.errors import DisgorgeError, NotFoundError, UsageError, VerificationFailed
from disgorge.model.roles import Principal
from disgorge.server.web.requests_store import SubjectRequests
from disgorge.server.web.session import catalog_for, check_csrf, require, signed_in
from disgorge.server.web.signing import prepare, received
from disgorge.server.web.views import WebRoute, finish, redirect, render
from disgorge.witness.client import configured_cosigner

router = APIRouter(route_class=WebRoute, include_in_schema=False)
SCOPES = ("subject", "source", "dataset", "asset", "withdrawn")


def service(cat: Catalog) -> Erasures:
    return cat.erasures.service


def subject_requests(request: Request) -> SubjectRequests:
    return SubjectRequests(request.app.state.catalog.home.path)


@router.get("/erasures")
def erasures(request: Request) -> Response:
    require(request, "read")
    cat = catalog_for(request)
    plans = list(reversed(cat.store.list_plans()))
    reqs = subject_requests(request).list() if signed_in(request).may("erase.plan") else []
    return render(request, "erasures.html", plans=plans[:200], total=len(plans), subject_requests=reqs)


@router.get("/erasures/new")
def new_plan(request: Request, kind: str = "subject", value: str = "", request_id: str = "") -> Response:
    require(request, "erase.plan")
    return render(request, "plan_new.html", scopes=SCOPES, kind=kind, value=value, request_id=request_id)


@router.post("/erasures")
async def create_plan(request: Request) -> Response:
    form = await check_csrf(request)
    require(request, "erase.plan")
    cat = catalog_for(request)
    kind = str(form.get("kind") or "")
    value = str(form.get("value") or "").strip()
    if kind not in SCOPES:
        raise UsageError(f"scope {kind!r} is unknown", hint="choose " + ", ".join(SCOPES))
    if kind != "withdrawn" and not value:
        raise UsageError(f"give the {kind} to erase")
    plan, _ = service(cat).plan(
        scope=None if kind == "withdrawn" else (kind, value),
        withdrawn=kind == "withdrawn",
        reason=str(form.get("reason") or ""),
        legal_basis=str(form.get("legal_basis") or ""),
        deadline=str(form.get("deadline") or "").strip() or None,
    )
    rid = str(form.get("request_id") or "")
    if rid and kind == "asset":
        subject_requests(request).planned(rid, value, plan.id)
    return redirect(request, f"/erasures/{plan.id}")


def _steps(cat: Catalog, who: Principal, shown: dict[str, Any], job: dict[str, Any] | None) -> dict[str, Any]:
    """Which signature or action this person may take next on the plan, with the statement to sign."""
    svc = service(cat)
    pid = shown["plan_id"]
    auth = shown["authorization"]
    status = shown["status"]
    st = cat.store.statements
    steps: dict[str, Any] = {}
    if auth.get("requester") is None and who.may("erase.plan"):
        steps["request"] = prepare(cat, who, "erasure.request", pid, svc.request_body(pid))
    elif (
        status == "planned"
        and who.may("erase.approve")
        and who.name != auth.get("requester")
        and who.name not in auth.get("approvers", [])
    ):
        steps["approve"] = prepare(cat, who, "erasure.approve", pid)
    if (
        status in ("approved", "incomplete")
        and who.may("erase.run")
        and not (job and job["state"] == "running")
    ):
        steps["execute"] = prepare(cat, who, "erasure.execute", pid)
    ended = st.of_kinds(("erasure.executed",), about=pid)
    started = st.of_kinds(("erasure.execute",), about=pid)
    if (
        status in ("done", "incomplete")
        and who.may("erase.run")
        and len(ended) < len(started)
        and not (job and job["state"] == "running")
    ):
        body = {
            "status": status if status == "done" else "incomplete",
            "journal": cat.store.journal_counts(pid),
        }
        steps["executed"] = prepare(cat, who, "erasure.executed", pid, body)
    if who.may("erase.resolve") and any(t["state"] in ("skipped", "failed") for t in shown["open_targets"]):
        steps["resolve"] = True
    if status == "done" and who.may("erase.verify"):
        steps["verify"] = True
    verification = shown.get("verification") or {}
    if status == "done" and verification.get("clean") and who.may("erase.certificate"):
        steps["certificate"] = True
    return steps


@router.get("/erasures/{plan_id}")
def plan_page(request: Request, plan_id: str) -> Response:
    require(request, "read")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    shown = service(cat).show(plan.id)
    job = request.app.state.web_jobs.get(plan.id)
    steps = _steps(cat, signed_in(request), shown, job)
    by_kind: dict[str, dict[str, Any]] = {}
    for t in cat.store.targets(plan.id):
        row = by_kind.setdefault(t.kind, {"actions": set(), "states": {}, "total": 0})
        row["actions"].add(t.action)
        row["states"][t.state] = row["states"].get(t.state, 0) + 1
        row["total"] += 1
    return render(
        request, "plan.html", plan=shown, steps=steps, job=job, by_kind=by_kind, scope_text=_scope(shown)
    )


def _scope(shown: dict[str, Any]) -> str:
    scope = shown.get("scope") or {}
    kind = scope.get("kind", "")
    if kind == "subject":
        return "a subject (pseudonymised)"
    return f"{kind} {scope.get('value', '')}".strip() or json.dumps(scope)


@router.post("/erasures/{plan_id}/request")
async def sign_request(request: Request, plan_id: str) -> Response:
    form = await check_csrf(request)
    who = require(request, "erase.plan")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    service(cat).submit_request(plan.id, received(form, who, "erasure.request", plan.id))
    return redirect(request, f"/erasures/{plan.id}")


@router.post("/erasures/{plan_id}/approve")
async def approve(request: Request, plan_id: str) -> Response:
    form = await check_csrf(request)
    who = require(request, "erase.approve")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    service(cat).approve(plan.id, received(form, who, "erasure.approve", plan.id))
    return redirect(request, f"/erasures/{plan.id}")


@router.post("/erasures/{plan_id}/execute")
async def execute(request: Request, plan_id: str) -> Response:
    form = await check_csrf(request)
    who = require(request, "erase.run")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    start = received(form, who, "erasure.execute", plan.id)
    jobs: dict[str, dict[str, Any]] = request.app.state.web_jobs
    job = jobs.get(plan.id)
    if job is not None and job["state"] == "running":
        raise UsageError(f"plan {plan.id[:12]} is already executing", hint="watch its progress on its page")
    from disgorge.access.plans import check_executor

    check_executor(cat.store, plan, start)
    job = {"state": "running", "done": 0, "total": 0, "status": None, "error": None, "by": who.name}
    jobs[plan.id] = job

    def progress(done: int, total: int) -> None:
        job["done"], job["total"] = done, total

    def work() -> None:
        ACTOR.set(who.name)
        try:
            report = service(cat).run(plan.id, start=start, dry_run=False, rehash=True, progress=progress)
            job["status"] = report.status
            job["problems"] = report.problems[:20]
        except DisgorgeError as exc:
            job["error"] = exc.message
        except Exception as exc:  # the thread must report, not vanish
            job["error"] = f"the execution failed: {type(exc).__name__}"
        finally:
            job["state"] = "finished"

    threading.Thread(target=work, name=f"erase-{plan.id[:12]}", daemon=True).start()
    return redirect(request, f"/erasures/{plan.id}")


@router.get("/erasures/{plan_id}/progress")
def progress(request: Request, plan_id: str) -> Response:
    require(request, "read")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    job = request.app.state.web_jobs.get(plan.id) or {"state": "idle"}
    body = {k: job.get(k) for k in ("state", "done", "total", "status", "error")}
    response = JSONResponse({**body, "plan_status": plan.status})
    finish(request, response)
    return response


@router.post("/erasures/{plan_id}/executed")
async def executed(request: Request, plan_id: str) -> Response:
    form = await check_csrf(request)
    who = require(request, "erase.run")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    service(cat).record_executed(plan.id, received(form, who, "erasure.executed", plan.id))
    return redirect(request, f"/erasures/{plan.id}")


@router.post("/erasures/{plan_id}/verify")
async def verify(request: Request, plan_id: str) -> Response:
    await check_csrf(request)
    require(request, "erase.verify")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    service(cat).verify(plan.id)
    return redirect(request, f"/erasures/{plan.id}#verification")


@router.get("/erasures/{plan_id}/certificate.{fmt}")
def certificate(request: Request, plan_id: str, fmt: str) -> Response:
    require(request, "erase.certificate")
    if fmt not in ("json", "html"):
        raise NotFoundError(f"no certificate format {fmt!r}", hint="use .json or .html")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    doc = cat.certificate(plan.id, cosigner=configured_cosigner(cat.store.settings))
    name = f"certificate-{plan.id[:12]}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        from disgorge.ledger.certificate import dump_certificate

        response = Response(dump_certificate(doc), media_type="application/json", headers=headers)
    else:
        from disgorge.certificate.render import render_html

        response = Response(render_html(doc), media_type="text/html; charset=utf-8", headers=headers)
    finish(request, response)
    return response


@router.post("/certificates/verify")
async def verify_certificate(request: Request) -> Response:
    form = await check_csrf(request)
    require(request, "read")
    cat = catalog_for(request)
    upload = form.get("certificate")
    data = await upload.read(5_000_001) if isinstance(upload, UploadFile) else b""
    if not data:
        raise UsageError("choose a certificate file (JSON) to verify")
    if len(data) > 5_000_000:
        raise UsageError("the certificate is larger than 5 MB: that is not a Disgorge certificate")
    from disgorge.certificate import verify_any

    keys = cat.proofs.identity.trusted()
    try:
        result = verify_any(data, keys)
        outcome: dict[str, Any] = {"valid": True, "summary": _summary(result)}
    except (VerificationFailed, UsageError) as exc:
        outcome = {"valid": False, "summary": exc.message}
    return render(request, "certificate_verified.html", outcome=outcome)


def _summary(result: Any) -> str:
    doc = result.to_json() if hasattr(result, "to_json") else dict(result) if isinstance(result, dict) else {}
    plan = str(doc.get("plan_id") or "")
    people = ""
    if doc.get("requester"):
        people = f"; requested by {doc['requester']}, approved by {', '.join(doc.get('approvers') or [])}"
    count = f"; {doc['erased_count']:,} assets erased" if doc.get("erased_count") is not None else ""
    return f"valid: certificate of plan {plan[:12]}, signed by this catalog's log key{people}{count}"


def _open_target(cat: Catalog, plan_id: str, seq: int) -> dict[str, Any]:
    shown = service(cat).show(plan_id)
    target = next((t for t in shown["open_targets"] if t["seq"] == seq), None)
    if target is None or target["state"] not in ("skipped", "failed"):
        raise NotFoundError(
            f"plan {plan_id[:12]} has no skipped or failed target {seq}", hint="reload the plan's page"
        )
    return dict(target)


@router.post("/erasures/{plan_id}/resolution")
async def prepare_resolution(request: Request, plan_id: str) -> Response:
    """The resolution's reason is part of what is signed, so the statement is prepared once it is given."""
    form = await check_csrf(request)
    who = require(request, "erase.resolve")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    raw_seq = str(form.get("target") or "")
    if not raw_seq.isdigit():
        raise UsageError(f"target {raw_seq!r} is not a target's number", hint="reload the plan's page")
    reason = str(form.get("reason") or "").strip()
    if not reason:
        raise UsageError("give the reason the target is settled: it goes on the certificate")
    if len(reason) > 2000:
        raise UsageError("the reason is longer than 2,000 characters")
    target = _open_target(cat, plan.id, int(raw_seq))
    statement = prepare(cat, who, "erasure.resolve", plan.id, {"target": target["seq"], "reason": reason})
    return render(request, "resolve.html", plan_id=plan.id, target=target, reason=reason, s=statement)


@router.post("/erasures/{plan_id}/resolve")
async def resolve(request: Request, plan_id: str) -> Response:
    form = await check_csrf(request)
    who = require(request, "erase.resolve")
    cat = catalog_for(request)
    plan = cat.store.get_plan(plan_id)
    signed = received(form, who, "erasure.resolve", plan.id)
    seq = signed.body.get("target")
    if not isinstance(seq, int):
        raise VerificationFailed("the resolution names no target")
    service(cat).resolve(plan.id, seq, signed)
    return redirect(request, f"/erasures/{plan.id}")

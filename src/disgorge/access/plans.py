"""A plan's authority, from signatures only: its signed request, its signed approvals and the roster
folded from signed statements, all read back from the ledger. No status column authorises anything."""

from __future__ import annotations

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo
from disgorge.errors import VerificationFailed
from disgorge.trust import ApprovalRule, Authorization, Signed, authorize, fold


def request_body(plan: PlanInfo, rule: ApprovalRule) -> dict[str, object]:
    """What a requester signs: the order as planned, and the approval rule in force."""
    return {
        "scope": plan.scope,
        "reason": plan.reason,
        "legal_basis": plan.legal_basis,
        "deadline": plan.deadline,
        "approvals": rule.to_json(),
    }


def plan_authorization(
    store: CatalogStore, plan: PlanInfo, rule: ApprovalRule | None = None, *, candidate: Signed | None = None
) -> Authorization:
    """The plan's request and approvals as verified now; VerificationFailed if there is no valid request.

    ``candidate`` is a statement not yet recorded, judged as if appended next: a service records a
    request or approval only if it would count, so the append-only ledger never holds a refused one."""
    st = store.statements
    extra = [(store.ledger_size(), candidate)] if candidate is not None else []
    requests = st.of_kinds(("erasure.request",), about=plan.id) + [
        e for e in extra if e[1].kind == "erasure.request"
    ]
    if not requests:
        raise VerificationFailed(
            f"plan {plan.id[:12]} has no signed request",
            hint="the requester signs it with their identity: disgorge erase plan … (again, with DISGORGE_IDENTITY set)",
        )
    request = requests[0]
    body = request[1].body
    signed_order = {k: body.get(k) for k in ("scope", "reason", "legal_basis", "deadline")}
    planned = {
        "scope": plan.scope,
        "reason": plan.reason,
        "legal_basis": plan.legal_basis,
        "deadline": plan.deadline,
    }
    if signed_order != planned:
        raise VerificationFailed(
            f"plan {plan.id[:12]}: the catalog's order differs from the one its requester signed "
            "(the plan row was edited after the request)"
        )
    approvals = st.of_kinds(("erasure.approve",), about=plan.id)
    approvals += [e for e in extra if e[1].kind == "erasure.approve"]
    return authorize(st.catalog_id(), plan.id, st.roster(), request, approvals, rule=rule)


def check_executor(store: CatalogStore, plan: PlanInfo, signed: Signed) -> None:
    """An execution statement: signed, about this plan, by a member allowed to run erasures then."""
    from disgorge.trust import verify_signature

    verify_signature(signed, "the execution statement")
    st = store.statements
    if (
        signed.kind not in ("erasure.execute", "erasure.executed")
        or signed.about != plan.id
        or signed.statement["catalog"] != st.catalog_id()
    ):
        raise VerificationFailed(f"the statement is not an execution statement of plan {plan.id[:12]}")
    current = fold(st.catalog_id(), st.roster())
    if signed.body.get("roster") != current.digest():
        raise VerificationFailed(
            "the execution statement was signed against another roster than the ledger's"
        )
    member = current.active(signed.principal)
    if member is None or member.key != signed.key or not member.roles & {"requester", "admin"}:
        raise VerificationFailed(
            f"{signed.principal!r} may not execute erasures (not a requester or admin of the roster with that key)"
        )


def require_authorized(
    store: CatalogStore, plan: PlanInfo, rule: ApprovalRule | None = None
) -> Authorization:
    auth = plan_authorization(store, plan, rule)
    if not auth.complete:
        why = "; ".join(auth.rejected) or "no approval yet"
        raise VerificationFailed(
            f"plan {plan.id[:12]} is not authorised: {len(auth.approvals)} of {auth.rule.required} required "
            f"approvals verify ({why})",
            hint="a second person with the approver role approves it with their own identity",
        )
    return auth

"""The approval rule, checked from signatures only: a plan may be executed when its request is signed
by a roster member holding ``requester`` (or ``admin``), and at least ``required`` distinct approvers,
none of them the requester, each holding ``approver`` on the roster as it stood when they signed, have
signed approvals of that very plan in that very catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from disgorge.errors import VerificationFailed
from disgorge.trust.roster import fold
from disgorge.trust.statements import Signed, verify_signature


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    required: int = 1
    approver_not_enrolled_by_requester: bool = False
    """Also refuse an approver whom the requester added to the roster (an admin's sock puppet)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "approver_not_enrolled_by_requester": self.approver_not_enrolled_by_requester,
        }

    @classmethod
    def from_json(cls, doc: Any) -> ApprovalRule:
        if not isinstance(doc, dict):
            raise VerificationFailed("the approval rule must be an object")
        required = doc.get("required", 1)
        if not isinstance(required, int) or isinstance(required, bool) or not 1 <= required <= 10:
            raise VerificationFailed(f"approvals required must be 1..10, got {required!r}")
        return cls(required, bool(doc.get("approver_not_enrolled_by_requester", False)))


@dataclass(slots=True)
class Authorization:
    """Who asked for and who approved a plan, established from signatures."""

    plan_id: str
    requester: str
    request_index: int
    rule: ApprovalRule
    approvals: list[tuple[int, Signed]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """Why each statement that did not count was set aside (named after the attack it would be)."""

    @property
    def approvers(self) -> list[str]:
        return [s.principal for _, s in self.approvals]

    @property
    def complete(self) -> bool:
        return len(self.approvals) >= self.rule.required


def authorize(
    catalog: str,
    plan_id: str,
    roster_statements: list[tuple[int, Signed]],
    request: tuple[int, Signed],
    approvals: list[tuple[int, Signed]],
    *,
    rule: ApprovalRule | None = None,
) -> Authorization:
    """Check a plan's request and approvals; raise VerificationFailed if the request itself is not valid.

    Approvals that do not count are listed in ``rejected`` rather than raised, so a forged approval
    beside real ones is reported, not fatal; ``complete`` says whether enough valid ones remain."""
    r_index, req = request
    _check(catalog, plan_id, "erasure.request", req, "the request")
    roster = fold(catalog, roster_statements, upto=r_index)
    if req.body.get("roster") != roster.digest():
        raise VerificationFailed(
            f"plan {plan_id[:12]}: the request was signed against another roster than the ledger's at that "
            "point (roster statements omitted, reordered or forged)"
        )
    member = roster.active(req.principal)
    if member is None or member.key != req.key:
        raise VerificationFailed(
            f"plan {plan_id[:12]}: the request is signed by {req.principal!r}, who was not on the roster with "
            "that key when it was made (self-signed or forged request)"
        )
    if not member.roles & {"requester", "admin"}:
        raise VerificationFailed(f"plan {plan_id[:12]}: {req.principal!r} did not hold the requester role")
    signed_rule = ApprovalRule.from_json(req.body.get("approvals", {}))
    rule = rule or signed_rule
    rule = ApprovalRule(
        max(rule.required, signed_rule.required),
        rule.approver_not_enrolled_by_requester or signed_rule.approver_not_enrolled_by_requester,
    )
    auth = Authorization(plan_id, req.principal, r_index, rule)
    auth.rejected.extend(f"set aside: {why}" for why in fold(catalog, roster_statements).rejected)
    seen: set[str] = set()
    for index, ap in approvals:
        try:
            _check(catalog, plan_id, "erasure.approve", ap, f"the approval at ledger entry {index}")
        except VerificationFailed as exc:
            auth.rejected.append(exc.message)
            continue
        if index < r_index:
            auth.rejected.append(f"approval by {ap.principal!r} predates the request (replayed)")
            continue
        at = fold(catalog, roster_statements, upto=index)
        who = at.active(ap.principal)
        if ap.body.get("roster") != at.digest():
            auth.rejected.append(
                f"approval by {ap.principal!r}: signed against another roster than the ledger's at that point"
            )
        elif who is None or who.key != ap.key:
            auth.rejected.append(
                f"approval by {ap.principal!r}: not on the roster with that key when signed (self-signed or forged)"
            )
        elif "approver" not in who.roles:
            auth.rejected.append(f"approval by {ap.principal!r}: did not hold the approver role when signed")
        elif ap.principal == req.principal:
            auth.rejected.append(f"approval by {ap.principal!r}: the requester cannot approve their own plan")
        elif ap.principal in seen:
            auth.rejected.append(f"approval by {ap.principal!r}: a second approval by the same person")
        elif rule.approver_not_enrolled_by_requester and who.added_by == req.principal:
            auth.rejected.append(
                f"approval by {ap.principal!r}: enrolled by the requester, which the policy forbids"
            )
        else:
            seen.add(ap.principal)
            auth.approvals.append((index, ap))
    return auth


def _check(catalog: str, plan_id: str, kind: str, s: Signed, what: str) -> None:
    verify_signature(s, what)
    if s.kind != kind:
        raise VerificationFailed(f"{what} is a {s.kind} statement, not {kind}")
    if s.statement["catalog"] != catalog:
        raise VerificationFailed(f"{what} was made for another catalog (replayed across catalogs)")
    if s.about != plan_id:
        raise VerificationFailed(
            f"{what} is about plan {s.about[:12]}, not {plan_id[:12]} (taken from another plan)"
        )

"""One purpose decision: may data of this provenance be used for this use by this recipient now?

The decision depends only on the asset's class (source notice, legal basis, data categories), whether
it has a known subject, and that subject's effective consent, so callers evaluate it once per class
and consent state, then apply it to whole sets of assets at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from disgorge.policy.consent import Action
from disgorge.policy.rules import Policy
from disgorge.policy.taxonomy import Taxonomy, covers, default_taxonomy

Reason = Literal[
    "allowed_by_notice",
    "allowed_by_consent",
    "unknown_provenance",
    "policy_denied",
    "no_policy_allows",
    "consent_withdrawn",
    "sensitive_needs_grant",
    "no_consent_record",
    "notice_use_not_permitted",
    "notice_recipient_not_permitted",
]


@dataclass(frozen=True, slots=True)
class Provenance:
    source: str
    notice_version: int
    notice_uses: tuple[str, ...]
    notice_recipients: tuple[str, ...]
    legal_basis: str | None
    categories: tuple[str, ...]
    subject_kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    use: str
    recipient: str


@dataclass(frozen=True, slots=True)
class Outcome:
    allowed: bool
    reason: Reason
    rule: str
    """Who decided: a policy rule's name, or ``notice:SOURCE@vN`` / ``consent`` / ``provenance``."""
    clause: str
    """What would have allowed it (for a denial) or what did (for an allowance)."""


def decide(
    prov: Provenance | None,
    has_subject: bool,
    state: Action | None,
    req: Request,
    policy: Policy,
    taxonomy: Taxonomy | None = None,
) -> Outcome:
    tax = taxonomy or default_taxonomy()
    if prov is None:
        return Outcome(
            False, "unknown_provenance", "provenance", "register the data with its source and notice first"
        )
    request = {
        "data_categories": prov.categories,
        "data_uses": (req.use,),
        "data_subjects": prov.subject_kinds,
        "recipients": (req.recipient,),
    }
    allowed, rule = policy.evaluate(request)
    if not allowed and rule is not None:
        return Outcome(
            False, "policy_denied", rule.name, f"policy {policy.version} rule {rule.name}: {rule.describe()}"
        )
    notice = f"notice:{prov.source}@v{prov.notice_version}"
    if state == "withdrawn":
        return Outcome(
            False,
            "consent_withdrawn",
            "consent",
            f"a new grant of {req.use} to {req.recipient} by the subject",
        )
    if state != "granted":
        sensitive = tax.sensitive(prov.categories)
        if sensitive:
            return Outcome(
                False,
                "sensitive_needs_grant",
                notice,
                f"an explicit grant of {req.use} to {req.recipient} by the subject (sensitive: {', '.join(sensitive)})",
            )
        if prov.legal_basis == "consent":
            if not has_subject:
                return Outcome(False, "unknown_provenance", "provenance", "the data subject of the asset")
            return Outcome(
                False, "no_consent_record", notice, f"a consent record granting {req.use} to {req.recipient}"
            )
        if not any(covers(u, req.use) for u in prov.notice_uses):
            return Outcome(
                False,
                "notice_use_not_permitted",
                notice,
                f"a notice permitting {req.use} (v{prov.notice_version} permits {', '.join(prov.notice_uses) or 'nothing'})",
            )
        if req.recipient not in prov.notice_recipients and "*" not in prov.notice_recipients:
            return Outcome(
                False,
                "notice_recipient_not_permitted",
                notice,
                f"a notice naming {req.recipient} as a recipient (v{prov.notice_version} names "
                f"{', '.join(prov.notice_recipients) or 'none'})",
            )
    if not allowed:
        return Outcome(
            False, "no_policy_allows", f"policy:{policy.version}", "an allow rule matching this request"
        )
    if state == "granted":
        return Outcome(
            True, "allowed_by_consent", "consent", f"subject's grant of {req.use} to {req.recipient}"
        )
    return Outcome(True, "allowed_by_notice", notice, f"{notice} permits {req.use} for {req.recipient}")

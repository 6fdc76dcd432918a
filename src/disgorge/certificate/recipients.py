"""A v2 certificate's recipients, checked from signatures and logged events (:mod:`disgorge.trust.notices`):
a recipient is *delivered* only with its logged delivery (the notice as delivered, whose hash is its
id) through a channel binding signed by an admin of the roster then, and *acknowledged* only with an
acknowledgement of that very notice signed by the key that binding names. Pure code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from disgorge.errors import DisgorgeError, VerificationFailed
from disgorge.trust import Signed
from disgorge.trust.notices import HEADER, Binding, check_ack, check_binding, notice_id

DELIVERED = "notice_delivered"


def check_recipients(
    *,
    catalog: str,
    plan_id: str,
    recipients: Sequence[Mapping[str, Any]],
    notified: int,
    deliveries: list[tuple[int, dict[str, Any]]],
    channels: list[tuple[int, Signed]],
    acks: list[tuple[int, Signed]],
    roster: list[tuple[int, Signed]],
    error: type[DisgorgeError],
) -> str:
    """Raise ``error`` naming the first claim about a recipient that its entries do not bear out."""
    delivered_notices = _deliveries(catalog, plan_id, deliveries, error)
    bindings: dict[str, Binding] = {}
    for index, signed in channels:
        try:
            checked = check_binding(catalog, index, signed, roster)
        except VerificationFailed as exc:
            raise error(exc.message) from exc
        bindings[checked.digest] = checked
    acked: dict[str, tuple[int, Signed]] = {}
    for index, s in acks:
        if s.about not in delivered_notices:
            raise error(
                f"the acknowledgement at ledger entry {index} is about notice {s.about[:16]}, which is not a "
                "notice this certificate shows delivered (an acknowledgement for another notice)"
            )
        if s.about in acked:
            raise error(f"notice {s.about[:16]} has two acknowledgements in the certificate")
        acked[s.about] = (index, s)
    parties = [rc["party"] for rc in recipients]
    if len(set(parties)) != len(parties):
        raise error("a recipient is listed twice")
    used: set[str] = set()
    delivered = acknowledged = 0
    said: list[str] = []
    for rc in recipients:
        party = rc["party"]
        if rc["delivered_at"] is None:
            if (
                rc["acknowledged_at"] is not None
                or rc["acknowledged_by"] is not None
                or rc["channel"] is not None
            ):
                raise error(
                    f"recipient {party!r} is listed as acknowledged or with a channel, but not delivered"
                )
            continue
        nid = rc["notice_id"]
        if nid not in delivered_notices:
            raise error(
                f"recipient {party!r} is listed as delivered, but the certificate carries no logged delivery of "
                "its notice"
            )
        d_index, d = delivered_notices[nid]
        used.add(nid)
        if (d.get("party"), d.get("delivered_at"), d.get("written_at"), d.get("channel")) != (
            party,
            rc["delivered_at"],
            rc["written_at"],
            rc["channel"],
        ):
            raise error(
                f"recipient {party!r}: the delivery listed differs from the logged one (time or channel)"
            )
        binding = bindings.get(str(d["notice"]["channel"]))
        if (
            binding is None
            or binding.party != party
            or binding.channel["kind"] != d["channel"]
            or binding.index > d_index
        ):
            raise error(
                f"recipient {party!r}: the certificate does not carry the admin-signed channel binding its notice "
                "was delivered under"
            )
        delivered += 1
        said.append(f"{party} delivered by {rc['channel']}")
        if rc["acknowledged_at"] is None:
            said[-1] += ", not acknowledged"
            if rc["acknowledged_by"] is not None:
                raise error(f"recipient {party!r} names who acknowledged, but not when")
            continue
        if nid not in acked:
            raise error(
                f"recipient {party!r} is listed as acknowledged, but the certificate carries no acknowledgement "
                f"of its notice {nid[:16]} (an acknowledgement claimed without one)"
            )
        a_index, ack = acked[nid]
        try:
            check_ack(
                ack,
                d["notice"],
                binding,
                f"the acknowledgement of {party!r}'s notice at ledger entry {a_index}",
            )
        except VerificationFailed as exc:
            raise error(exc.message) from exc
        if a_index < d_index:
            raise error(f"recipient {party!r}: the acknowledgement precedes the delivery in the ledger")
        if (ack.statement["at"], ack.principal) != (rc["acknowledged_at"], rc["acknowledged_by"]):
            raise error(
                f"recipient {party!r}: acknowledged_at or acknowledged_by differ from the signed acknowledgement"
            )
        acknowledged += 1
        said[-1] += f", acknowledged by {ack.principal}"
    if used != set(delivered_notices) or len(bindings) != delivered:
        raise error("the certificate carries deliveries or channel bindings of recipients it does not list")
    if set(acked) - {rc["notice_id"] for rc in recipients if rc["acknowledged_at"] is not None}:
        raise error("the certificate carries an acknowledgement it does not list")
    if notified != delivered:
        raise error(f"counts.recipients_notified is {notified}, but {delivered} deliveries are proven")
    if not recipients:
        return "recipients: none"
    return (
        f"recipients: {delivered} of {len(recipients)} notices delivered through the channel an admin bound "
        f"to the party, {acknowledged} acknowledged with the key an admin bound to it ({'; '.join(said)})"
    )


def _deliveries(
    catalog: str, plan_id: str, entries: list[tuple[int, dict[str, Any]]], error: type[DisgorgeError]
) -> dict[str, tuple[int, dict[str, Any]]]:
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, d in entries:
        notice = d.get("notice")
        where = f"ledger entry {index} (delivery)"
        if d.get("kind") != DELIVERED or d.get("plan_id") != plan_id or not isinstance(notice, dict):
            raise error(f"{where} is not a delivery of this plan's notice")
        if set(notice) != set(HEADER) or notice.get("catalog") != catalog or notice.get("plan_id") != plan_id:
            raise error(f"{where}: the notice is not one of this plan in this catalog")
        try:
            nid = notice_id(notice)
        except Exception as exc:
            raise error(f"{where}: the notice cannot be hashed ({exc})") from exc
        if d.get("notice_id") != nid or notice.get("party") != d.get("party") or nid in out:
            raise error(f"{where}: its notice id or party is not its notice's, or it is listed twice")
        out[nid] = (index, d)
    return out

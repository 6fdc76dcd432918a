"""Where each recipient's notice of an erasure stands (written, delivered, acknowledged), read from the
ledger alone, with the entries that prove it: shown by ``erase show`` and proven in certificates."""

from __future__ import annotations

from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.errors import VerificationFailed
from disgorge.notices.records import Records
from disgorge.trust.notices import Binding, check_ack


def recipient_status(
    store: CatalogStore, plan_id: str, parties: list[str]
) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Each recipient as written / delivered / acknowledged, from the ledger alone, with the entries
    that prove it: the delivery event, the channel binding it names, and a valid acknowledgement."""
    records = Records(store)
    delivered: dict[str, tuple[int, dict[str, Any], Binding]] = {}
    for i, d in records.deliveries(plan_id):
        try:
            binding = records.by_digest(str(d["notice"]["channel"]))
        except VerificationFailed:
            binding = None  # a delivery logged under a binding that does not verify proves nothing
        if binding is not None and binding.party == d["party"] and d["party"] not in delivered:
            delivered[d["party"]] = (i, d, binding)
    out: list[dict[str, Any]] = []
    entries: list[tuple[str, int]] = []
    for party in parties:
        rec: dict[str, Any] = dict.fromkeys(
            ("notice_id", "written_at", "delivered_at", "acknowledged_at", "acknowledged_by", "channel")
        )
        rec["party"] = party
        out.append(rec)
        if party not in delivered:
            written = records.written(plan_id, party)
            if written:
                rec.update(notice_id=written[-1][1]["notice_id"], written_at=written[-1][1]["at"])
            continue
        index, d, binding = delivered[party]
        rec.update(
            notice_id=d["notice_id"],
            written_at=d["written_at"],
            delivered_at=d["delivered_at"],
            channel=d["channel"],
        )
        entries += [("channel", binding.index), ("delivery", index)]
        for a_index, ack in records.acks(d["notice_id"]):
            try:
                check_ack(ack, d["notice"], binding, "an acknowledgement")
            except VerificationFailed:
                continue  # recorded only through record_ack, which checks the same; one edited in is ignored
            if a_index > index:
                rec.update(acknowledged_at=ack.statement["at"], acknowledged_by=ack.principal)
                entries.append(("ack", a_index))
                break
    return out, entries

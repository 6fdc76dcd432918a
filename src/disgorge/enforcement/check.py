"""Checking a set of assets against a use and a recipient, by set algebra rather than a loop per asset.

Members are read column-wise; each distinct (notice, categories, consent state, has-subject) class is
decided once by :func:`disgorge.policy.decide`, and the outcome is broadcast to all its members with
numpy. Every member gets a decision; unknown provenance and missing consent are violations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pyroaring import BitMap

from disgorge.catalog import CatalogStore, DecisionRecord, new_uid
from disgorge.catalog.members import member_columns
from disgorge.catalog.schema import Asset
from disgorge.hashing import canonical_json
from disgorge.policy import Outcome, Policy, Provenance, Request, consent_state, decide

STATES = (None, "granted", "withdrawn")


@dataclass(slots=True)
class Violation:
    reason: str
    rule: str
    clause: str
    count: int
    sample: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CheckReport:
    use: str
    recipient: str
    at: datetime
    policy_version: str
    inputs: list[str]
    inputs_digest: str
    total: int
    allowed: BitMap
    denied: BitMap
    violations: list[Violation]
    allowed_by: dict[str, int]
    decision_uid: str = field(default_factory=new_uid)

    @property
    def ok(self) -> bool:
        return not self.denied

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.violations:
            out[v.reason] = out.get(v.reason, 0) + v.count
        return out

    def record(self, kind: str) -> DecisionRecord:
        return DecisionRecord(
            self.decision_uid,
            kind,
            self.use,
            self.recipient,
            self.at,
            self.policy_version,
            self.inputs_digest,
            self.inputs,
            len(self.allowed),
            len(self.denied),
            {"denied": self.by_reason(), "allowed": self.allowed_by},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision_uid,
            "ok": self.ok,
            "use": self.use,
            "recipient": self.recipient,
            "at": self.at.isoformat(),
            "policy_version": self.policy_version,
            "inputs": self.inputs,
            "inputs_digest": self.inputs_digest,
            "total": self.total,
            "allowed": len(self.allowed),
            "denied": len(self.denied),
            "allowed_by": self.allowed_by,
            "violations": [
                {
                    "reason": v.reason,
                    "rule": v.rule,
                    "would_be_allowed_by": v.clause,
                    "count": v.count,
                    "sample_assets": v.sample,
                }
                for v in self.violations
            ],
        }


def inputs_digest(inputs: list[str], digests: list[str]) -> str:
    return hashlib.sha256(canonical_json(sorted(zip(inputs, digests, strict=True)))).hexdigest()


def check_members(
    store: CatalogStore,
    members: BitMap,
    *,
    use: str,
    recipient: str,
    policy: Policy,
    at: datetime | None = None,
    inputs: list[str] | None = None,
    digests: list[str] | None = None,
    sample: int = 5,
) -> CheckReport:
    when = at or datetime.now(UTC)
    req = Request(use, recipient)
    notices = store.provenance_by_notice()
    with store.session() as s:
        ids, notice_ids, subject_ids, cat_texts = member_columns(s, members)
    events = store.consent_events(when)
    relevant = {
        sid: state for sid, evs in events.items() if (state := consent_state(evs, use, recipient, when))
    }
    state_by_subject = np.zeros(max([int(subject_ids.max(initial=0)), *relevant]) + 2, dtype=np.int8)
    for sid, st in relevant.items():
        state_by_subject[sid] = STATES.index(st)
    states = np.where(subject_ids >= 0, state_by_subject[np.maximum(subject_ids, 0)], 0)
    has_subject = subject_ids >= 0
    cat_index: dict[str, int] = {}
    cat_codes = np.fromiter(
        (cat_index.setdefault(c, len(cat_index)) for c in cat_texts), dtype=np.int64, count=len(cat_texts)
    )
    cat_values = {i: tuple(json.loads(t) if t else ()) for t, i in cat_index.items()}
    keys = ((notice_ids * (len(cat_index) + 1) + cat_codes) * 3 + states) * 2 + has_subject
    uniq, inverse = np.unique(keys, return_inverse=True)
    outcomes: list[Outcome] = []
    for key in uniq.tolist():
        hs, rest = key % 2, key // 2
        st, rest = rest % 3, rest // 3
        cat_code, notice_id = rest % (len(cat_index) + 1), rest // (len(cat_index) + 1)
        base = notices.get(notice_id)
        prov = (
            Provenance(
                base[0].source,
                base[0].notice_version,
                base[0].notice_uses,
                base[0].notice_recipients,
                base[0].legal_basis,
                cat_values[cat_code],
            )
            if base
            else None
        )
        outcomes.append(decide(prov, bool(hs), STATES[st], req, policy))  # type: ignore[arg-type]
    allowed_class = np.array([o.allowed for o in outcomes], dtype=bool)
    allowed_mask = allowed_class[inverse] if len(ids) else np.zeros(0, dtype=bool)
    allowed = BitMap(ids[allowed_mask].tolist())
    denied = BitMap(ids[~allowed_mask].tolist())
    missing = members - allowed - denied
    groups: dict[tuple[str, str, str], list[int]] = {}
    allowed_by: dict[str, int] = {}
    counts = np.bincount(inverse, minlength=len(outcomes)) if len(ids) else np.zeros(0, dtype=np.int64)
    for k, o in enumerate(outcomes):
        if o.allowed:
            allowed_by[o.reason] = allowed_by.get(o.reason, 0) + int(counts[k])
        else:
            groups.setdefault((o.reason, o.rule, o.clause), []).append(k)
    violations = []
    for (reason, rule, clause), class_ids in sorted(groups.items()):
        mask = np.isin(inverse, class_ids)
        first = ids[mask][:sample].tolist()
        violations.append(Violation(reason, rule, clause, int(mask.sum()), _shas(store, first)))
    if missing:
        denied |= missing
        violations.append(
            Violation(
                "unknown_provenance",
                "provenance",
                "register the data with its source and notice first",
                len(missing),
                [f"asset-id:{i}" for i in list(missing)[:sample]],
            )
        )
    names = inputs or []
    return CheckReport(
        use,
        recipient,
        when,
        policy.version,
        names,
        inputs_digest(names, digests or [""] * len(names)),
        len(members),
        allowed,
        denied,
        violations,
        allowed_by,
    )


def _shas(store: CatalogStore, ids: list[int]) -> list[str]:
    from sqlalchemy import select

    if not ids:
        return []
    with store.session() as s:
        found = dict(s.execute(select(Asset.id, Asset.sha256).where(Asset.id.in_(ids))).all())
    return [found[i] for i in ids if i in found]

"""Checking a set of assets against a use and a recipient, by set algebra rather than a loop per asset.

Members are read column-wise; each distinct (notice, categories, consent state, has-subject) class is
decided once by :func:`disgorge.policy.decide`, and the outcome is broadcast to all its members with
numpy. Every member gets a decision; unknown provenance and missing consent are violations, and so is
a member flagged as a near copy of erased content (``near_erased_content``), whatever its notice and
consent say: an erasure order covers its copies, so no use of such a member is allowed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import CatalogStore, DecisionRecord, new_uid
from disgorge.catalog.members import ClassKey, member_columns
from disgorge.catalog.schema import Asset
from disgorge.catalog.sql import rows_where_in
from disgorge.hashing import canonical_json
from disgorge.policy import Policy, Provenance, Request, consent_state, decide


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
    denied_by_reason: dict[str, BitMap] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    """Members that are near copies of erased content (each also a ``near_erased_content`` violation),
    counted by the plan that erased it."""
    until: datetime | None = None
    """The first consent event dated after ``at``: the same decision holds until then while the
    catalog's stamps do not move (``gate.check_datasets`` keeps it so)."""

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
            "flagged_near_erased": self.flagged,
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


def classes_by_scan(store: CatalogStore, members: BitMap) -> dict[ClassKey, BitMap]:
    """Group an arbitrary member set into purpose classes by reading its rows column-wise."""
    with store.session() as s:
        ids, notice_ids, subject_ids, cat_texts = member_columns(s, members)
    cat_index: dict[str, int] = {}
    codes = np.fromiter(
        (cat_index.setdefault(c, len(cat_index)) for c in cat_texts), dtype=np.int64, count=len(cat_texts)
    )
    cats = {i: tuple(sorted(json.loads(t) if t else ())) for t, i in cat_index.items()}
    keys = (notice_ids * (len(cat_index) + 1) + codes) * 2 + (subject_ids >= 0)
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    out: dict[ClassKey, BitMap] = {}
    for k, key in enumerate(uniq.tolist()):
        has_subject, rest = key % 2, key // 2
        code, notice_id = rest % (len(cat_index) + 1), rest // (len(cat_index) + 1)
        class_key = (notice_id, cats[code], bool(has_subject))
        out.setdefault(class_key, BitMap()).update(ids[order[bounds[k] : bounds[k + 1]]].tolist())
    return out


@dataclass(slots=True)
class _ConsentSets:
    stamp: tuple[int, ...]
    built: datetime
    until: datetime | None
    """the first consent event after ``built``: from then on the states differ"""
    sets: dict[str, BitMap]

    def holds(self, stamp: tuple[int, ...], at: datetime) -> bool:
        """True for a decision at ``at`` while the catalog's consent stamp is ``stamp``."""
        return self.stamp == stamp and self.built <= at and (self.until is None or at < self.until)


def consent_bitmaps(store: CatalogStore, use: str, recipient: str, at: datetime) -> dict[str, BitMap]:
    """Assets whose subject's effective consent for (use, recipient) at ``at`` is granted / withdrawn.

    Folding every subject's events and reading their assets is the gate's cost at scale (all consent
    events on every run start), so the sets are kept per (use, recipient) while the catalog's
    :meth:`~disgorge.catalog.CatalogStore.consent_stamp` is unchanged and ``at`` lies between the time
    they were built and the next consent event (an event dated in the future takes effect then)."""
    return consent_sets(store, use, recipient, at).sets


def consent_sets(store: CatalogStore, use: str, recipient: str, at: datetime) -> _ConsentSets:
    """:func:`consent_bitmaps` with the time they hold until."""
    stamp = store.consent_stamp()
    cache: dict[tuple[str, str], _ConsentSets] = store.__dict__.setdefault("_consent_sets", {})
    hit = cache.get((use, recipient))
    if hit is not None and hit.holds(stamp, at):
        return hit
    # one build at a time per store: the server's worker threads all miss together after a start or a
    # consent import, and each building the same sets would multiply the longest step of a decision
    lock: threading.Lock = store.__dict__.setdefault("_consent_lock", threading.Lock())
    with lock:
        hit = cache.get((use, recipient))
        if hit is not None and hit.holds(stamp, at):
            return hit
        built = _build_consent_sets(store, use, recipient, at, stamp)
        cache[(use, recipient)] = built
        return built


def _build_consent_sets(
    store: CatalogStore, use: str, recipient: str, at: datetime, stamp: tuple[int, ...]
) -> _ConsentSets:
    states: dict[str, list[int]] = {"granted": [], "withdrawn": []}
    until: datetime | None = None
    for sid, events in store.consent_events().items():
        later = [e.at for e in events if e.at > at]
        if later:
            until = min(later) if until is None else min(until, *later)
        effective = consent_state(events, use, recipient, at)
        if effective is not None:
            states[effective].append(sid)
    out: dict[str, BitMap] = {}
    with store.session() as s:
        for state, subjects in states.items():
            rows = rows_where_in(s, [Asset.id], Asset.subject_id, subjects)
            out[state] = BitMap(array("I", (r[0] for r in rows)))
    return _ConsentSets(stamp, at, until, out)


def check_members(
    store: CatalogStore,
    members: BitMap,
    *,
    classes: dict[ClassKey, BitMap] | None = None,
    use: str,
    recipient: str,
    policy: Policy,
    at: datetime | None = None,
    inputs: list[str] | None = None,
    digests: list[str] | None = None,
    sample: int = 5,
) -> CheckReport:
    """Decide each (class, consent state) once and apply it to the whole bitmap of its members.

    ``classes`` are the members grouped by purpose class, as a dataset version stores them; without
    them, they are read from the catalog first (one column-wise scan of the members' rows)."""
    if classes is None:
        classes = classes_by_scan(store, members)
    when = at or datetime.now(UTC)
    req = Request(use, recipient)
    notices = store.provenance_by_notice()
    held = consent_sets(store, use, recipient, when)
    consent = held.sets
    near = near_erased(store, members)
    flagged = BitMap.union(*near.values()) if near else BitMap()
    allowed, denied = BitMap(), flagged.copy()
    groups: dict[tuple[str, str, str], BitMap] = {}
    allowed_by: dict[str, int] = {}
    for (notice_id, cats, has_subject), bm in classes.items():
        part = (bm & members) - flagged
        granted = part & consent["granted"]
        withdrawn = part & consent["withdrawn"]
        for state, subset in (
            (None, part - granted - withdrawn),
            ("granted", granted),
            ("withdrawn", withdrawn),
        ):
            if not subset:
                continue
            base = notices.get(notice_id)
            prov = (
                Provenance(
                    base[0].source,
                    base[0].notice_version,
                    base[0].notice_uses,
                    base[0].notice_recipients,
                    base[0].legal_basis,
                    cats,
                )
                if base
                else None
            )
            outcome = decide(prov, has_subject, state, req, policy)  # type: ignore[arg-type]
            if outcome.allowed:
                allowed |= subset
                allowed_by[outcome.reason] = allowed_by.get(outcome.reason, 0) + len(subset)
            else:
                denied |= subset
                key = (outcome.reason, outcome.rule, outcome.clause)
                groups[key] = groups.get(key, BitMap()) | subset
    violations = [
        Violation(
            "near_erased_content",
            f"erased under plan {plan[:12]}",
            "nothing: the erasure order covers its copies",
            len(bm),
            _shas(store, list(bm[:sample])),
        )
        for plan, bm in sorted(near.items())
    ]
    violations += [
        Violation(reason, rule, clause, len(bm), _shas(store, list(bm[:sample]) if len(bm) else []))
        for (reason, rule, clause), bm in sorted(groups.items())
    ]
    missing = members - allowed - denied
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
    report = CheckReport(
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
    for (reason, _rule, _clause), bm in groups.items():
        report.denied_by_reason[reason] = report.denied_by_reason.get(reason, BitMap()) | bm
    if flagged:
        report.denied_by_reason["near_erased_content"] = flagged
    report.flagged = {plan: len(bm) for plan, bm in sorted(near.items())}
    report.until = held.until
    return report


def near_erased(store: CatalogStore, members: BitMap) -> dict[str, BitMap]:
    """Members flagged as near copies of erased content, by the plan that erased it."""
    out: dict[str, BitMap] = {}
    for asset_id, (plan, _dist) in store.flagged().items():
        if asset_id in members:
            out.setdefault(plan, BitMap()).add(asset_id)
    return out


def _shas(store: CatalogStore, ids: list[int]) -> list[str]:
    if not ids:
        return []
    with store.session() as s:
        found = dict(s.execute(select(Asset.id, Asset.sha256).where(Asset.id.in_(ids))).all())
    return [found[i] for i in ids if i in found]

"""Consent events (append-only), their imports, and recorded purpose decisions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from disgorge.catalog.runs import RunInfo, RunsMixin
from disgorge.catalog.schema import Asset, ConsentImport, Decision, Edge, Notice, Source, Subject
from disgorge.catalog.schema import ConsentEvent as ConsentRow
from disgorge.errors import InputError

if TYPE_CHECKING:  # the policy package loads the taxonomy: only commands that decide pay for it
    from disgorge.policy import ConsentEvent, Provenance
    from disgorge.policy.consent import Action


@dataclass(frozen=True, slots=True)
class ConsentLine:
    """One validated line of a consent export, its subject still an external id."""

    line: int
    subject: str
    use: str
    recipient: str
    action: str
    at: datetime
    notice_version: int | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    uid: str
    kind: str
    use: str
    recipient: str
    at: datetime
    policy_version: str
    inputs_digest: str
    inputs: list[str]
    allowed: int
    denied: int
    by_reason: dict[str, Any]


class ConsentMixin(RunsMixin):
    def import_consent(
        self, lines: Sequence[ConsentLine], *, file_sha256: str, origin: str
    ) -> tuple[int, bool]:
        """Import validated lines in one transaction; every subject must be known, else nothing is imported.

        Returns (events imported, whether this file was new).
        """
        with self.session() as s:
            if s.scalar(select(ConsentImport.id).where(ConsentImport.file_sha256 == file_sha256)) is not None:
                return 0, False
            pseudonyms = {ln.line: self.hasher.subject(ln.subject) for ln in lines}
            wanted = sorted(set(pseudonyms.values()))
            known: dict[str, int] = {}
            for i in range(0, len(wanted), 500):
                known.update(
                    s.execute(
                        select(Subject.pseudonym, Subject.id).where(
                            Subject.pseudonym.in_(wanted[i : i + 500])
                        )
                    ).all()
                )
            unknown = [ln.line for ln in lines if pseudonyms[ln.line] not in known]
            if unknown:
                shown = ", ".join(str(n) for n in unknown[:10])
                raise InputError(
                    f"{origin}: {len(unknown)} lines name subjects that are not in the catalog (lines {shown})",
                    hint="ingest the subjects' data first, or drop those lines; nothing was imported",
                )
            self._check_notice_versions(
                s, lines, {ln.line: known[pseudonyms[ln.line]] for ln in lines}, origin
            )
            imp = ConsentImport(file_sha256=file_sha256, rows=len(lines))
            s.add(imp)
            s.flush()
            s.add_all(
                ConsentRow(
                    subject_id=known[pseudonyms[ln.line]],
                    use=ln.use,
                    recipient=ln.recipient,
                    action=ln.action,
                    at=ln.at,
                    notice_version=ln.notice_version,
                    import_id=imp.id,
                )
                for ln in lines
            )
            self._log(s, "consent_import", {"file_sha256": file_sha256, "events": len(lines)})
            return len(lines), True

    @staticmethod
    def _check_notice_versions(
        s: Session, lines: Sequence[ConsentLine], subject_of: dict[int, int], origin: str
    ) -> None:
        """Every named notice version must exist for a source the subject's assets come from."""
        named = [ln for ln in lines if ln.notice_version is not None]
        if not named:
            return
        subjects = sorted({subject_of[ln.line] for ln in named})
        versions: dict[int, set[int]] = {}
        for i in range(0, len(subjects), 500):
            q = (
                select(Asset.subject_id, Notice.version)
                .join(Notice, Notice.source_id == Asset.source_id)
                .where(Asset.subject_id.in_(subjects[i : i + 500]))
                .distinct()
            )
            for sid, version in s.execute(q):
                versions.setdefault(cast(int, sid), set()).add(version)
        bad = [ln for ln in named if ln.notice_version not in versions.get(subject_of[ln.line], set())]
        if bad:
            shown = ", ".join(f"{ln.line} (v{ln.notice_version})" for ln in bad[:10])
            known = sorted({v for ln in bad for v in versions.get(subject_of[ln.line], set())})
            raise InputError(
                f"{origin}: {len(bad)} lines name a notice version that the subject's source(s) never had "
                f"(lines {shown}); nothing was imported",
                hint=f"the versions those subjects' sources have: {', '.join(f'v{v}' for v in known) or 'none'}; "
                "see disgorge source list",
            )

    def consent_events(self, at: datetime | None = None) -> dict[int, list[ConsentEvent]]:
        """Every subject's consent events (up to ``at``), grouped by subject row id."""
        q = select(
            ConsentRow.subject_id,
            ConsentRow.use,
            ConsentRow.recipient,
            ConsentRow.action,
            ConsentRow.at,
            ConsentRow.notice_version,
        )
        if at is not None:
            q = q.where(ConsentRow.at <= at)
        from disgorge.policy import ConsentEvent

        out: dict[int, list[ConsentEvent]] = {}
        with self.session() as s:
            for sid, use, recipient, action, when, nv in s.execute(q.order_by(ConsentRow.id)):
                out.setdefault(sid, []).append(
                    ConsentEvent(sid, use, recipient, cast("Action", action), _aware(when), nv)
                )
        return out

    def consent_stamp(self) -> tuple[int, ...]:
        """Newest ledger index of each event kind that changes which assets have which consent: a
        consent import, a subject attribution, new assets (``ingest_batch``). Each is logged in the
        transaction that makes the change, so an unchanged stamp means cached consent sets still hold
        (assets forgotten by an erasure leave ids that are never reused and no dataset may read)."""
        from disgorge.catalog.stamps import ledger_tops

        with self.session() as s:
            tops = ledger_tops(s)
        return tuple(tops[k] for k in CONSENT_KINDS)

    def cache_stamp(self) -> tuple[int, ...]:
        """Newest ledger index of every kind in :data:`~disgorge.catalog.stamps.CACHE_KINDS`: while it
        is unchanged, nothing a purpose check reads has changed (one grouped read per session)."""
        from disgorge.catalog.stamps import ledger_tops

        with self.session() as s:
            return tuple(ledger_tops(s).values())

    def provenance_by_notice(self) -> dict[int, tuple[Provenance, str]]:
        """Each notice's provenance template (categories filled per asset class by the caller)."""
        from disgorge.catalog.stamps import ledger_tops
        from disgorge.policy import Provenance

        cache: dict[str, Any] = self.__dict__.setdefault("_notices", {})
        with self.session() as s:  # kept while no ``source`` event (a new source or notice) is appended
            stamp = ledger_tops(s)["source"]
            if cache.get("stamp") != stamp:
                cache.update(rows=s.connection().execute(_NOTICES).all(), stamp=stamp)
            rows = cache["rows"]
        return {
            nid: (Provenance(name, version, tuple(uses), tuple(recipients), basis, ()), name)
            for nid, name, version, uses, recipients, basis in rows
        }

    def record_decision(self, rec: DecisionRecord, run_id: int | None = None) -> None:
        with self.session() as s:
            self._put_decision(s, rec, run_id)

    def record_decisions(self, recs: Sequence[DecisionRecord]) -> None:
        """Decisions of no run, in one transaction and one ledger append (a background recorder's)."""
        if not recs:
            return
        with self.session() as s:
            self._log_many(s, [self._put_decision(s, rec, None, log=False) for rec in recs])

    def record_run_inputs(self, run_id: int, inputs: list[tuple[str, int]], rec: DecisionRecord) -> None:
        """Add inputs (kind, id) to a run with the decision that allowed them, in one transaction."""
        with self.session() as s:
            self._put_decision(s, rec, run_id)
            self._link_many(s, [(kind, node_id, "run", run_id, "input") for kind, node_id in inputs])

    def start_checked_run(
        self,
        name: str,
        *,
        use: str,
        party: str,
        code_version: str | None,
        inputs: list[tuple[str, int]],
        rec: DecisionRecord | None,
    ) -> RunInfo:
        """A run, its inputs (kind, id) and the decision that allowed them, in one transaction: a
        gated run start is then one commit and one ledger append, and never half recorded."""
        with self.session() as s:
            info = self._new_run(s, name, use=use, party=party, code_version=code_version, log=False)
            events: list[tuple[str, dict[str, Any]]] = [
                ("run", {"run": info.uid, "name": name, "use": use, "party": party})
            ]
            rows = [  # a new run has no edges yet: no lookup before the insert
                {
                    "src_kind": kind,
                    "src_id": node_id,
                    "dst_kind": "run",
                    "dst_id": info.id,
                    "relation": "input",
                }
                for kind, node_id in dict.fromkeys(inputs)
            ]
            if rows:
                s.connection().execute(insert(cast(Table, Edge.__table__)), rows)
            if rec is not None:
                events.append(self._put_decision(s, rec, info.id, log=False))
            self._log_many(s, events)  # the run and its decision: one append to the ledger
            return info

    def _put_decision(
        self, s: Session, rec: DecisionRecord, run_id: int | None, *, log: bool = True
    ) -> tuple[str, dict[str, Any]]:
        """Add the decision's row; append its ledger event unless ``log`` is false (the caller does)."""
        row = {
            "uid": rec.uid,
            "kind": rec.kind,
            "use": rec.use,
            "recipient": rec.recipient,
            "at": rec.at,
            "policy_version": rec.policy_version,
            "inputs_digest": rec.inputs_digest,
            "inputs": rec.inputs,
            "allowed": rec.allowed,
            "denied": rec.denied,
            "by_reason": rec.by_reason,
            "run_id": run_id,
        }
        s.connection().execute(insert(cast(Table, Decision.__table__)), row)  # Core: on every run start
        event: tuple[str, dict[str, Any]] = (
            "decision",
            {
                "decision": rec.uid,
                "decision_kind": rec.kind,
                "use": rec.use,
                "recipient": rec.recipient,
                "policy_version": rec.policy_version,
                "inputs_digest": rec.inputs_digest,
                "allowed": rec.allowed,
                "denied": rec.denied,
            },
        )
        if log:
            self._log(s, *event)
        return event

    def attach_decision(self, uid: str, run_id: int) -> None:
        with self.session() as s:
            d = s.scalar(select(Decision).where(Decision.uid == uid))
            if d is not None:
                d.run_id = run_id

    def decisions(self, run_id: int | None = None) -> list[DecisionRecord]:
        with self.session() as s:
            q = select(Decision).order_by(Decision.id)
            if run_id is not None:
                q = q.where(Decision.run_id == run_id)
            return [
                DecisionRecord(
                    d.uid,
                    d.kind,
                    d.use,
                    d.recipient,
                    _aware(d.at),
                    d.policy_version,
                    d.inputs_digest,
                    list(d.inputs),
                    d.allowed,
                    d.denied,
                    dict(d.by_reason),
                )
                for d in s.scalars(q)
            ]


_NOTICES = select(
    Notice.id, Source.name, Notice.version, Notice.uses, Notice.recipients, Source.legal_basis
).join(Source, Notice.source_id == Source.id)
CONSENT_KINDS = ("consent_import", "subject_attribution", "ingest_batch")


def new_uid() -> str:
    return str(uuid.uuid4())


def _aware(when: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC."""
    from datetime import UTC

    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

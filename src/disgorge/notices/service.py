"""Recipients of erased data: their delivery channels (set by an admin, as signed statements), the
notices the executor writes and delivers through them, and the acknowledgements they sign with their
own keys. See :mod:`disgorge.trust.notices` for the documents and :mod:`disgorge.notices.channels` for
the channels."""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.access import require, roster
from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo, TargetInfo
from disgorge.errors import InputError, PolicyDenied, UsageError, VerificationFailed
from disgorge.ledger.note import NoteVerifier
from disgorge.model.roles import Principal
from disgorge.notices.channels import DeliveryFailed, deliver
from disgorge.notices.records import DELIVERED, WRITTEN, Records
from disgorge.trust import Identity, Signed, sign
from disgorge.trust.notices import (
    Binding,
    binding_body,
    build_notice,
    channel_problem,
    check_ack,
    check_binding,
    describe,
    dump_notice,
    keyed_content,
    sign_notice,
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def party_name(party: str) -> str:
    """A party as runs name it, refused when empty or holding control characters."""
    name = party.strip()
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UsageError(f"recipient party {party!r} must be a non-empty name on one line")
    return name


@dataclass
class Recipients:
    """Channel bindings for one principal: an admin sets them, anyone on the roster reads them."""

    store: CatalogStore
    principal: Principal
    identity: Identity | None = None

    def set_channel(
        self, party: str, *, webhook: str | None = None, command: str | None = None, key: str | None = None
    ) -> Binding:
        """Bind ``party`` to a channel (and the key it acknowledges with): a ``recipient.set``
        statement signed with the caller's identity, which must be an admin's."""
        t = self.template(party, webhook=webhook, command=command, key=key)
        if (
            not self.principal.managed
            or self.identity is None
            or self.principal.key != self.identity.public_key
        ):
            raise PolicyDenied(
                "a delivery channel is a statement signed with an admin's identity, and none is loaded",
                hint="set DISGORGE_IDENTITY to your identity file (the catalog must have a roster: disgorge init)",
            )
        return self.submit(
            sign(self.identity, t["kind"], catalog=t["catalog"], about=t["about"], body=t["body"])
        )

    def template(
        self, party: str, *, webhook: str | None = None, command: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """The ``recipient.set`` statement for ``party``, checked, less what its signer adds (a client
        signs it with the admin's own key and sends it to :meth:`submit`)."""
        require(self.principal, "recipient.write")
        name = party_name(party)
        if (webhook is None) == (command is None):
            raise UsageError("give exactly one of --webhook URL or --command CMD")
        channel = (
            {"kind": "webhook", "url": webhook}
            if webhook is not None
            else {"kind": "command", "command": command}
        )
        problem = channel_problem(channel)
        if problem:
            raise UsageError(
                f"channel for {name!r}: {problem}",
                hint="e.g. --webhook https://recipient.example/disgorge/notices",
            )
        if key is not None:
            key = key.strip()
            NoteVerifier.parse(key)  # InputError naming the malformed key
        current = roster(self.store)
        from disgorge.trust.statements import FORMAT

        return {
            "format": FORMAT,
            "kind": "recipient.set",
            "catalog": current.catalog,
            "about": name,
            "body": binding_body(channel, key, current.digest()),
        }

    def submit(self, signed: Signed) -> Binding:
        """Record a binding already signed (by the server's client, say): refused unless it verifies."""
        require(self.principal, "recipient.write")
        st = self.store.statements
        binding = check_binding(st.catalog_id(), self.store.ledger_size(), signed, st.roster())
        return replace(binding, index=st.add(signed))

    def list(self) -> tuple[list[Binding], list[str]]:
        """Each party's current binding, and the bindings set aside because they do not verify."""
        require(self.principal, "read")
        current, problems = Records(self.store).all_current()
        return sorted(current.values(), key=lambda b: b.party), problems

    def record_ack(self, signed: Signed) -> dict[str, Any]:
        require(self.principal, "notice.record")
        return record_ack(self.store, signed)


def record_ack(store: CatalogStore, signed: Signed) -> dict[str, Any]:
    """Verify a recipient's signed acknowledgement and append it to the ledger (idempotent).

    It counts only if it is about a notice this catalog delivered, and is signed by the key that the
    admin-signed binding the notice was delivered under names; the signature is its own authority, so
    this needs no roster member (the HTTP callback calls it for the recipient)."""
    what = f"the acknowledgement by {signed.principal!r}"
    if signed.kind != "notice.ack":
        raise VerificationFailed(f"{what} is a {signed.kind} statement, not notice.ack")
    records = Records(store)
    delivery = records.delivery_of(signed.about)
    if delivery is None:
        raise VerificationFailed(
            f"{what} is about notice {signed.about[:16]}, which this catalog has not delivered "
            "(an acknowledgement for another notice, or of one not delivered yet)"
        )
    _, event = delivery
    notice = event["notice"]
    binding = records.by_digest(str(notice["channel"]))
    if binding is None:
        raise VerificationFailed(
            f"{what}: the channel binding notice {signed.about[:16]} was delivered under is no longer in the "
            "ledger as it was signed (edited or removed)"
        )
    check_ack(signed, notice, binding, what)
    out = {
        "notice_id": signed.about,
        "plan_id": notice["plan_id"],
        "party": notice["party"],
        "acknowledged_by": signed.principal,
        "acknowledged_at": signed.statement["at"],
    }
    existing = [i for i, s in records.acks(signed.about) if s.key == signed.key]
    if existing:
        return {**out, "ledger_index": existing[0], "recorded": False}
    return {**out, "ledger_index": store.statements.add(signed), "recorded": True}


class NoticeSigner(Protocol):
    """The home's log key (``proof.SigningIdentity``): notices are signed with it."""

    @property
    def name(self) -> str: ...

    @property
    def origin(self) -> str: ...

    def private_key(self) -> Ed25519PrivateKey: ...


@dataclass(frozen=True)
class Notifier:
    """Writes each recipient's notice in the home, then delivers it through the party's channel."""

    store: CatalogStore
    notices_dir: Path
    signer: NoticeSigner

    def notify(self, plan: PlanInfo, target: TargetInfo) -> tuple[str, str]:
        """(journal state, evidence): ``done`` only once the channel accepted the notice; ``skipped``
        without a channel, ``failed`` when the channel refused (both retried by the next run)."""
        party = target.uri.removeprefix("party:")
        records = Records(self.store)
        binding = records.current(party)
        doc, path = self._write(plan, party, list(target.identity.get("runs", [])), binding, records)
        nid = doc["notice_id"]
        if binding is None:
            return "skipped", (
                f"notice {nid[:16]} written to {path}; no delivery channel for {party}: disgorge recipient set "
                f"{shlex.quote(party)} (--webhook https://URL | --command CMD) [--key KEY], then run the plan again"
            )
        done = records.delivery_of(nid)
        if done is not None:
            return "done", f"notice {nid[:16]} already delivered to {party} at {done[1]['delivered_at']}"
        try:
            answer = deliver(binding.channel, path.read_bytes(), path=path, notice_id=nid, party=party)
        except DeliveryFailed as exc:
            return "failed", (
                f"delivery of notice {nid[:16]} to {party} by {binding.channel['kind']} failed: {exc}; "
                "it is retried on the next run"
            )
        written = records.written(plan.id, party)
        self.store.log_event(
            DELIVERED,
            {
                "plan_id": plan.id,
                "party": party,
                "notice_id": nid,
                "notice": doc["notice"],
                "channel": binding.channel["kind"],
                "answer": answer,
                "written_at": next(d["at"] for _, d in written if d["notice_id"] == nid),
                "delivered_at": _now(),
            },
        )
        return "done", f"notice {nid[:16]} delivered to {party} by {describe(binding.channel)} ({answer})"

    def _write(
        self, plan: PlanInfo, party: str, runs: list[str], binding: Binding | None, records: Records
    ) -> tuple[dict[str, Any], Path]:
        """Write the signed notice (keyed hashes only, mode 0600); log it the first time it is written."""
        from disgorge.catalog.members import member_rows
        from disgorge.catalog.schema import Asset

        store = self.store
        salt = store.hasher.tag("notice salt", f"{plan.id}\0{party}")
        with store.session() as s:
            assets = store.plan_assets(plan.id)
            content = [keyed_content(salt, sha) for _, sha in member_rows(s, assets, [Asset.sha256])]
        artifacts = [
            str(t.identity["sha256"])
            for t in store.targets(plan.id, kinds=("model_copy", "artifact_copy"))
            if t.identity.get("sha256")
        ]
        notice, keyed = build_notice(
            catalog=store.statements.catalog_id(),
            origin=self.signer.origin,
            plan={
                "plan_id": plan.id,
                "legal_basis": plan.legal_basis,
                "reason": plan.reason,
                "deadline": plan.deadline,
            },
            party=party,
            runs=runs,
            binding=binding,
            salt=salt,
            content=content,
            artifacts=artifacts,
        )
        doc = sign_notice(notice, keyed, self.signer.private_key(), self.signer.name)
        self.notices_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.notices_dir / f"{plan.id[:16]}-{hashlib.sha256(party.encode()).hexdigest()[:12]}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(dump_notice(doc))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if not any(d.get("notice_id") == doc["notice_id"] for _, d in records.written(plan.id, party)):
            store.log_event(WRITTEN, {"plan_id": plan.id, "party": party, "notice_id": doc["notice_id"]})
        return doc, path


def load_ack(path: Path) -> Signed:
    """An acknowledgement file (a signed ``notice.ack`` statement, as ``notice ack`` writes it)."""
    import json

    from disgorge.trust import parse

    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"acknowledgement {path}: cannot read it ({exc.strerror})") from exc
    except ValueError as exc:
        raise InputError(f"acknowledgement {path} is not JSON ({exc})") from exc
    try:
        return parse(doc, f"acknowledgement {path}")
    except VerificationFailed as exc:
        raise InputError(exc.message, hint="give the file `disgorge notice ack … -o FILE` wrote") from exc

"""An admin's catalog-wide settings, the same through a server as locally: the roster of principals,
recipients' delivery channels, the policy, storage roots and the ledger's witnesses.

Roster and channel changes are statements an admin signs with their own key; here they are checked
(:meth:`roster_template`, :meth:`recipient_template`) before anyone signs, and verified again when
submitted, so a server records only what the person holding the key said."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from disgorge.errors import InputError, UsageError
from disgorge.facade.records import RecordsMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from disgorge.access import RosterService
    from disgorge.model.capture import CapturedRun
    from disgorge.trust import Signed
    from disgorge.trust.notices import Binding


class AdminMixin(RecordsMixin):
    # the roster
    @property
    def roster(self) -> RosterService:
        from disgorge.access import RosterService

        return RosterService(self.store)

    def principals(self) -> list[dict[str, Any]]:
        self._may("read")
        return self.roster.members()

    def roster_template(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._may("roster.write")
        return self.roster.template(kind, name, body)

    def change_roster(self, kind: str, name: str, **body: Any) -> dict[str, Any]:
        """Add, update or revoke a principal: a statement signed with the caller's (an admin's) key."""
        t = self.roster_template(kind, name, body)
        if self.identity is None:
            raise UsageError("roster changes are signed: set DISGORGE_IDENTITY to your identity file")
        from disgorge.trust import sign

        return self.submit_roster(
            sign(self.identity, kind, catalog=t["catalog"], about=t["about"], body=t["body"])
        )

    def submit_roster(self, signed: Signed) -> dict[str, Any]:
        """Record an admin's signed roster statement; the member as the roster now has them."""
        self._may("roster.write")
        self.own_statement(signed)
        self.roster.apply(signed)
        return next(m for m in self.roster.members() if m["name"] == signed.about)

    # recipients' channels
    def recipient_template(self, party: str, **channel: str | None) -> dict[str, Any]:
        return self.recipients.template(party, **channel)

    def submit_recipient(self, signed: Signed) -> Binding:
        self.own_statement(signed)
        return self.recipients.submit(signed)

    # a subject attribution corrected
    def set_subject(self, sha256: str, subject: str, *, reason: str) -> tuple[Any, bool]:
        """Attribute one asset to ``subject`` (ledgered with ``reason``); the asset and whether it changed."""
        self._may("asset.write")
        return self.store.set_subject(sha256, subject, reason=reason)

    # lineage captured elsewhere
    def record_captured(self, runs: Sequence[CapturedRun], *, origin: str) -> dict[str, Any]:
        """Upsert runs another system recorded (an MLflow history), 500 per transaction; what was
        recorded, and each input that resolved to nothing registered."""
        self._may("lineage.write")
        outcomes = []
        for i in range(0, len(runs), 500):
            outcomes += self.store.apply_captured_runs(runs[i : i + 500])
        unresolved = [
            {"run": r.uid, "name": r.name, "input": uri, "reason": why}
            for r, o in zip(runs, outcomes, strict=True)
            for uri, why in o.unknown
        ]
        return {
            "tracking_uri": origin,
            "runs": len(runs),
            "new_runs": sum(o.created for o in outcomes),
            "inputs_resolved": sum(len(o.resolved) for o in outcomes),
            "models": sum(len(o.models) for o in outcomes),
            "unresolved": unresolved,
        }

    # the policy
    def policy_source(self) -> tuple[str, str]:
        """The policy in force as (text, version label); the built-in default if none was set."""
        self._may("read")
        from disgorge.policy import DEFAULT_POLICY
        from disgorge.shared import policy_text

        return policy_text(self.store, self.home) or (DEFAULT_POLICY, "built-in default")

    def set_policy(self, path: Path) -> int:
        """Store a new policy version for every home on the catalog (admins only)."""
        from disgorge.policy import read_policy_file

        return self.put_policy(read_policy_file(path), origin=str(path))

    def put_policy(self, text: str, *, origin: str) -> int:
        self._may("key.manage")
        from disgorge.shared import set_policy

        return set_policy(self.store, text, origin=origin)

    # storage roots
    def storage_roots(self) -> list[str]:
        self._may("read")
        return [str(r) for r in self.storage_config.roots]

    def set_s3(self, settings: dict[str, str]) -> dict[str, str]:
        """The S3 endpoint for every home on the catalog; secrets given in clear stay in this home."""
        self._may("storage.write")
        from disgorge.shared import set_s3

        self.__dict__.pop("_storage", None)
        return set_s3(self.store, self.home, settings)

    # the ledger's witnesses
    def witnesses(self) -> list[dict[str, str]]:
        self._may("read")
        from disgorge.ledger.cosignature import WITNESSES

        return list((self.store.settings.get(WITNESSES) or {}).get("list", []))

    def add_witness(self, url: str, key: str) -> list[dict[str, str]]:
        """Have the witness at ``url`` cosign every checkpoint (a URL already there gets the new key)."""
        self._may("key.manage")
        from disgorge.ledger.cosignature import WITNESSES, CosignatureVerifier

        CosignatureVerifier.parse(key.strip())  # a malformed key is an input error
        if not url.startswith(("http://", "https://")):
            raise InputError(f"witness URL {url!r} is not http(s)", hint="e.g. https://witness.example/")
        doc = self.store.settings.get(WITNESSES) or {"list": []}
        items = [w for w in doc["list"] if w["url"] != url] + [{"url": url, "key": key.strip()}]
        self.store.settings.put(WITNESSES, {"list": items})
        return items

"""Erasure and proof: storage roots, the signed erasure workflow, recipients, the ledger's proofs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from disgorge.facade.consent import ConsentMixin

if TYPE_CHECKING:
    from disgorge.erasure.signing import SignedErasures
    from disgorge.notices import Recipients
    from disgorge.proof import Proofs
    from disgorge.storage import StorageConfig


class ErasingMixin(ConsentMixin):
    @property
    def storage_config(self) -> StorageConfig:
        """Where erasure may act: the home's ``storage.json`` (roots, S3 endpoint) plus the environment."""
        cached: StorageConfig | None = self.__dict__.get("_storage")
        if cached is None:
            from disgorge.shared import storage_config

            cached = storage_config(self.store, self.home)
            self.__dict__["_storage"] = cached
        return cached

    def add_storage_root(self, root: Path) -> list[str]:
        self._may("storage.write")
        from disgorge.shared import add_root

        self.__dict__.pop("_storage", None)
        return add_root(self.store, self.home, root)

    @property
    def proofs(self) -> Proofs:
        """The ledger's checkpoints, audits and inclusion proofs, signed with the home's key."""
        from disgorge.proof import Proofs, SigningIdentity

        return Proofs(self.store, SigningIdentity.ensure(self.home.path / "keys"))

    def certificate(self, plan: str, *, cosigner: Any = None) -> dict[str, Any]:
        """A signed certificate of destruction for a completed, verified erasure."""
        self._may("erase.certificate")
        from disgorge.proof import SigningIdentity, issue_certificate

        return issue_certificate(
            self.store, SigningIdentity.ensure(self.home.path / "keys"), plan, cosigner=cosigner
        )

    def asset_proof(self, plan: str, sha256: str) -> dict[str, Any]:
        """The proof that one content (by its sha256) is in a plan's erased set, for its data subject."""
        self._may("read")
        from disgorge.proof.service import asset_proof

        return asset_proof(self.store, plan, sha256)

    @property
    def erasures(self) -> SignedErasures:
        """The erasure workflow, each statement signed with this catalog's caller's identity."""
        from disgorge.erasure import Erasures
        from disgorge.erasure.signing import SignedErasures
        from disgorge.notices import Notifier
        from disgorge.proof import SigningIdentity

        notices = self.home.path / "notices"
        service = Erasures(
            self.store,
            self.indexes,
            self.storage_config,
            notices,
            self.policy,
            self.principal,
            Notifier(self.store, notices, SigningIdentity.ensure(self.home.path / "keys")),
            host=self,
        )
        return SignedErasures(service, self.identity)

    @property
    def recipients(self) -> Recipients:
        """Recipients' delivery channels (set by an admin, signed) and their acknowledgements."""
        from disgorge.notices import Recipients

        return Recipients(self.store, self.principal, self.identity)

"""What every facade group shares: the home, the catalog store and the principal acting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from disgorge.access import require
from disgorge.catalog import CatalogStore
from disgorge.errors import PolicyDenied
from disgorge.model.roles import Principal
from disgorge.settings import Home

if TYPE_CHECKING:
    from disgorge.trust import Identity, Signed


class FacadeBase:
    home: Home
    store: CatalogStore
    identity: Identity | None
    principal: Principal

    def _may(self, action: str) -> None:
        require(self.principal, action)

    def own_statement(self, signed: Signed) -> None:
        """Refuse a statement not signed by the principal this catalog acts as: a token acts only as its
        principal, so nobody submits a statement another person signed (even one that verifies)."""
        p = self.principal
        if signed.principal != p.name or signed.key != p.key:
            raise PolicyDenied(
                f"the statement is signed as {signed.principal!r}, and you act as {p.name!r}: each person "
                "signs with their own key and sends it with their own token"
            )

"""What every facade group shares: the home, the catalog store and the principal acting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from disgorge.access import require
from disgorge.catalog import CatalogStore
from disgorge.model.roles import Principal
from disgorge.settings import Home

if TYPE_CHECKING:
    from disgorge.trust import Identity


class FacadeBase:
    home: Home
    store: CatalogStore
    identity: Identity | None
    principal: Principal

    def _may(self, action: str) -> None:
        require(self.principal, action)

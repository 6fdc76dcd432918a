"""Near copies of erased content found in the catalog (PDQ), flagged under the plan that erased it."""

from __future__ import annotations

from sqlalchemy import insert, select

from disgorge.catalog.consent import ConsentMixin
from disgorge.catalog.schema import AssetFlag
from disgorge.catalog.stamps import ledger_tops

_FLAGS = select(AssetFlag.asset_id, AssetFlag.plan_id, AssetFlag.distance)


class FlagsMixin(ConsentMixin):
    def flag_assets(self, plan_id: str, found: dict[int, int]) -> int:
        """Record assets found to be near duplicates of content erased under ``plan_id``."""
        with self.session() as s:
            have = set(s.scalars(select(AssetFlag.asset_id).where(AssetFlag.plan_id == plan_id)))
            rows = [
                {"asset_id": a, "plan_id": plan_id, "distance": d}
                for a, d in sorted(found.items())
                if a not in have
            ]
            if rows:
                s.execute(insert(AssetFlag), rows)
                # the gate keeps the flags between decisions while this kind's newest index holds
                self._log(s, "asset_flags", {"plan_id": plan_id, "flagged": len(rows)})
            return len(rows)

    def flagged(self) -> dict[int, tuple[str, int]]:
        """Assets flagged as near duplicates of erased content: asset id -> (plan id, distance).

        Every decision reads them: kept by the store while no ``asset_flags`` event (flags added or
        removed) is appended, in this process or another. The mapping is shared: read it, never change it."""
        with self.session() as s:
            stamp = ledger_tops(s)["asset_flags"]
            hit: tuple[int, dict[int, tuple[str, int]]] | None = self.__dict__.get("_flags")
            if hit is None or hit[0] != stamp:
                rows = {a: (p, d) for a, p, d in s.connection().execute(_FLAGS)}  # Core, built once
                hit = self.__dict__["_flags"] = (stamp, rows)
        return hit[1]

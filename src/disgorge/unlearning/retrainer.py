"""The SISA retrainer the erasure planner finds through the entry point group ``disgorge.retrainers``
(see :mod:`disgorge.erasure.retrain`): offers are planned from the manifest alone (no torch), retrains
run :func:`~disgorge.unlearning.forget.execute_forget`."""

from __future__ import annotations

from typing import Any

from pyroaring import BitMap

from disgorge.catalog import CatalogStore
from disgorge.erasure.retrain import Offer
from disgorge.errors import InputError, NotFoundError, UsageError, VerificationFailed
from disgorge.unlearning.forget import execute_forget, forget_plan
from disgorge.unlearning.layout import load_ensemble, read_bytes_verified


class SisaRetrainer:
    name = "sisa"

    def offer(self, store: CatalogStore, model: str, erased: BitMap) -> Offer | None:
        try:
            plan = forget_plan(store, model, erased)
        except (UsageError, NotFoundError, VerificationFailed, InputError):
            return None  # not SISA, or its files are gone or altered: it can only be destroyed
        if not plan.shards:
            return None
        _, manifest, _ = load_ensemble(store, model)
        config = manifest.config
        summary = (
            f"SISA ensemble of {config['shards']} shards x {config['slices']} slices; "
            f"{len(plan.erased)} erased members in shard(s) {', '.join(str(s.shard) for s in plan.shards)}"
        )
        return Offer(
            self.name,
            plan.model,
            plan.model_sha256,
            plan.to_json(),
            plan.cost,
            plan.full_retrain,
            summary,
            plan.erased,
        )

    def retrain(self, host: Any, model: str, erased: BitMap) -> dict[str, Any]:
        from disgorge.api import Catalog

        if not isinstance(host, Catalog):
            raise UsageError("a SISA retrain runs through a disgorge.Catalog")
        old_art, _, _ = load_ensemble(host.store, model)
        old_doc = read_bytes_verified(old_art, "model").decode()
        plan = forget_plan(host.store, model, erased, superseded_ok=True)
        result = execute_forget(host, plan)
        new_art = host.store.resolve_artifact(result.model, kind="model")
        new_doc = read_bytes_verified(new_art, "model").decode()
        return {
            "model": plan.model,
            "new_model": result.model,
            "new_sha256": result.model_sha256,
            "forget_plan": plan.id,
            "shards": [s.shard for s in plan.shards],
            "slices": sum(len(s.slices) for s in plan.shards),
            "dispositions": result.dispositions(),
            "ensemble": {"old": old_doc, "new": new_doc},
        }


RETRAINER = SisaRetrainer()

"""Retraining instead of destroying: the protocol a retrainer implements, where retrainers are found,
and the ``retrain`` target kind's handler.

The erasure layer sits below the training code (``disgorge.unlearning`` needs the facade, runs and
torch), so it never imports it: a retrainer registers itself, by :func:`register` or through the entry
point group ``disgorge.retrainers`` (loaded on first use). A retrainer says which affected models it
can retrain exactly and at what cost (:meth:`Retrainer.offer`, pure, no torch), and carries out a retrain
(:meth:`Retrainer.retrain`) given the facade that runs the erasure.

Batching: the handler retrains a model once for every approved plan that chose to retrain it and has
not yet done so, with the union of their erased members, and logs one ``model_retrained`` event per
plan covered; a plan whose event already exists is done without training again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from pyroaring import BitMap

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import TargetInfo
from disgorge.errors import DisgorgeError, VerificationFailed

GROUP = "disgorge.retrainers"
EVENT = "model_retrained"


@dataclass(frozen=True, slots=True)
class Offer:
    """What retraining ``model`` instead of destroying it would do and cost, for the plan to show."""

    retrainer: str
    model: str
    model_sha256: str
    plan: dict[str, Any]
    """The retrainer's own plan (JSON), frozen into the plan's target and so signed with it."""
    retrain: dict[str, Any]
    """Cost of the retrain: shards, slices, estimated_seconds."""
    destroy: dict[str, Any]
    """Cost of replacing the model after destroying it (a full retrain): shards, slices, estimated_seconds."""
    summary: str
    members: tuple[int, ...] = ()
    """The erased asset ids that are members of the model: what the retrain removes (signed with the plan)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "retrainer": self.retrainer,
            "model": self.model,
            "sha256": self.model_sha256,
            "summary": self.summary,
            "options": {"destroy": self.destroy, "retrain": self.retrain},
        }


class Retrainer(Protocol):
    name: str

    def offer(self, store: CatalogStore, model: str, erased: BitMap) -> Offer | None:
        """An offer to retrain ``model`` without ``erased``, or None if this retrainer cannot."""

    def retrain(self, host: Any, model: str, erased: BitMap) -> dict[str, Any]:
        """Retrain ``model`` without ``erased`` through ``host`` (the facade running the erasure);
        idempotent (a second call returns the first one's result). Returns ``model``, ``new_model``,
        ``new_sha256``, ``shards``, ``dispositions`` (per model, for the certificate) and ``ensemble``
        (the old and new aggregate documents, as text)."""


_REGISTERED: dict[str, Retrainer] = {}
_LOADED = False


def register(retrainer: Retrainer) -> None:
    _REGISTERED[retrainer.name] = retrainer


def retrainers() -> dict[str, Retrainer]:
    """Registered retrainers, those of the entry point group included (a broken one is skipped: it
    then offers nothing, and the planner destroys what it would have retrained)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for ep in entry_points(group=GROUP):
            if ep.name in _REGISTERED:
                continue
            try:
                found = ep.load()
            except Exception:  # noqa: S112 - an uninstallable retrainer offers nothing
                continue
            _REGISTERED.setdefault(ep.name, found() if isinstance(found, type) else found)
    return dict(_REGISTERED)


def offers(store: CatalogStore, models: list[dict[str, Any]], erased: BitMap) -> list[Offer]:
    """Offers for the affected models that combine others (``ensemble_of`` parents), one per model."""
    out: list[Offer] = []
    candidates = [
        m
        for m in models
        if m.get("name") and any(p["relation"] == "ensemble_of" for p in m.get("parents", []))
    ]
    found = retrainers() if candidates else {}
    for m in candidates:
        for r in found.values():
            try:
                offer = r.offer(store, m["name"], erased)
            except DisgorgeError:
                offer = None
            if offer is not None and offer.model_sha256 == m["sha256"]:
                out.append(offer)
                break
    return out


def target_identity(offer: Offer) -> dict[str, Any]:
    return {
        "retrainer": offer.retrainer,
        "model": offer.model,
        "model_sha256": offer.model_sha256,
        "plan": offer.plan,
        "cost": offer.retrain,
        "members": sorted(offer.members),
    }


def retrain_events(store: CatalogStore, plan_id: str) -> list[dict[str, Any]]:
    """The ``model_retrained`` events logged for a plan (one per model it retrained)."""
    out = []
    for _, text in store.find_ledger_entries(EVENT, plan_id):
        doc = json.loads(text)
        if doc.get("plan_id") == plan_id:
            out.append(doc)
    return out


def _event_for(store: CatalogStore, plan_id: str, model_sha256: str) -> dict[str, Any] | None:
    return next((e for e in retrain_events(store, plan_id) if e.get("model_sha256") == model_sha256), None)


def _batch(
    store: CatalogStore, model_sha256: str, own: str, own_target: TargetInfo
) -> list[tuple[str, BitMap]]:
    """Every approved plan with a retrain of this model still to do (this one first), and the members
    its signed target says to remove (the target is part of the plan id, so of every signature on it)."""
    from disgorge.access.plans import plan_authorization
    from disgorge.erasure.execute import verify_frozen

    out = [(own, BitMap(own_target.identity.get("members") or []))]
    for p in store.list_plans():
        if p.id == own or p.status == "done":
            continue
        pending = [
            t
            for t in store.targets(p.id, kinds=("retrain",), states=("pending", "failed"))
            if t.identity.get("model_sha256") == model_sha256
        ]
        if not pending or _event_for(store, p.id, model_sha256) is not None:
            continue
        try:
            verify_frozen(store, p)  # its targets are still the ones its approvers signed
            if not plan_authorization(store, p).complete:
                continue
        except VerificationFailed:
            continue
        out.append((p.id, BitMap(pending[0].identity.get("members") or [])))
    return out


def run_retrain(
    store: CatalogStore, plan_id: str, host: Any, t: TargetInfo, log: Callable[[str, dict[str, Any]], int]
) -> tuple[str, str]:
    """Carry out one retrain target (see the module docstring for batching); (journal state, evidence)."""
    ident = t.identity
    sha = str(ident["model_sha256"])
    done = _event_for(store, plan_id, sha)
    if done is None:
        found = retrainers().get(str(ident["retrainer"]))
        if found is None:
            return "failed", (
                f"no retrainer {ident['retrainer']!r} is installed (pip install 'disgorge[torch]'); "
                "resolve this target to destroy the model instead"
            )
        if host is None:
            return "failed", "the erasure was started without a catalog facade to retrain through"
        batch = _batch(store, sha, plan_id, t)
        erased = BitMap()
        for _, assets in batch:
            erased |= assets
        result = found.retrain(host, str(ident["model"]), erased)
        plans = sorted(p for p, _ in batch)
        for p, _ in reversed(batch):  # this plan's event last: its presence means the batch is logged
            if _event_for(store, p, sha) is None:
                log(
                    EVENT,
                    {"plan_id": p, "batch": plans, "retrainer": found.name, "model_sha256": sha, **result},
                )
        done = _event_for(store, plan_id, sha)
        assert done is not None
    others = [p[:12] for p in done["batch"] if p != plan_id]
    return "done", (
        f"retrained {done['model']} as {done['new_model']} (sha256 {done['new_sha256'][:16]}…), shards "
        f"{done['shards']}" + (f", batched with plan(s) {', '.join(others)}" if others else "")
    )


def retrain_remains(store: CatalogStore, plan_id: str, t: TargetInfo) -> str | None:
    """A done retrain whose new model is not in the catalog under the recorded hash is not done."""
    if t.state == "resolved":
        return None
    event = _event_for(store, plan_id, str(t.identity["model_sha256"]))
    if t.state != "done" or event is None:
        return f"journal says {t.state}: {t.evidence}"
    from disgorge.errors import NotFoundError

    try:
        art = store.resolve_artifact(str(event["new_model"]), kind="model")
    except NotFoundError:
        return f"the retrained model {event['new_model']} is not in the catalog"
    return (
        None if art.sha256 == event["new_sha256"] else f"{event['new_model']} changed since it was retrained"
    )


def describe(offer: Mapping[str, Any]) -> str:
    """One line for a person: both options and their costs."""
    d, r = offer["options"]["destroy"], offer["options"]["retrain"]
    return (
        f"destroy (replacing it is a full retrain: {d['shards']} shards, {d['slices']} slices, "
        f"~{d['estimated_seconds']:.1f} s) or retrain ({r['shards']} shards, {r['slices']} slices, "
        f"~{r['estimated_seconds']:.1f} s)"
    )

"""Checking a certificate's ``retrained`` models offline, against the ``model_retrained`` ledger events
it carries (role ``retrain``, each with an inclusion proof) and the aggregate documents in them.

A retrained model's entry is::

    {"name", "sha256": old weight hash, "disposition": "retrained", "copies",
     "detail": {...the logged disposition: old_sha256, new_model, new_sha256, and for a shard
                shard, slices_retrained, restarted_from, member_set_digests, checkpoints_destroyed;
                for the aggregate role "sisa_aggregate", manifest digests, shards_retrained, torch,
                determinism, plus "ensemble": {"old", "new"} (the aggregate files' text) and "batch"}}

What is checked: every retrained entry is exactly one logged disposition and every logged disposition
is listed (none hidden, none invented); the old and new aggregate documents hash to the aggregate's
old and new weight hashes and name the old and new manifests; a retrained shard's old and new hashes
are the ones the old and new aggregate combine, and every other shard is combined unchanged; digests
are sha256 hex; the determinism settings say deterministic algorithms were on. Editing any retrained
hash breaks one of these even if the certificate is re-signed, because the ledger entry is proven in
the (witnessed) checkpoint. Pure code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from disgorge.errors import DisgorgeError

_HEX = re.compile(r"[0-9a-f]{64}")
SHARD_KEYS = ("old_sha256", "new_model", "new_sha256", "shard", "slices_retrained", "member_set_digests")
AGGREGATE_KEYS = ("old_sha256", "new_model", "new_sha256", "manifest_sha256", "old_manifest_sha256")


def expected_details(event: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """old weight hash -> (model name, the certificate's detail) for each disposition of an event."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for d in event.get("dispositions") or []:
        detail = {k: v for k, v in d.items() if k not in ("model", "disposition")}
        if d.get("role") == "sisa_aggregate":
            detail["ensemble"] = event.get("ensemble")
            detail["batch"] = event.get("batch")
        out[str(d.get("old_sha256"))] = (str(d.get("model")), detail)
    return out


def _hex(value: Any, what: str, error: type[DisgorgeError]) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise error(f"{what} is not a sha256 hex digest")
    return value


def _doc(text: Any, sha: str, what: str, error: type[DisgorgeError]) -> dict[str, Any]:
    if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != sha:
        raise error(f"the {what} aggregate document does not hash to the {what} weight hash {sha[:16]}…")
    try:
        doc = json.loads(text)
        shards = {int(s["shard"]): str(s["sha256"]) for s in doc["shards"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise error(f"the {what} aggregate document is not an ensemble document ({exc})") from exc
    return {"manifest": doc.get("manifest_sha256"), "shards": shards}


def check_retrained(
    models: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    plan_id: str,
    error: type[DisgorgeError],
) -> str | None:
    """Raise ``error`` naming the first retrained claim that does not hold; a summary line if any."""
    expected: dict[str, tuple[str, dict[str, Any]]] = {}
    for e in events:
        if e.get("kind") != "model_retrained" or e.get("plan_id") != plan_id:
            raise error("a retrain entry is not this plan's model_retrained event")
        expected.update(expected_details(e))
    listed = {str(m["sha256"]): m for m in models if m["disposition"] == "retrained"}
    for sha, m in listed.items():
        if sha not in expected:
            raise error(
                f"model {m['name']!r} is listed as retrained, but no logged retrain replaced {sha[:16]}…"
            )
        name, detail = expected[sha]
        if m["name"] != name or m["detail"] != detail:
            raise error(f"model {m['name']!r}: its retrain detail differs from the logged retrain")
    missing = sorted(set(expected) - set(listed))
    if missing:
        raise error(f"the ledger logs a retrain of {expected[missing[0]][0]!r} that the certificate omits")
    shards_of = {
        str(d["new_model"]): d
        for d in (m["detail"] for m in listed.values())
        if d.get("role") == "sisa_shard"
    }
    aggregates = [m for m in listed.values() if m["detail"].get("role") == "sisa_aggregate"]
    for m in aggregates:
        _check_aggregate(m, list(shards_of.values()), error)
    for d in shards_of.values():
        for key in SHARD_KEYS:
            if key not in d:
                raise error(f"retrained shard {d.get('new_model')!r} has no {key}")
        _hex(d["new_sha256"], f"retrained shard {d['new_model']}'s new weight hash", error)
        for s in d["member_set_digests"]:
            _hex(s.get("digest"), f"member-set digest of {s.get('dataset')}", error)
    if not listed:
        return None
    return (
        f"{len(aggregates)} model(s) retrained exactly ({len(shards_of)} shard(s)), not destroyed: old and new "
        "weight hashes match the logged retrain, the old and new aggregate documents, and the member-set digests"
    )


def _check_aggregate(
    m: Mapping[str, Any], shards: list[Mapping[str, Any]], error: type[DisgorgeError]
) -> None:
    d = m["detail"]
    for key in AGGREGATE_KEYS:
        if key not in d:
            raise error(f"retrained aggregate {m['name']!r} has no {key}")
    ensemble = d.get("ensemble") or {}
    old = _doc(ensemble.get("old"), str(m["sha256"]), "old", error)
    new = _doc(ensemble.get("new"), _hex(d["new_sha256"], "the new aggregate's hash", error), "new", error)
    if old["manifest"] != d["old_manifest_sha256"] or new["manifest"] != d["manifest_sha256"]:
        raise error(f"aggregate {m['name']!r}: its documents name other manifests than the detail says")
    if set(old["shards"]) != set(new["shards"]):
        raise error(f"aggregate {m['name']!r}: the new aggregate combines other shards than the old one")
    retrained = {int(s["shard"]): s for s in shards if s["old_sha256"] in old["shards"].values()}
    if sorted(retrained) != sorted(d.get("shards_retrained") or []):
        raise error(f"aggregate {m['name']!r}: the shards listed as retrained are not the ones it says")
    for shard, before in old["shards"].items():
        after = new["shards"][shard]
        if shard in retrained:
            s = retrained[shard]
            if before != s["old_sha256"] or after != s["new_sha256"]:
                raise error(
                    f"shard {shard} of {m['name']!r}: the aggregates combine {before[:12]}… -> {after[:12]}…, "
                    f"the certificate says {str(s['old_sha256'])[:12]}… -> {str(s['new_sha256'])[:12]}…"
                )
        elif before != after:
            raise error(
                f"shard {shard} of {m['name']!r} changed though the certificate says it was not retrained"
            )
    det = d.get("determinism") or {}
    if not isinstance(d.get("torch"), str) or det.get("deterministic_algorithms") is not True:
        raise error(f"aggregate {m['name']!r}: no torch version or deterministic settings recorded")

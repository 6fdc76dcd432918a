"""One handler per erasure target kind: how it is carried out, whether storage can reach it, and how a
verification checks it is gone.

The executor runs kinds in :data:`PHASES` order and never starts a phase whose prerequisites are not
all done: model files are destroyed only once their deployments are down, and the irreversible steps
that are not deletions (rebuilding datasets, notifying recipients, the catalog forgetting) wait until
every deletion has succeeded, so a failing deletion never leaves a half-executed plan that claims more
than happened.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo, TargetInfo
from disgorge.notices import Notifier
from disgorge.storage import Identity, StorageConfig, backend_for, reach
from disgorge.storage.delta import DeltaStorage, table_location

Outcome = tuple[TargetInfo, str, str]
"""(target, journal state, evidence)"""

OBJECT_KINDS = ("model_copy", "artifact_copy", "copy")
STATE_OF = {"deleted": "done", "already_gone": "done", "skipped_changed": "skipped"}


@dataclass(frozen=True, slots=True)
class Context:
    store: CatalogStore
    plan: PlanInfo
    storage: StorageConfig
    notices_dir: Path
    rehash: bool = False
    notifier: Notifier | None = None
    host: Any = None
    """The facade running the erasure: a retrainer trains through it (runs, consent checks)."""


@dataclass(frozen=True, slots=True)
class Handler:
    """What one target kind needs: ``run`` carries out a batch, ``remains`` says what a verification
    still finds (None: gone), ``storage_uri`` names the object storage must reach (None: nothing)."""

    kind: str
    run: Callable[[Context, list[TargetInfo]], list[Outcome]]
    remains: Callable[[Context, TargetInfo, BitMap], str | None]
    storage_uri: Callable[[TargetInfo], str | None] = lambda t: None
    batched: bool = False


def identity_of(t: TargetInfo) -> Identity:
    i = t.identity

    def num(key: str) -> int | None:
        return None if i.get(key) is None else int(i[key])

    return Identity(
        size=int(i.get("size") or 0),
        mtime_ns=num("mtime_ns"),
        inode=num("inode"),
        sha256=i.get("sha256"),
        etag=i.get("etag"),
        version_ids=tuple(i.get("version_ids") or ()),
    )


def _guarded(
    fn: Callable[[Context, TargetInfo], tuple[str, str]],
) -> Callable[[Context, list[TargetInfo]], list[Outcome]]:
    """One target at a time; an exception is that target's failure (journaled), never the run's."""

    def run(ctx: Context, targets: list[TargetInfo]) -> list[Outcome]:
        out: list[Outcome] = []
        for t in targets:
            try:
                state, evidence = fn(ctx, t)
            except Exception as exc:
                state, evidence = "failed", f"{type(exc).__name__}: {exc}"
            out.append((t, state, evidence))
        return out

    return run


# --- objects: copies of the data, model and artifact files ------------------------------------------
def _delete_objects(ctx: Context, batch: list[TargetInfo]) -> list[Outcome]:
    """Delete a batch (one URI scheme) through its backend; local folders are fsynced once per batch."""
    out: list[Outcome] = []
    try:
        backend = backend_for(batch[0].uri, ctx.storage)
        stream = backend.delete_many(((t.uri, identity_of(t)) for t in batch), rehash=ctx.rehash)
        for t, ev in zip(batch, stream, strict=False):
            if (
                ev.outcome == "already_gone" and t.state == "deleting"
            ):  # killed between the act and its record
                out.append(
                    (
                        t,
                        "done",
                        f"deleted: gone on resume after the intent to delete was journaled ({ev.detail})",
                    )
                )
            else:
                out.append((t, STATE_OF.get(ev.outcome, "failed"), f"{ev.outcome}: {ev.detail}"))
    except Exception as exc:  # the store failed mid-batch: what was reported stands, the rest failed
        out += [(t, "failed", f"{type(exc).__name__}: {exc}") for t in batch[len(out) :]]
    out += [(t, "failed", "the storage backend reported no outcome") for t in batch[len(out) :]]
    return out


# --- copies only their own system can delete (a model captured from MLflow) --------------------------
BY_HAND = ("models:/", "runs:/", "mlflow-artifacts:")


def by_hand(uri: str) -> str | None:
    """What to do by hand for a copy no storage backend reaches (None: a backend does).

    An MLflow model (``models:/ID``, ``runs:/RUN/PATH``, ``mlflow-artifacts:``) lives in a tracking server
    the catalog knows only by the URI it captured; MLflow's own delete is a soft delete that leaves the
    artifacts until ``mlflow gc``, so Disgorge neither calls it nor claims the model is gone: the target
    is skipped, with these steps, until an approver settles it (``erase resolve``)."""
    if not uri.startswith(BY_HAND):
        return None
    return (
        f"an MLflow model ({uri}) that no storage backend reaches: delete it in MLflow "
        "(MlflowClient().delete_logged_model(ID) and delete_model_version(NAME, V) for its registered "
        "versions, then `mlflow gc` to remove its artifacts), then have an approver settle this target "
        "with `disgorge erase resolve PLAN SEQ --reason …`"
    )


def _delete_copies(ctx: Context, batch: list[TargetInfo]) -> list[Outcome]:
    """A batch (one URI scheme) is either deleted through its backend or, out of every backend's
    reach, skipped with the steps to take by hand."""
    if by_hand(batch[0].uri) is not None:
        return [(t, "skipped", f"not deleted: {by_hand(t.uri)}") for t in batch]
    return _delete_objects(ctx, batch)


def _copy_uri(t: TargetInfo) -> str | None:
    return None if by_hand(t.uri) else t.uri


def by_hand_report(targets: list[TargetInfo]) -> dict[str, Any]:
    """Pending targets erasure will skip because only their own system can delete them."""
    items = [t for t in targets if t.state != "done" and t.kind in OBJECT_KINDS and by_hand(t.uri)]
    return {
        "count": len(items),
        "examples": [
            {"seq": t.seq, "kind": t.kind, "uri": t.uri, "state": t.state, "how": by_hand(t.uri)}
            for t in items[:20]
        ],
    }


def _object_remains(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    if t.uri.startswith(("keyed:", *BY_HAND)):  # a path forgotten once found gone, or out of our reach
        return _journal_remains(ctx, t, erased)
    return "still present" if backend_for(t.uri, ctx.storage).exists(t.uri) else None


# --- table rows --------------------------------------------------------------------------------------
def _delete_rows(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    table = backend_for(t.uri, ctx.storage)  # confined to the storage roots, with S3 credentials
    assert isinstance(table, DeltaStorage)
    rows = table.delete_rows(t.uri, t.identity["column"], list(t.identity["values"]))
    return "done", json.dumps(rows.to_json(), sort_keys=True, default=str)


def _rows_remain(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    if t.uri.startswith("keyed:"):
        return _journal_remains(ctx, t, erased)
    table = backend_for(t.uri, ctx.storage)
    assert isinstance(table, DeltaStorage)
    problems = table.verify_rows_gone(t.uri, t.identity["column"], list(t.identity["values"]))
    return "; ".join(problems) or None


def _table_uri(t: TargetInfo) -> str:
    loc = table_location(t.uri)
    return loc if loc.startswith("s3://") else "delta://" + loc


# --- storage compaction (S3 deletes leave bytes in the volumes until the store compacts) -------------
def _compact(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    compact = getattr(backend_for(t.uri, ctx.storage), "compact", None)
    if compact is None:
        return "done", "nothing to compact"
    result = compact(bucket=t.uri.removeprefix("s3://").split("/", 1)[0])
    return "done", json.dumps(result.to_json(), sort_keys=True, default=str)


# --- datasets ----------------------------------------------------------------------------------------
def _rebuild_dataset(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    """Rebuild a dataset's *newest* version without the erased members (never an older one, which
    would bring back members removed since), and mark every version that held erased members."""
    name = t.uri.removeprefix("dataset:")
    erased = ctx.store.plan_assets(ctx.plan.id)
    newest = ctx.store.get_dataset(name)
    members = ctx.store.members(newest.id)
    what = f"{newest.ref} holds no erased member"
    if members.intersection_cardinality(erased):
        new, _ = ctx.store.create_dataset(
            name, members - erased, derived_from=newest.id, query=f"erasure plan {ctx.plan.id[:12]}"
        )
        what = f"{newest.ref} rebuilt as {new.ref} with {new.member_count} members (digest {new.digest[:16]})"
    marked = ctx.store.mark_erased_members(name, erased)
    return "done", f"{what}; marked {', '.join(marked) or 'none'} as holding erased members"


def _dataset_remains(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    latest = ctx.store.get_dataset(t.uri.removeprefix("dataset:").split("@")[0])
    left = ctx.store.members(latest.id).intersection_cardinality(erased)
    return f"{latest.ref} still has {left} erased members" if left else None


# --- deployments -------------------------------------------------------------------------------------
def _take_down(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    hook = t.identity.get("hook")
    if not hook:
        return "skipped", "no takedown hook configured: take it down by hand, then re-run"
    if hook.startswith(("http://", "https://")):
        body = json.dumps({"action": "take_down", "target": t.uri}).encode()
        req = urllib.request.Request(
            hook, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            if resp.status >= 300:
                return "failed", f"hook {resp.status}"
            return _taken_down(ctx, t, f"hook answered {resp.status}")
    proc = subprocess.run(
        shlex.split(hook),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DISGORGE_DEPLOYMENT": t.uri},
    )
    if proc.returncode != 0:
        return "failed", f"hook exited {proc.returncode}: {proc.stderr.strip()[:200]}"
    return _taken_down(ctx, t, f"hook ran: {proc.stdout.strip()[:200]}")


def _taken_down(ctx: Context, t: TargetInfo, evidence: str) -> tuple[str, str]:
    """The hook confirmed the deployment is down: the catalog records its fate."""
    ctx.store.set_deployment_state(int(t.identity["artifact_id"]), t.uri, "taken_down")
    return "done", evidence


# --- recipients --------------------------------------------------------------------------------------
def _notify(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    """Write the recipient's notice (GDPR Art. 19, CCPA §7022: what it must delete, by keyed content
    hash), then deliver it through the party's channel: done only when the channel accepted it."""
    if ctx.notifier is None:
        return "failed", "no notifier is configured to write and deliver notices"
    return ctx.notifier.notify(ctx.plan, t)


# --- models retrained instead of destroyed (see disgorge.erasure.retrain) ------------------------------
def _retrain(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    from disgorge.erasure.retrain import run_retrain

    return run_retrain(ctx.store, ctx.plan.id, ctx.host, t, ctx.store.log_event)


def _retrain_remains(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    from disgorge.erasure.retrain import retrain_remains

    return retrain_remains(ctx.store, ctx.plan.id, t)


# --- the catalog's own forgetting --------------------------------------------------------------------
def _forget(ctx: Context, t: TargetInfo) -> tuple[str, str]:
    """The catalog forgets last: every deleted target is checked gone once more, folders the erasure
    emptied are removed, the fates of models and deployments are recorded, the assets are forgotten
    (tombstones kept), and the target paths become keyed hashes."""
    store = ctx.store
    objects = [u for _, u in store.target_refs(ctx.plan.id, kinds=(*OBJECT_KINDS,), states=("done",))]
    by_scheme: dict[str, list[str]] = {}
    for uri in objects:
        if not uri.startswith("keyed:"):
            by_scheme.setdefault(uri.split(":", 1)[0], []).append(uri)
    back: list[str] = []
    for uris in by_scheme.values():  # one backend per scheme, asked about all its targets at once
        backend = backend_for(uris[0], ctx.storage)
        many = getattr(backend, "exists_many", None)  # BaseStorage has it; a plugin may not
        answers = many(uris) if many is not None else map(backend.exists, uris)
        back += [u for u, there in zip(uris, answers, strict=True) if there]
    if back:
        return "failed", f"{len(back)} deleted targets are present again (e.g. {back[0]}): run the plan again"
    local = [u for u in objects if u.startswith("file://")]
    pruned = 0
    if local:
        backend = backend_for(local[0], ctx.storage)
        prune = getattr(backend, "prune_empty", None)
        pruned = prune(local) if prune is not None else 0
    folders = {u.rpartition("/")[0] + "/-" for u in objects}  # a root is the same for a folder's files
    roots = sorted({r for f in folders for r in _root_of(f, ctx.storage)})
    fates = store.record_fates(ctx.plan.id)
    counts = store.forget_assets(ctx.plan.id, store.plan_assets(ctx.plan.id))
    captured = store.forget_captured_paths(objects, lambda uri: store.hasher.tag("captured-uri", uri))
    redacted = store.redact_targets(ctx.plan.id, lambda uri: store.hasher.tag("target-uri", uri))
    doc = {**counts, **fates, "folders_removed": pruned, "paths_forgotten": redacted, "roots": roots}
    if captured:
        doc["captured_paths_forgotten"] = captured
    return "done", json.dumps(doc, sort_keys=True)


def _root_of(uri: str, storage: StorageConfig) -> list[str]:
    """The registered root (or bucket) a target lives under: named in the record, unlike its path."""
    if uri.startswith("s3://"):
        return [uri.split("/", 3)[2]]
    from disgorge.storage.local import uri_to_path

    try:
        path = uri_to_path(uri.partition("#")[0])
    except Exception:
        return []
    return [str(r) for r in storage.roots if path.startswith(str(r).rstrip("/") + "/")][:1]


def _catalog_remains(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    left = ctx.store.assets_present(erased)
    return f"{left} erased assets still in the catalog" if left else None


def _journal_remains(ctx: Context, t: TargetInfo, erased: BitMap) -> str | None:
    return None if t.state == "done" else f"journal says {t.state}: {t.evidence}"


_OBJECTS = {
    "run": _delete_copies,
    "remains": _object_remains,
    "storage_uri": _copy_uri,
    "batched": True,
}
HANDLERS: dict[str, Handler] = {
    "deployment": Handler("deployment", _guarded(_take_down), _journal_remains),
    "retrain": Handler("retrain", _guarded(_retrain), _retrain_remains),
    **{kind: Handler(kind, **_OBJECTS) for kind in OBJECT_KINDS},  # type: ignore[arg-type]
    "table_rows": Handler("table_rows", _guarded(_delete_rows), _rows_remain, _table_uri),
    "storage_compact": Handler("storage_compact", _guarded(_compact), _journal_remains, lambda t: t.uri),
    "dataset": Handler("dataset", _guarded(_rebuild_dataset), _dataset_remains),
    "recipient": Handler("recipient", _guarded(_notify), _journal_remains),
    "catalog": Handler("catalog", _guarded(_forget), _catalog_remains),
}

PHASES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("take down", ("deployment",), ()),
    ("retrain", ("retrain",), ()),
    ("delete data", ("artifact_copy", "copy", "table_rows"), ("retrain",)),
    ("destroy models", ("model_copy",), ("deployment", "retrain")),
    ("compact", ("storage_compact",), ("retrain", *OBJECT_KINDS, "table_rows")),
    (
        "rebuild and notify",
        ("dataset", "recipient"),
        ("deployment", "retrain", *OBJECT_KINDS, "table_rows", "storage_compact"),
    ),
    (
        "forget",
        ("catalog",),
        ("deployment", "retrain", *OBJECT_KINDS, "table_rows", "storage_compact", "dataset", "recipient"),
    ),
)
"""(name, kinds run in it, kinds that must all be done before it starts). A retrain reads the old
ensemble's manifest and checkpoints, which "delete data" destroys, so deletions wait for it; a retrain
that cannot run holds the plan until it succeeds or an approver resolves it (the model is then
destroyed with the rest: its files are targets either way). A bucket is compacted once every object
the plan deletes from S3 is gone, models' and artifacts' included, so no erased byte of any of them
stays in the store's volumes (a takedown that fails, or a copy left for an approver to resolve, holds it)."""


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A target storage cannot reach under the current configuration, and the folder whose registration
    as a storage root would let erasure act on it (None where the fix is an S3 endpoint)."""

    kind: str
    uri: str
    reason: str
    root: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri, "reason": self.reason, "root": self.root}


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
"""A file name that percent-decoding leaves as it is and that no storage root check refuses."""


def unreachable(targets: list[TargetInfo], storage: StorageConfig) -> list[Unreachable]:
    """Every pending target whose storage the configuration cannot reach."""
    out: list[Unreachable] = []
    folders: dict[str, str | None] = {}
    for t in targets:
        uri = HANDLERS[t.kind].storage_uri(t)
        if uri is None or t.state == "done":
            continue
        why = _reach_in_folder(uri, storage, folders)
        if why is not None:
            root = _root_for(uri, table=t.kind == "table_rows") if "root" in why else None
            out.append(Unreachable(t.kind, t.uri, why, root))
    return out


def _reach_in_folder(uri: str, storage: StorageConfig, folders: dict[str, str | None]) -> str | None:
    """:func:`reach`, answered once per folder for the plain-named files in it: their answers are the
    folder's, unless a storage root lies inside the folder (then each file is asked on its own)."""
    folder, _, name = uri.rpartition("/")
    if not (uri.startswith("file:///") and len(uri) < 1000 and _PLAIN_NAME.fullmatch(name)):
        return reach(uri, storage)
    if folder not in folders:
        from disgorge.errors import DisgorgeError
        from disgorge.storage.local import uri_to_path

        try:
            inside = uri_to_path(folder + "/").rstrip("/") + "/"
        except DisgorgeError:
            return reach(uri, storage)
        roots = [os.path.realpath(r) for r in storage.roots]
        if "file" in storage.backends or any(r.startswith(inside) for r in roots):
            return reach(uri, storage)
        folders[folder] = reach(uri, storage)
    return folders[folder]


def _root_for(uri: str, *, table: bool) -> str | None:
    """The folder to register so erasure can reach ``uri``: a file's folder, or the table itself."""
    from disgorge.errors import DisgorgeError
    from disgorge.storage.local import uri_to_path

    try:
        path = uri_to_path(uri.partition("#")[0]).rstrip("/") or "/"
    except DisgorgeError:
        return None
    return path if table else os.path.dirname(path) or "/"


def suggested_roots(items: list[Unreachable]) -> list[str]:
    """A few folders to register as storage roots that together cover every unreachable file: parent
    folders, with a folder's many subfolders (one per subject, say) folded into the folder itself."""
    dirs = sorted({u.root for u in items if u.root})
    while len(dirs) > 1:
        parents: dict[str, list[str]] = {}
        for d in dirs:
            parents.setdefault(os.path.dirname(d) or "/", []).append(d)
        folded = sorted(
            {p if len(kids) >= 3 and p != "/" else k for p, kids in parents.items() for k in kids}
        )
        folded = sorted(
            {d for d in folded if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in folded)}
        )
        if folded == dirs:
            break
        dirs = folded
    return dirs


def reach_report(items: list[Unreachable]) -> dict[str, Any]:
    """What surfaces show about unreachable targets: a count, examples and the fix."""
    return {
        "count": len(items),
        "examples": [u.to_json() for u in items[:20]],
        "add_roots": suggested_roots(items),
        "needs_s3_endpoint": any(u.root is None and "S3" in u.reason for u in items),
    }

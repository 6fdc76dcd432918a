"""The job kinds: what each checks when asked, how it runs in units, and what a cancellation leaves.

A job reads only under the catalog's registered storage roots (never the server's home, whose keys
would otherwise be one ingest away from being hashed into the catalog), and runs with its owner's
roles as the roster gives them when it runs, not when it was asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from disgorge.api import Catalog
from disgorge.errors import ConflictError, InputError, PolicyDenied, UsageError, VerificationFailed
from disgorge.jobs.runner import Kind, Progress
from disgorge.model.jobs import KINDS


def _local(cat: Catalog, given: str, what: str) -> Path:
    """An absolute path (or file:// URI) inside a registered storage root and outside the home."""
    from urllib.parse import unquote, urlsplit

    text = unquote(urlsplit(given).path) if given.startswith("file://") else given
    if "\0" in text or len(text) > 4096:
        raise InputError(f"{what} {given[:80]!r}: not a path (a NUL byte, or longer than 4096)")
    if not text.startswith("/"):
        raise UsageError(
            f"{what} {given!r} is not an absolute path",
            hint="give the path as the server sees it, e.g. /data/photos or file:///data/photos",
        )
    path = Path(text).resolve()
    home = cat.home.path.resolve()
    if path == home or path.is_relative_to(home) or home.is_relative_to(path):
        raise PolicyDenied(f"{what} {given!r} holds the server's home ({home}); jobs never read it")
    roots = [r.resolve() for r in cat.storage_config.roots]
    if not any(path.is_relative_to(r) for r in roots):
        shown = ", ".join(str(r) for r in roots) or "none registered"
        raise PolicyDenied(
            f"{what} {given!r} is outside the catalog's storage roots ({shown})",
            hint="an admin registers the folder first: disgorge storage add-root PATH",
        )
    if not path.exists():
        raise InputError(f"{what} {given!r} does not exist on the server")
    return path


# ingest


def _check_ingest(cat: Catalog, body: dict[str, Any]) -> dict[str, Any]:
    path = str(body.get("path") or "")
    if path.startswith("s3://"):
        raise UsageError(
            f"ingest of an S3 prefix ({path}) is not supported yet: ingest reads local files",
            hint="mount or copy the prefix under a storage root and ingest that path",
        )
    resolved = _local(cat, path, "ingest path")
    manifest = body.get("manifest")
    if manifest is not None:
        manifest = str(_local(cat, str(manifest), "manifest"))
    if body.get("subject_from") not in (None, "parent-dir"):
        raise UsageError(
            f"subject_from {body['subject_from']!r} is unknown", hint="the only value is parent-dir"
        )
    cat.store.get_source(str(body["source"]))
    return {**body, "path": str(resolved), "manifest": manifest}


def _run_ingest(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from disgorge.ingest import IngestOptions

    body = _check_ingest(cat, body)  # again: a folder swapped for a link since it was asked reads nothing

    opts = IngestOptions(
        source=str(body["source"]),
        manifest=Path(body["manifest"]) if body.get("manifest") else None,
        subject_from=body.get("subject_from"),
        workers=int(body.get("workers") or 0),
        allow_non_images=bool(body.get("allow_non_images")),
        no_subject=bool(body.get("no_subject")),
        allow_near_erased=bool(body.get("allow_near_erased")),
    )
    progress.start("hashing and registering files")
    summary = cat.ingest(Path(body["path"]), opts, progress=lambda d, t: progress.unit(d, t))
    return summary.to_json()


def _cancelled_ingest(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return {
        "message": f"cancelled after {progress.done} of {progress.total or '?'} files were hashed; what "
        "was registered stays registered, and ingesting the same path again registers the rest "
        "(content already registered is recognised, not duplicated)",
        "resumable": True,
        "done": progress.done,
        "total": progress.total,
    }


# erase.execute


def _check_execute(cat: Catalog, body: dict[str, Any]) -> dict[str, Any]:
    from disgorge.access.plans import check_executor, require_authorized
    from disgorge.trust import parse

    plan = cat.store.get_plan(str(body["plan"]))
    signed = parse(body.get("statement"), "the execution statement")
    if signed.kind != "erasure.execute" or signed.about != plan.id:
        raise VerificationFailed(f"the statement is not an erasure.execute statement of plan {plan.id[:12]}")
    if signed.principal != cat.principal.name:
        raise PolicyDenied(
            f"the execution statement is signed by {signed.principal!r}, and this request comes from "
            f"{cat.principal.name!r}: a job runs as the person who signed its start",
            hint="sign the erasure.execute statement with your own identity",
        )
    check_executor(cat.store, plan, signed)
    require_authorized(cat.store, plan, cat.erasures.service.rule)
    for job_id, status, *_ in cat.store.jobs.unfinished():
        other = cat.store.jobs.get(job_id)
        if other.kind == "erase.execute" and other.body.get("plan") == plan.id:
            raise ConflictError(
                f"plan {plan.id[:12]} is already being executed by job {job_id} ({status})",
                hint=f"follow it: GET /api/v1/jobs/{job_id}",
            )
    return {
        "plan": plan.id,
        "statement": signed.to_json(),
        "trust_metadata": bool(body.get("trust_metadata")),
    }


def _run_execute(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from disgorge.trust import parse

    service = cat.erasures.service
    signed = parse(body["statement"], "the execution statement")
    progress.start("executing the plan's targets")
    report = service.run(
        body["plan"],
        start=signed,
        dry_run=False,
        rehash=not body.get("trust_metadata"),
        progress=lambda d, t: progress.unit(d, t),
    )
    out = report.to_json()
    out["executed_statement"] = {
        "kind": "erasure.executed",
        "body": {"status": report.status, "journal": cat.store.journal_counts(body["plan"])},
        "note": "the end of execution is a statement its executor signs: sign this body and record it",
    }
    return out


def _cancelled_execute(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    plan = body["plan"]
    if cat.store.get_plan(plan).status == "running":
        cat.store.set_plan_status(plan, "incomplete")
    return {
        "message": f"cancelled between two batches, after {progress.done} of {progress.total or '?'} "
        f"targets; plan {plan[:12]} is incomplete and resumable: running it again carries out only "
        "what its journal does not record as done",
        "resumable": True,
        "plan_id": plan,
        "journal": cat.store.journal_counts(plan),
    }


# erase.verify


def _check_verify(cat: Catalog, body: dict[str, Any]) -> dict[str, Any]:
    plan = cat.store.get_plan(str(body["plan"]))
    roots = []
    for r in body.get("roots") or []:
        roots.append(str(r) if str(r).startswith("s3://") else str(_local(cat, str(r), "scan root")))
    return {"plan": plan.id, "roots": roots}


def _run_verify(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    body = _check_verify(cat, body)
    progress.start("checking targets and scanning roots", total=1)
    report = cat.erasures.verify(body["plan"], list(body.get("roots") or []) or None)
    progress.done = 1
    return report.to_json()


def _cancelled_verify(cat: Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return {
        "message": "cancelled before the verification was recorded; nothing was stored",
        "resumable": True,
    }


JOB_KINDS: dict[str, Kind] = {
    "ingest": Kind(KINDS["ingest"], _check_ingest, _run_ingest, _cancelled_ingest),
    "erase.execute": Kind(KINDS["erase.execute"], _check_execute, _run_execute, _cancelled_execute),
    "erase.verify": Kind(KINDS["erase.verify"], _check_verify, _run_verify, _cancelled_verify),
}

"""``disgorge worker`` (runs the server's jobs in a process of its own) and ``disgorge job`` (lists,
shows and cancels them, straight on the catalog, where every job is recorded, or through a server's
``/jobs`` routes, which answer the same rows)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import UsageError

job_app = typer.Typer(help="The server's jobs: list, show, cancel.", no_args_is_help=True)
app.add_typer(job_app, name="job")


@app.command("worker")
def worker(
    jobs: Annotated[
        str | None,
        typer.Option(
            "--jobs",
            envvar="DISGORGE_JOBS",
            help="Job queue: redis://HOST:6379/0 (default: the catalog's database).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Jobs run at once (threads).")] = 2,
    home: HomeOpt = None,
) -> None:
    """Run the server's jobs (ingest, erasure execution, verification) until SIGTERM or Ctrl-C.

    Run as many as you like, on any machine that reaches the catalog and the queue: each job is run by
    one of them at a time, and a job whose worker dies is taken over and resumed, never run twice."""
    if not 1 <= workers <= 64:
        raise UsageError(f"--workers {workers} is out of range", hint="1 to 64")
    from disgorge.api import open as open_catalog
    from disgorge.jobs import JOB_KINDS, Queue, Runner

    _log_to_stderr()
    stop = threading.Event()
    with open_catalog(home, identity=False) as cat:
        queue = Queue(cat, jobs, Runner(cat, JOB_KINDS))
        previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            queue.start(workers)
            err.print(f"disgorge worker: {workers} thread(s) on {queue.where}", markup=False)
            while not stop.wait(0.5):
                pass
            err.print("disgorge worker: stopping between two units", markup=False)
        finally:
            queue.stop()
            for s, h in previous.items():
                signal.signal(s, h)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger = logging.getLogger("disgorge.jobs")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False


def _remote(cat: Any) -> Any:
    """The server's jobs API when the catalog is a server's, else None (the rows are read here)."""
    return cat.jobs if getattr(cat, "remote", False) else None


def _show(row: dict[str, Any]) -> str:
    p = row["progress"]
    total = "?" if p["total"] is None else p["total"]
    return f"{row['id']}  {row['kind']}  {row['status']}  {p['done']}/{total}  {p['phase'] or ''}".rstrip()


@job_app.command("list")
def job_list(
    limit: Annotated[int, typer.Option("--limit", help="At most this many jobs.")] = 100,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Your jobs (an admin sees everyone's), oldest first: kind, status, progress."""
    from disgorge.jobs import JobService

    if limit < 1:
        raise UsageError(f"--limit {limit} must be at least 1")
    with catalog(home) as cat:
        remote = _remote(cat)
        rows = remote.page(limit) if remote else [r.to_json() for r in JobService(None).page(cat, 0, limit)]
    if json:
        emit_json(rows)
        return
    t = Table("id", "kind", "owner", "status", "progress", "phase")
    for r in rows:
        p = r["progress"]
        t.add_row(
            r["id"], r["kind"], r["owner"], r["status"], f"{p['done']}/{p['total'] or '?'}", p["phase"] or ""
        )
    out.print(t)


@job_app.command("show")
def job_show(
    job_id: Annotated[str, typer.Argument(help="The job's id (disgorge job list).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """A job's status, progress, and its result or error. Exit 1 if it failed."""
    from disgorge.jobs import JobService

    with catalog(home) as cat:
        remote = _remote(cat)
        row = remote.get(job_id) if remote else JobService(None).get(cat, job_id).to_json()
    if json:
        emit_json(row)
    else:
        out.print(_show(row), markup=False)
        detail = row["error"] or row["result"]
        if detail and "message" in detail:
            out.print(detail["message"], markup=False)
    if row["status"] == "failed":
        raise typer.Exit(1)


@job_app.command("cancel")
def job_cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id (disgorge job list).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Cancel a job: a queued one at once, a running one between two units (an erasure stays resumable)."""
    from disgorge.jobs import JobService

    with catalog(home) as cat:
        remote = _remote(cat)
        row = remote.cancel(job_id) if remote else JobService(None).cancel(cat, job_id).to_json()
    if json:
        emit_json(row)
    else:
        state = row["status"] if row["status"] != "running" else "running; it stops at its next unit"
        out.print(f"job {row['id']}: {state}", markup=False)

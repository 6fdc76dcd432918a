"""Commands about captured lineage: coverage, and importing an MLflow history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, out
from disgorge.errors import InputError, UsageError

import_app = typer.Typer(help="Read lineage other systems recorded.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _time(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"{option} {text!r} is not an ISO 8601 time", hint="e.g. 2026-01-31T00:00:00Z"
        ) from exc
    if at.tzinfo is None:
        raise InputError(f"{option} {text!r} has no timezone", hint="add Z or an offset such as +02:00")
    return at


@app.command("coverage")
def coverage_cmd(
    since: Annotated[str | None, typer.Option(help="Runs started at or after this ISO 8601 time.")] = None,
    until: Annotated[str | None, typer.Option(help="Runs started before this ISO 8601 time.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """How much the catalog saw: runs per producer, inputs resolved vs unknown, models with and without
    a recorded training run."""
    from disgorge.capture.coverage import coverage

    start, end = _time("--since", since), _time("--until", until)
    if start and end and start >= end:
        raise UsageError(f"--since {since} is not before --until {until}")
    with catalog(home) as cat:
        if getattr(cat, "remote", False):  # the same function, run by the server
            report = cat.coverage(since=start, until=end)  # type: ignore[attr-defined]
        else:
            report = coverage(cat.store, cat.principal, since=start, until=end)
    if json:
        emit_json(report)
        return
    t = Table("producer", "runs", "inputs resolved", "unknown", title="runs by producer")
    for p in report["producers"]:
        t.add_row(p["producer"], str(p["runs"]), str(p["resolved"]), str(p["unknown"]))
    out.print(t)
    m = report["models"]
    out.print(
        f"{report['runs']} runs; inputs: {report['inputs']['resolved']} resolved, "
        f"{report['inputs']['unknown']} unknown; models: {m['with_training_run']} with a training run, "
        f"{m['without_training_run']} without"
    )
    for name in m["untrained"]:
        out.print(f"  no training run: {name}")
    ev = report.get("events") or {}
    if ev.get("waiting") or ev.get("failed"):
        out.print(f"OpenLineage events not folded in: {ev['waiting']} waiting, {ev['failed']} failed")
    for f in ev.get("failures", []):
        out.print(f"  run {f['run']}: {f['reason']}")


@import_app.command("mlflow")
def import_mlflow_cmd(
    tracking_uri: Annotated[
        str, typer.Option(help="The MLflow tracking URI (sqlite:///mlflow.db, http://…).")
    ],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Read an MLflow history (runs, dataset inputs, logged and registered models) into the catalog;
    running it again adds nothing new. Lists the inputs it could not resolve."""
    try:
        from disgorge.integrations.mlflow.history import import_history
    except ImportError as exc:
        raise UsageError(
            "disgorge import mlflow needs MLflow", hint="pip install 'disgorge[mlflow]'"
        ) from exc
    with catalog(home) as cat:
        report = import_history(cat, tracking_uri)
    if json:
        emit_json(report)
        return
    out.print(
        f"{report['runs']} runs read ({report['new_runs']} new), {report['inputs_resolved']} inputs resolved, "
        f"{report['models']} models; {len(report['unresolved'])} inputs not resolved"
    )
    for u in report["unresolved"]:
        out.print(f"  {u['name']}: {u['input']} ({u['reason']})")

"""Commands that enforce purpose and consent: consent import, check, export."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog, consent_app
from disgorge.cli.output import emit_json, out
from disgorge.errors import InputError, UsageError

if TYPE_CHECKING:
    from disgorge.enforcement import CheckReport


def _at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"--at {text!r} is not an ISO 8601 time", hint="e.g. 2026-01-31T00:00:00Z") from exc
    if at.tzinfo is None:
        raise InputError(f"--at {text!r} has no timezone", hint="add Z or an offset such as +02:00")
    return at


@consent_app.command("import")
def consent_import(
    file: Annotated[
        Path, typer.Argument(help="CSV (subject_id,use,recipient,action,timestamp,notice_version) or JSONL.")
    ],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import consent events from a consent system's export; a malformed file imports nothing."""
    with catalog(home) as cat:
        count, new = cat.import_consent(file)
    if json:
        emit_json({"file": str(file), "imported": count, "already_imported": not new})
    elif new:
        out.print(f"{count} consent events imported from {file}")
    else:
        out.print(f"{file} was imported before; nothing to do")


def _print_report(report: CheckReport) -> None:
    verdict = "[green]allowed[/]" if report.ok else "[bold red]VIOLATION[/]"
    out.print(
        f"{verdict}: {len(report.allowed)} of {report.total} assets may be used for {report.use} by "
        f"{report.recipient} (policy {report.policy_version}, decision {report.decision_uid})"
    )
    if report.violations:
        t = Table("assets", "reason", "rule", "would be allowed by")
        for v in report.violations:
            t.add_row(str(v.count), v.reason, v.rule, v.clause)
        out.print(t)


@app.command("check")
def check_cmd(
    dataset: Annotated[
        list[str] | None, typer.Option(help="Dataset NAME[@VERSION] to check (repeatable).")
    ] = None,
    use: Annotated[str | None, typer.Option(help="The data use, e.g. train_ai_system.")] = None,
    recipient: Annotated[
        str | None, typer.Option(help="The party that would receive or process the data.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="Decide as of this ISO 8601 time (default: now).")] = None,
    runs: Annotated[bool, typer.Option("--runs", help="Re-evaluate every recorded run instead.")] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Decide, for every member, whether notice, consent and policy cover the use by the recipient.

    Exit 1 on any violation, a member flagged as a near copy of erased content included
    (near_erased_content, named with the plan that erased the original). With --runs: the runs whose training data is no longer covered, with the
    models and artifacts they produced, and the captured runs that read inputs of unknown provenance.
    """
    when = _at(at)
    if runs:
        with catalog(home) as cat:
            reviews = cat.review_runs(when)
            unknown = cat.unknown_provenance_runs()
            not_folded = _not_folded(cat)
        if json:
            emit_json(
                {
                    "runs": [r.to_json() for r in reviews],
                    "unknown_provenance": unknown,
                    "not_folded": not_folded,
                }
            )
        else:
            for f in not_folded:
                out.print(
                    f"[bold]run {f['run']}[/]: reported by OpenLineage but not in the catalog (its events "
                    f"could not be folded: {f['reason']})"
                )
            if not reviews:
                out.print("every recorded run's training data is still covered")
            for u in unknown:
                out.print(
                    f"[bold]{u['name']}[/] ({u['party']}, {u['use']}): {len(u['unknown'])} inputs of unknown "
                    "provenance (nothing registered by those names)"
                )
                for item in u["unknown"]:
                    out.print(f"  {item['uri']}")
            for r in reviews:
                out.print(
                    f"[bold]{r.run['name']}[/] ({r.run['party']}, {r.run['use']}): "
                    f"{len(r.report.denied)} of {r.report.total} inputs not covered {r.report.by_reason()}"
                )
                for m in r.models:
                    out.print(f"  model {m['name'] or m['sha256'][:12]}")
                for a in r.artifacts:
                    out.print(f"  {a['kind']} {a['name'] or a['sha256'][:12]}")
        if reviews or unknown or not_folded:
            raise typer.Exit(1)
        return
    if not dataset or not use or not recipient:
        raise UsageError("check needs --dataset, --use and --recipient (or --runs)")
    with catalog(home) as cat:
        report = cat.check(dataset, use=use, recipient=recipient, at=when)
    if json:
        emit_json(report.to_json())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
def export_cmd(
    dataset: Annotated[str, typer.Option(help="Dataset NAME[@VERSION] to share.")],
    to: Annotated[str, typer.Option(help="The receiving party.")],
    dest: Annotated[Path, typer.Option(help="Folder to write the files (named by sha256) and a manifest.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Share a dataset with a party; refused (exit 1) unless every member may be shared with it."""
    with catalog(home) as cat:
        report, result = cat.export(dataset, to=to, dest=dest)
    if json:
        emit_json({"decision": report.decision_uid, **asdict(result), "dest": str(result.dest)})
    else:
        out.print(f"exported {result.files} files ({result.bytes / 1e6:.1f} MB) to {dest} for {to}")
        for r in result.refused:
            out.print(f"  refused {r['sha256'][:12]}: {r['reason']}")
    if result.refused:
        raise typer.Exit(2)


policy_app = typer.Typer(help="The catalog's policy and its versions.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("set")
def policy_set(
    file: Annotated[Path, typer.Argument(help="A policy YAML file (see docs/policy.md).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Store a new policy version in the catalog, for every home and the server (admins only)."""
    with catalog(home) as cat:
        version = cat.set_policy(file)
    if json:
        emit_json({"version": version})
    else:
        out.print(f"policy version {version} in force")


@policy_app.command("show")
def policy_show(home: HomeOpt = None) -> None:
    """Print the policy in force (the built-in default if none was set)."""
    with catalog(home) as cat:
        text, _ = cat.policy_source()
    print(text, end="")


def _not_folded(cat: Any) -> list[dict[str, Any]]:
    """Runs a producer reported whose events could not be folded: missing from every answer."""
    if getattr(cat, "remote", False):  # the server's coverage carries the same report
        events = cat.coverage(since=None, until=None).get("events") or {}
    else:
        events = cat.store.pending_lineage()
    return list(events.get("failures", [])) if events.get("failed") else []

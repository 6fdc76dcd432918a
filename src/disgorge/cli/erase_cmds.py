"""Commands that erase: erase plan / show / approve / run / verify, and the storage roots they act in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, catalog, erase_app, storage_app
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import UsageError


def _warn_unreachable(reach: dict[str, Any], verb: str = "could not delete") -> None:
    """Say which targets no storage root or endpoint reaches, and the command that would fix it; and
    which ones erasure skips because only their own system (MLflow) can delete them."""
    _warn_unfolded(reach.get("unfolded"))
    manual = reach.get("by_hand") or {"count": 0, "examples": []}
    if manual["count"]:
        err.print(
            f"[bold yellow]warning[/]: {manual['count']} targets only their own system can delete; erasure "
            "skips them and the plan stays incomplete until each is deleted there and resolved:",
            soft_wrap=True,
        )
        for m in manual["examples"][:5]:
            err.print(f"  target {m['seq']}: {m['how']}", markup=False, soft_wrap=True)
    if not reach["count"]:
        return
    err.print(
        f"[bold yellow]warning[/]: {reach['count']} targets are out of reach of the storage configuration; "
        f"erasure {verb} them, and `erase run --execute` will not start until they are reachable:",
        soft_wrap=True,
    )
    for u in reach["examples"][:5]:
        err.print(f"  {u['kind']} {u['uri']} ({u['reason']})", markup=False, soft_wrap=True)
    if reach["count"] > 5:
        err.print(f"  … and {reach['count'] - 5} more (see `erase show --json`)")
    if reach["add_roots"]:
        err.print(
            f"  fix: disgorge storage add-root {' '.join(reach['add_roots'])}", markup=False, soft_wrap=True
        )
    if reach["needs_s3_endpoint"]:
        err.print("  fix: disgorge storage s3 --endpoint-url URL", markup=False)


def _warn_unfolded(unfolded: dict[str, Any] | None) -> None:
    if not unfolded or not unfolded["count"]:
        return
    err.print(
        f"[bold yellow]warning[/]: the OpenLineage events of {unfolded['count']} captured runs could not be "
        "folded into the catalog, so no plan includes what they read or made (fix what the reason says "
        "and send the events again; then `erase plan --supplement PLAN` covers what they add):",
        soft_wrap=True,
    )
    for f in unfolded["examples"][:5]:
        err.print(f"  run {f['run']}: {f['reason']}", markup=False, soft_wrap=True)
    if unfolded["count"] > 5:
        err.print("  … see `disgorge coverage --json`")


@erase_app.command("plan")
def erase_plan(
    reason: Annotated[str, typer.Option(help="Why: the order or request being carried out.")],
    legal_basis: Annotated[str, typer.Option(help="e.g. 'GDPR Art. 17(1)(b)' or 'FTC order 2026-…'.")],
    subject: Annotated[str | None, typer.Option(help="External subject id.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset NAME[@VERSION].")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset sha256.")] = None,
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Data whose consent was withdrawn.")] = False,
    supplement: Annotated[
        str | None, typer.Option(help="Cover only what entered plan PLAN's closure since it was planned.")
    ] = None,
    deadline: Annotated[str | None, typer.Option(help="Date the erasure is due (ISO 8601).")] = None,
    retrain: Annotated[
        list[str] | None,
        typer.Option(
            "--retrain",
            metavar="MODEL",
            help="Retrain this affected SISA ensemble exactly instead of only destroying it (repeatable).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only the plan id (for PLAN=$(…)).")
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Freeze the downstream closure of a scope into a content-addressed plan (nothing is deleted), and
    sign its request with your identity. Affected SISA ensembles are shown with both options (destroy,
    retrain) and their costs; they are destroyed unless --retrain names them."""
    given = [
        (k, v)
        for k, v in (("subject", subject), ("source", source), ("dataset", dataset), ("asset", asset))
        if v
    ]
    if len(given) > 1:
        raise UsageError("give only one of --subject, --source, --dataset, --asset")
    with catalog(home) as cat:
        plan, created = cat.erasures.plan(
            scope=given[0] if given else None,
            withdrawn=withdrawn,
            reason=reason,
            legal_basis=legal_basis,
            deadline=deadline,
            supplement=supplement,
            retrain=retrain or [],
        )
        reach = cat.erasures.reachability(plan.id)
        unknown = cat.unknown_subjects(*given[0]) if given else {}
    if json:
        emit_json(
            {
                "plan_id": plan.id,
                "created": created,
                "status": plan.status,
                "counts": plan.counts,
                "unreachable": reach,
                "unknown_subject_assets": sum(unknown.values()),
                "unknown_subject_by_source": unknown,
                "retrainable": plan.survivors.get("retrainable", []),
            }
        )
        return
    if quiet:
        sys.stdout.write(plan.id + "\n")
        _warn_unreachable(reach)
        return
    out.print(f"plan [bold]{plan.id}[/] {'created' if created else 'already exists'} ({plan.status})")
    out.print(", ".join(f"{v} {k}" for k, v in plan.counts.items() if v))
    for name, n in unknown.items():
        out.print(
            f"[yellow]{n} assets of source {name} have no known subject[/]: this plan cannot include them"
        )
    _show_dispositions(plan.survivors.get("retrainable", []))
    _warn_unreachable(reach)
    out.print(
        f"next: an approver (a second person) runs `disgorge erase approve {plan.id[:12]}` as themselves"
    )


def _notice_state(r: dict[str, Any]) -> str:
    if r["acknowledged_at"]:
        return f"notice delivered {r['delivered_at']}, acknowledged by {r['acknowledged_by']} {r['acknowledged_at']}"
    if r["delivered_at"]:
        return f"notice delivered {r['delivered_at']} via {r['channel']}, not acknowledged yet"
    if r["written_at"]:
        return f"notice written {r['written_at']}, NOT delivered (erase run again once its channel works)"
    return "no notice yet (sent when the erasure runs)"


def _show_dispositions(items: list[dict[str, Any]]) -> None:
    """Both options for each retrainable model, with their costs, and which one the plan takes."""
    from disgorge.erasure.retrain import describe

    for o in items:
        chosen = o["disposition"]
        out.print(
            f"model {o['model']} ({o['summary']}): {describe(o)}; this plan: [bold]{chosen}[/]",
            soft_wrap=True,
        )
        if chosen == "destroy":
            out.print(f"  to retrain it instead, plan with --retrain {o['model']}", markup=False)


@erase_app.command("show")
def erase_show(
    plan: Annotated[str, typer.Argument(help="Plan id (or 8+ leading hex digits).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Counts by kind, approvals, the journal, and what survives the erasure."""
    with catalog(home) as cat:
        doc = cat.erasures.show(plan)
    if json:
        emit_json(doc)
        return
    auth = doc["authorization"]
    out.print(
        f"plan [bold]{doc['plan_id']}[/] — {doc['status']}; requested by "
        f"{doc['requester'] or 'nobody (no valid signed request)'}, approved by "
        f"{', '.join(doc['approvers']) or 'nobody yet'} ({len(doc['approvers'])} of {auth['required']} "
        "required signatures verify)"
    )
    for why in auth.get("set_aside", []):
        err.print(f"  [yellow]set aside[/]: {why}", soft_wrap=True)
    if auth.get("error"):
        err.print(f"  [yellow]not authorised[/]: {auth['error']}", soft_wrap=True)
    out.print(
        f"reason: {doc['reason']}; legal basis: {doc['legal_basis']}; deadline: {doc['deadline'] or '-'}"
    )
    t = Table("kind", "planned", "journal")
    for kind, n in doc["counts"].items():
        if n:
            t.add_row(kind, str(n), ", ".join(f"{s} {c}" for s, c in doc["journal"].get(kind, {}).items()))
    out.print(t)
    for d in doc["survives"].get("datasets", []):
        out.print(f"survives: {d['ref']} keeps {d['remaining']} members (rebuilt as a new version)")
    if doc["survives"].get("models_not_affected"):
        out.print(f"survives: models {', '.join(doc['survives']['models_not_affected'])}")
    _show_dispositions(doc["survives"].get("retrainable", []))
    for o in doc["open_targets"]:
        err.print(
            f"  open target {o['seq']}: {o['state']} {o['kind']} {o['uri']}: {o['evidence']}"
            f" (erase resolve {doc['plan_id'][:12]} {o['seq']} --reason … settles it)",
            markup=False,
            soft_wrap=True,
        )
    for h in doc["hooks"]:
        out.print(
            f"takedown: {h['deployment']} by hook {h['hook'] or '(none: take it down by hand)'}", markup=False
        )
    for r in doc["recipients"]:
        out.print(f"recipient {r['party']}: {_notice_state(r)}", markup=False)
    _warn_unreachable(doc["unreachable"])


@erase_app.command("approve")
def erase_approve(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Approve a plan with your identity: a statement signed with your key (you must hold the approver
    role and must not be the plan's requester)."""
    with catalog(home) as cat:
        auth = cat.erasures.approve(plan)
        reach = cat.erasures.reachability(auth.plan_id)
    if json:
        emit_json(
            {
                "plan_id": auth.plan_id,
                "approvers": auth.approvers,
                "required": auth.rule.required,
                "complete": auth.complete,
                "unreachable": reach,
            }
        )
    else:
        state = "approved" if auth.complete else f"{len(auth.approvals)} of {auth.rule.required} approvals"
        out.print(f"plan {auth.plan_id[:12]} {state}: signed by {', '.join(auth.approvers)}")
        _warn_unreachable(reach)


@erase_app.command("run")
def erase_run(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    execute: Annotated[
        bool, typer.Option("--execute", help="Really delete (the default is a dry run).")
    ] = False,
    trust_metadata: Annotated[
        bool,
        typer.Option(
            "--trust-metadata",
            help="Re-check targets by size, mtime and inode (S3: ETag) instead of re-hashing their bytes.",
        ),
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Execute an approved plan (dry run unless --execute); re-running resumes where it stopped. Before
    anything is deleted the plan's signatures are verified; before each deletion the target is re-hashed
    (or, with --trust-metadata, re-checked by size, mtime and inode)."""
    with catalog(home) as cat:
        report = cat.erasures.run(plan, dry_run=not execute, trust_metadata=trust_metadata)
        reach = cat.erasures.reachability(report.plan_id)
    doc = report.to_json()
    doc["unreachable"]["unfolded"] = reach["unfolded"]
    if report.dry_run:
        doc["unreachable"]["by_hand"] = reach["by_hand"]
    if json:
        emit_json(doc)
    elif report.dry_run:
        out.print(
            f"dry run of {report.plan_id[:12]}: would act on "
            + ", ".join(f"{n} {k}" for k, n in report.steps.items())
            + " (add --execute)"
        )
        for w in report.would_do[:20]:
            out.print(f"  {w['action']:<15} {w['uri']}", soft_wrap=True, markup=False)
        _warn_unreachable(doc["unreachable"], verb="would not delete")
    else:
        out.print(
            f"plan {report.plan_id[:12]}: {report.status}; "
            + ", ".join(f"{n} {s}" for s, n in report.steps.items())
        )
        for p in report.problems[:30]:
            err.print(f"  [yellow]{p['state']}[/] {p['kind']} {p['uri']}: {p['evidence']}", soft_wrap=True)
        for h in report.held:
            waiting = ", ".join(f"{n} {k}" for k, n in h["waiting_for"].items())
            err.print(f"  held: {h['phase']} ({h['targets']} targets) waits for {waiting} to be done")
        _warn_unfolded(reach["unfolded"])
    if not report.dry_run and report.status != "done":
        raise typer.Exit(1)


@erase_app.command("resolve")
def erase_resolve(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    target: Annotated[
        int, typer.Argument(help="The target's number (seq), as `erase show --json` lists it.")
    ],
    reason: Annotated[str, typer.Option(help="Why the target can be settled without being carried out.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Settle a skipped or failed target with your signature (approvers only); the reason goes on the
    certificate, and the plan can complete."""
    with catalog(home) as cat:
        result = cat.erasures.resolve(plan, target, reason)
    if json:
        emit_json(result)
    else:
        out.print(
            f"target {target} ({result['kind']}) of plan {result['plan_id'][:12]} resolved by {result['resolved_by']}"
        )


@erase_app.command("verify")
def erase_verify(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    roots: Annotated[
        list[str] | None, typer.Argument(help="Folders, files or s3:// prefixes to scan (with --scan).")
    ] = None,
    scan: Annotated[
        bool, typer.Option("--scan", help="Scan the ROOTs that follow for residual exact or near copies.")
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check every target is gone and, with `--scan ROOT…`, scan for exact or near copies of the erased
    content; exit 1 if any remain."""
    if bool(roots) != scan:
        raise UsageError(
            "--scan needs the roots to scan" if scan else f"unexpected arguments {roots}",
            hint="e.g. disgorge erase verify PLAN --scan photos/ backups/",
        )
    with catalog(home) as cat:
        report = cat.erasures.verify(plan, roots=roots or None)
    if json:
        emit_json(report.to_json())
    else:
        verdict = "[green]clean[/]" if report.clean else "[bold red]NOT CLEAN[/]"
        out.print(
            f"{verdict}: {sum(report.checked.values())} targets checked, {report.scanned} objects scanned"
        )
        for r in report.remaining:
            out.print(f"  remains: {r['kind']} {r['uri']}: {r['problem']}", soft_wrap=True)
        for r in report.residual:
            out.print(
                f"  residual {r['match']} copy (d={r['distance']}, via {r['via']}): {r['object']}",
                soft_wrap=True,
            )
    if not report.clean:
        raise typer.Exit(1)


@storage_app.command("add-root")
def storage_add_root(
    root: Annotated[list[Path], typer.Argument(help="Folders erasure may delete in.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register storage roots: erasure never deletes outside registered roots."""
    with catalog(home) as cat:
        roots: list[str] = []
        for r in root:
            roots = cat.add_storage_root(r)
    if json:
        emit_json({"roots": roots})
    else:
        out.print("storage roots: " + ", ".join(roots))


@erase_app.command("certificate")
def erase_certificate(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the certificate JSON.")],
    html: Annotated[Path | None, typer.Option(help="Also write a readable HTML rendering here.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a certificate of destruction: order, scope, counts, the erased set's Merkle root, each model's
    disposition, the verification, a ledger checkpoint with inclusion proofs, an Ed25519 signature."""
    from disgorge.certificate.render import render_html
    from disgorge.cli.proof_cmds import configured_cosigner
    from disgorge.ledger.certificate import dump_certificate

    with catalog(home) as cat:
        doc = cat.certificate(plan, cosigner=configured_cosigner(cat))
    output.write_bytes(dump_certificate(doc))
    if html is not None:
        html.write_text(render_html(doc))
    if json:
        emit_json(
            {
                "certificate": str(output),
                "html": str(html) if html else None,
                "plan_id": doc["order"]["plan_id"],
            }
        )
    else:
        out.print(f"certificate written to {output}" + (f" and {html}" if html else ""))
        out.print(
            "verify offline: disgorge key export-public > KEY; disgorge certificate verify "
            f"{output} --key KEY"
        )


@erase_app.command("asset-proof")
def erase_asset_proof(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    sha256: Annotated[str, typer.Option(help="The erased content's sha256.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the proof JSON.")],
    home: HomeOpt = None,
) -> None:
    """A proof, for one data subject, that their content is in the certificate's erased set."""
    import json as jsonlib

    with catalog(home) as cat:
        proof = cat.asset_proof(plan, sha256)
    output.write_text(jsonlib.dumps(proof, indent=2, sort_keys=True) + "\n")
    out.print(f"proof written to {output}")


@storage_app.command("s3")
def storage_s3(
    endpoint_url: Annotated[str, typer.Option(help="S3 endpoint, e.g. http://127.0.0.1:8333.")],
    access_key_id: Annotated[
        str | None, typer.Option(help="Access key, kept in this home only (default: boto3's chain).")
    ] = None,
    secret_access_key: Annotated[
        str | None, typer.Option(help="Secret key, kept in this home only (default: boto3's chain).")
    ] = None,
    access_key_id_env: Annotated[
        str | None, typer.Option(help="Or: the environment variable every home reads the access key from.")
    ] = None,
    secret_access_key_env: Annotated[
        str | None, typer.Option(help="Or: the environment variable every home reads the secret key from.")
    ] = None,
    weed_master: Annotated[
        str | None, typer.Option(help="SeaweedFS master host:port[.grpc], for compaction.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Set the S3 endpoint erasure and scans use, for every home on the catalog (admins only); secrets
    are never stored in the catalog: given in clear they stay in this home (mode 0600), or each home
    reads them from the environment variables named."""
    with catalog(home) as cat:
        shown = cat.set_s3(
            {
                "endpoint_url": endpoint_url,
                "access_key_id": access_key_id or "",
                "secret_access_key": secret_access_key or "",
                "access_key_id_env": access_key_id_env or "",
                "secret_access_key_env": secret_access_key_env or "",
                "weed_master": weed_master or "",
            },
        )
    if json:
        emit_json({"s3": shown})
    else:
        out.print(f"S3 settings: {shown}")

"""Commands that erase: erase plan / show / approve / run / verify, and the storage roots they act in."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, catalog, erase_app, storage_app
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import UsageError
from disgorge.lineage.impact import Scope, unknown_subjects_of

AsOpt = Annotated[str | None, typer.Option("--as", help="Who is acting (default: the OS user).")]


def _who(name: str | None) -> str:
    return name or getpass.getuser()


@erase_app.command("plan")
def erase_plan(
    reason: Annotated[str, typer.Option(help="Why: the order or request being carried out.")],
    legal_basis: Annotated[str, typer.Option(help="e.g. 'GDPR Art. 17(1)(b)' or 'FTC order 2026-…'.")],
    subject: Annotated[str | None, typer.Option(help="External subject id.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset NAME[@VERSION].")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset sha256.")] = None,
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Data whose consent was withdrawn.")] = False,
    deadline: Annotated[str | None, typer.Option(help="Date the erasure is due (ISO 8601).")] = None,
    as_: AsOpt = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Freeze the downstream closure of a scope into a content-addressed plan (nothing is deleted)."""
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
            requester=_who(as_),
            deadline=deadline,
        )
        unknown = unknown_subjects_of(cat.store, Scope(*given[0])) if given else {}  # type: ignore[arg-type]
    if json:
        emit_json(
            {
                "plan_id": plan.id,
                "created": created,
                "status": plan.status,
                "counts": plan.counts,
                "unknown_subject_assets": sum(unknown.values()),
                "unknown_subject_by_source": unknown,
            }
        )
        return
    out.print(f"plan [bold]{plan.id}[/] {'created' if created else 'already exists'} ({plan.status})")
    out.print(", ".join(f"{v} {k}" for k, v in plan.counts.items() if v))
    for name, n in unknown.items():
        out.print(
            f"[yellow]{n} assets of source {name} have no known subject[/]: this plan cannot include them"
        )
    out.print(f"next: a second person runs `disgorge erase approve {plan.id[:12]} --as NAME`")


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
    out.print(
        f"plan [bold]{doc['plan_id']}[/] — {doc['status']}; requested by {doc['requester']}, approved by "
        f"{', '.join(doc['approvers']) or 'nobody yet'}"
    )
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


@erase_app.command("approve")
def erase_approve(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    as_: AsOpt = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Approve a plan; the approver must not be its requester."""
    with catalog(home) as cat:
        info = cat.erasures.approve(plan, _who(as_))
    if json:
        emit_json({"plan_id": info.id, "status": info.status, "approvers": list(info.approvers)})
    else:
        out.print(f"plan {info.id[:12]} approved by {', '.join(info.approvers)}")


@erase_app.command("run")
def erase_run(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    execute: Annotated[
        bool, typer.Option("--execute", help="Really delete (the default is a dry run).")
    ] = False,
    rehash: Annotated[
        bool, typer.Option(help="Re-hash every file before deleting it (slower, strongest).")
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Execute an approved plan (dry run unless --execute); re-running resumes where it stopped."""
    with catalog(home) as cat:
        report = cat.erasures.run(plan, dry_run=not execute, rehash=rehash)
    if json:
        emit_json(report.to_json())
    elif report.dry_run:
        out.print(
            f"dry run of {report.plan_id[:12]}: would act on "
            + ", ".join(f"{n} {k}" for k, n in report.steps.items())
            + " (add --execute)"
        )
        for w in report.would_do[:20]:
            out.print(f"  {w['action']:<15} {w['uri']}", soft_wrap=True)
    else:
        out.print(
            f"plan {report.plan_id[:12]}: {report.status}; "
            + ", ".join(f"{n} {s}" for s, n in report.steps.items())
        )
        for p in report.problems[:30]:
            err.print(f"  [yellow]{p['state']}[/] {p['kind']} {p['uri']}: {p['evidence']}", soft_wrap=True)
    if not report.dry_run and report.status != "done":
        raise typer.Exit(1)


@erase_app.command("verify")
def erase_verify(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    scan: Annotated[list[str] | None, typer.Option(help="Also scan these roots for residual copies.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check every target is gone and scan for exact or near copies of the erased content; exit 1 if any remain."""
    with catalog(home) as cat:
        report = cat.erasures.verify(plan, roots=scan)
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
    root: Annotated[Path, typer.Argument(help="A folder erasure may delete in.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register a storage root: erasure never deletes outside registered roots."""
    with catalog(home) as cat:
        roots = cat.add_storage_root(root)
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
    from disgorge.ledger.certificate import dump_certificate
    from disgorge.ledger.render import render_html

    with catalog(home) as cat:
        doc = cat.certificate(plan)
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
    access_key_id: Annotated[str | None, typer.Option(help="Access key (default: boto3's chain).")] = None,
    secret_access_key: Annotated[
        str | None, typer.Option(help="Secret key (default: boto3's chain).")
    ] = None,
    weed_master: Annotated[
        str | None, typer.Option(help="SeaweedFS master host:port[.grpc], for compaction.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Set the S3 endpoint erasure and scans use (kept in storage.json, mode 0600)."""
    from disgorge.settings import save_s3_config

    with catalog(home) as cat:
        saved = save_s3_config(
            cat.home.storage_path,
            {
                "endpoint_url": endpoint_url,
                "access_key_id": access_key_id or "",
                "secret_access_key": secret_access_key or "",
                "weed_master": weed_master or "",
            },
        )
    shown = {k: ("***" if "secret" in k else v) for k, v in saved.items()}
    if json:
        emit_json({"s3": shown})
    else:
        out.print(f"S3 settings: {shown}")

"""``disgorge unlearning``: exact unlearning of SISA ensembles. torch is imported inside the command, so
``disgorge --help`` stays fast and works without the ``disgorge[torch]`` extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

import typer

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import InputError, UsageError

unlearning_app = typer.Typer(help="Exact unlearning of SISA-trained ensembles.", no_args_is_help=True)
app.add_typer(unlearning_app, name="unlearning")


@unlearning_app.command("verify")
def verify(
    model: Annotated[str, typer.Argument(help="The SISA aggregate model (name, path or sha256).")],
    shard: Annotated[
        list[int] | None,
        typer.Option("--shard", help="Shard to retrain (repeatable); default: the last retrained."),
    ] = None,
    all_shards: Annotated[bool, typer.Option("--all-shards", help="Retrain every shard.")] = False,
    certificate: Annotated[
        Path | None,
        typer.Option(
            help="A certificate of destruction that lists MODEL as retrained: replay the shards it names and "
            "compare with its weight hashes."
        ),
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Retrain shards from scratch and compare weight hashes: exit 0 if bit-identical, 1 if not."""
    if importlib.util.find_spec("torch") is None:
        raise UsageError(
            "this command needs PyTorch", hint="install the extra: pip install 'disgorge[torch]'"
        )
    if sum(map(bool, (shard, all_shards, certificate))) > 1:
        raise UsageError("give one of --shard, --all-shards or --certificate")
    from disgorge.unlearning.layout import load_ensemble
    from disgorge.unlearning.verify import certified_retrain, compare_certificate, verify_exact

    claim = certified_retrain(_read_certificate(certificate)) if certificate else None
    with catalog(home) as cat:
        shards = shard or None
        if all_shards:
            shards = [sh.shard for sh in load_ensemble(cat.store, model)[1].shards]
        if claim is not None:
            shards = claim.shards_for(cat.store, model)
        report = verify_exact(cat, model, shards=shards)
    if claim is not None:
        report.certificate = compare_certificate(report, claim)
    if json:
        emit_json(report.to_json())
    else:
        env = report.environment
        out.print(f"[bold]{report.model}[/] generation {report.generation} ({report.model_sha256[:12]}…)")
        for s in report.shards:
            mark = "[green]identical[/]" if s["match"] else "[red]DIFFERENT[/]"
            out.print(
                f"  shard {s['shard']:>3} ({s['members']} members, {s['slices']} slices, {s['seconds']} s): "
                f"{mark}  recorded {s['recorded_sha256'][:16]}…  reproduced {s['reproduced_sha256'][:16]}…"
            )
        bad_sets = [m for m in report.member_sets if not m["match"]]
        for m in bad_sets:
            out.print(f"  [red]member set of {m['dataset']} does not match the manifest[/]")
        if env["differences"]:
            err.print(f"note: this machine differs from the training one in {', '.join(env['differences'])}")
        if report.certificate is not None:
            c = report.certificate
            verdict = "[green]matches[/]" if c["match"] else "[red]DOES NOT MATCH[/]"
            out.print(
                f"certificate of plan {c['plan_id'][:12]}: {verdict} ({'; '.join(c['problems']) or 'every hash'})"
            )
            err.print("its signature and proofs are checked by: disgorge certificate verify FILE --key KEY")
        out.print("bit-identical" if report.ok else "[red]NOT bit-identical[/]")
    raise typer.Exit(0 if report.ok else 1)


def _read_certificate(path: Path) -> dict[str, Any]:
    from disgorge.ledger.audit import parse_strict_json

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"certificate {path}: cannot read it ({exc.strerror})") from exc
    doc = parse_strict_json(data, f"certificate {path}", InputError)
    if not isinstance(doc, dict):
        raise InputError(f"certificate {path} is not a JSON object")
    return doc

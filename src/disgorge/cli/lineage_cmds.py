"""Commands that capture and question lineage: run record, model deploy, impact, lineage."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog, model_app, run_app
from disgorge.cli.output import emit_json, out
from disgorge.errors import InputError, UsageError
from disgorge.model import ARTIFACT_KINDS, MODEL_RELATIONS


def parse_output(text: str) -> tuple[str, str | None, str]:
    """``KIND:PATH`` or ``KIND:NAME=PATH`` -> (kind, name, path)."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ARTIFACT_KINDS or not rest:
        raise InputError(
            f"--output {text!r} is not KIND:PATH",
            hint=f"e.g. model:out/student.pt or model:student-v1=out/student.pt; kinds: {', '.join(ARTIFACT_KINDS)}",
        )
    name, eq, path = rest.partition("=")
    return (kind, name, path) if eq and name and path else (kind, None, rest)


@run_app.command("record")
def run_record(
    name: Annotated[str, typer.Option(help="Run name.")],
    use: Annotated[str, typer.Option(help="Data use (fideslang key), e.g. train_ai_system.")],
    party: Annotated[str, typer.Option(help="Who ran it (the recipient of the data).")],
    input_: Annotated[
        list[str] | None, typer.Option("--input", help="dataset:NAME[@V], model:REF or artifact:REF.")
    ] = None,
    output: Annotated[
        list[str] | None, typer.Option(help="KIND:PATH or KIND:NAME=PATH of what the run wrote.")
    ] = None,
    relation: Annotated[
        str, typer.Option(help="Link from input models to output models.")
    ] = "fine_tuned_from",
    code_version: Annotated[str | None, typer.Option(help="Commit or version of the training code.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record a finished run: its exact inputs and the models and artifacts it produced."""
    if relation not in MODEL_RELATIONS:
        raise UsageError(
            f"--relation {relation!r} is unknown", hint=f"relations: {', '.join(MODEL_RELATIONS)}"
        )
    outputs = [parse_output(o) for o in output or []]
    inputs = input_ or []
    with (
        catalog(home) as cat,
        cat.run(name, use=use, party=party, inputs=inputs, code_version=code_version, enforce=False) as run,
    ):
        parent_models = [i.partition(":")[2] for i in inputs if i.startswith("model:")]
        data_inputs = [i for i in inputs if i.startswith("dataset:")]
        logged: list[dict[str, Any]] = []
        for kind, oname, path in outputs:
            if kind == "model":
                art = run.log_model(path, name=oname, parents=parent_models, relation=relation)
            else:
                art = run.log_artifact(path, kind=kind, name=oname, derived_from=data_inputs)
            logged.append({"kind": art.kind, "name": art.name, "sha256": art.sha256, "uris": list(art.uris)})
    result = {
        "run": run.info.uid,
        "name": name,
        "use": use,
        "party": party,
        "inputs": inputs,
        "outputs": logged,
    }
    if json:
        emit_json(result)
    else:
        out.print(
            f"run [bold]{name}[/] ({run.info.uid}) recorded: {len(inputs)} inputs, {len(logged)} outputs"
        )


@model_app.command("deploy")
def model_deploy(
    model: Annotated[str, typer.Argument(help="Model name, path or sha256.")],
    target: Annotated[str, typer.Option(help="Where it is served, e.g. https://api.example/v1/faces.")],
    hook: Annotated[str | None, typer.Option(help="Command or URL that takes it down.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record where a model is served, and how to take it down."""
    with catalog(home) as cat:
        dep_id = cat.deploy(model, target=target, hook=hook)
    if json:
        emit_json({"deployment": dep_id, "model": model, "target": target})
    else:
        out.print(f"deployment of {model} at {target} recorded")


@app.command("impact")
def impact_cmd(
    subject: Annotated[str | None, typer.Option(help="External subject id.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset NAME[@VERSION].")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset sha256.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Everything downstream of a subject, source, dataset or asset: copies, datasets, runs, models
    (through every parent link), derived artifacts, deployments and recipients."""
    given = {
        k: v
        for k, v in {"subject": subject, "source": source, "dataset": dataset, "asset": asset}.items()
        if v
    }
    if len(given) != 1:
        raise UsageError("give exactly one of --subject, --source, --dataset, --asset")
    ((kind, value),) = given.items()
    with catalog(home) as cat:
        result = cat.impact(kind, value)
    if json:
        emit_json(result.to_json())
        return
    c = result.counts()
    out.print(f"[bold]Impact of {result.scope}[/]")
    out.print(", ".join(f"{v} {k}" for k, v in c.items()))
    for name, n in result.unknown_subject_assets.items():
        out.print(f"[yellow]{n} assets of source {name} have no known subject[/] (not found by subject)")
    if result.datasets:
        t = Table("dataset", "members", "loses")
        for d in result.datasets:
            t.add_row(d["ref"], str(d["members"]), str(d["loses"]))
        out.print(t)
    if result.models:
        t = Table("model", "sha256", "made from")
        for m in result.models:
            parents = (
                ", ".join(f"{p['relation']} #{p['artifact_id']}" for p in m["parents"]) or "training data"
            )
            t.add_row(m["name"] or (m["uris"][0] if m["uris"] else "?"), m["sha256"][:12], parents)
        out.print(t)
    if result.artifacts:
        out.print(
            f"derived artifacts: {', '.join(sorted({a['kind'] for a in result.artifacts}))} ({len(result.artifacts)})"
        )
    for d in result.deployments:
        out.print(f"deployment: {d['target']}")
    if result.recipients:
        out.print(f"recipients: {', '.join(result.recipients)}")


@app.command("lineage")
def lineage_cmd(
    model: Annotated[str, typer.Argument(help="Model name, path or sha256.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """A model's data bill of materials: sources, subjects, dataset versions, categories, consent basis, parents."""
    with catalog(home) as cat:
        bom = cat.lineage(model)
    if json:
        emit_json(bom.to_json())
        return
    out.print(
        f"[bold]Bill of materials of {bom.model['name'] or bom.model['uris'][0]}[/] (sha256 {bom.model['sha256'][:16]}…)"
    )
    out.print(
        f"{bom.asset_count} assets of {bom.subject_count} subjects; categories: {', '.join(bom.categories) or '-'}"
    )
    for d in bom.datasets:
        out.print(f"dataset {d['ref']} ({d['members']} members, digest {d['digest'][:12]}…)")
    for s in bom.sources:
        covered = ", ".join(f"{u}: {'yes' if ok else 'NO'}" for u, ok in s["uses_covered_by_notice"].items())
        out.print(
            f"source {s['name']}: {s['assets']} assets, basis {s['legal_basis']}, notice v{s['notice_version']} ({covered})"
        )
    for p in bom.parents:
        out.print(f"parent {p['name'] or p['sha256'][:12]} ({p['relation']})")
    for r in bom.runs:
        out.print(f"run {r['name']} by {r['party']} for {r['use']}")

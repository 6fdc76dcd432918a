"""Training runs through the server: start one behind the consent gate, report its inputs and outputs,
finish it. The gate is ``Catalog.run``'s: a run whose inputs consent does not cover is refused (403),
with the decision and its reasons, before any of its data is read."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from disgorge.catalog import ArtifactInfo, RunInfo
from disgorge.integrations.members import member_copies
from disgorge.model import ARTIFACT_KINDS, MODEL_RELATIONS
from disgorge.server.deps import API, Cat, requires

router = APIRouter(prefix=API, tags=["runs"])

Ref = Field(min_length=1, max_length=300)


class RunIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    use: str = Field(min_length=1, max_length=200, description="The data use (fideslang key).")
    party: str = Field(min_length=1, max_length=200, description="Who runs it / receives its outputs.")
    inputs: list[str] = Field([], max_length=100, description="dataset:NAME[@V], model:REF or artifact:REF")
    code_version: str | None = Field(None, max_length=200)
    compliant_subset: bool = Field(
        False, description="Read, for each violating dataset, a derived dataset of its allowed members."
    )
    enforce: bool = Field(
        True, description="False records a run that already happened (its decision is still recorded)."
    )


class RunOut(BaseModel):
    id: int
    uid: str
    name: str
    use: str
    party: str
    status: str
    decision: dict[str, Any] | None = Field(None, description="The consent check of its inputs.")


class InputsIn(BaseModel):
    datasets: list[str] = Field(min_length=1, max_length=100, description="NAME or NAME@VERSION")


class InputsOut(BaseModel):
    run: str
    datasets: list[str]


class MembersIn(BaseModel):
    dataset: str = Field(min_length=1, max_length=300, description="NAME or NAME@VERSION")


class MembersOut(BaseModel):
    """What a training loader may read: each member's sha256 and the URIs of its present copies."""

    run: str
    dataset: str
    members: list[tuple[str, list[str]]]


class ExportIn(BaseModel):
    dataset: str = Field(min_length=1, max_length=300, description="NAME[@VERSION].")
    to: str = Field(min_length=1, max_length=200, description="The receiving party.")


class ExportOut(BaseModel):
    """A share allowed and recorded as a run: the client copies the members, then finishes the run."""

    run: str
    dataset: str
    decision: str | None
    members: list[tuple[str, str, list[str]]] = Field(description="(sha256, media type, copies' URIs).")


class OutputIn(BaseModel):
    """An output the run wrote, hashed where it was written."""

    kind: str = Field(description=f"one of {', '.join(ARTIFACT_KINDS)}")
    uri: str = Field(min_length=1, max_length=4000)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=2**53)
    name: str | None = Field(None, min_length=1, max_length=200)
    parents: list[str] = Field([], max_length=50, description="Models it was made from (name or sha256).")
    relation: str = Field("fine_tuned_from", description=f"one of {', '.join(MODEL_RELATIONS)}")
    derived_from: list[str] = Field([], max_length=50, description="dataset:…, asset:…, model:…")


class ArtifactOut(BaseModel):
    id: int
    kind: str
    name: str | None
    sha256: str
    size: int
    run_id: int | None
    uris: list[str]


class FinishIn(BaseModel):
    status: Literal["finished", "failed"] = "finished"


def run_out(r: RunInfo, decision: dict[str, Any] | None = None) -> RunOut:
    return RunOut(
        id=r.id, uid=r.uid, name=r.name, use=r.use, party=r.party, status=r.status, decision=decision
    )


def artifact_out(a: ArtifactInfo) -> ArtifactOut:
    return ArtifactOut(
        id=a.id, kind=a.kind, name=a.name, sha256=a.sha256, size=a.size, run_id=a.run_id, uris=list(a.uris)
    )


@router.post(
    "/runs",
    response_model=RunOut,
    summary="Start a run behind the consent gate (403 with the decision if refused)",
    dependencies=[requires("run.write")],
)
def start(cat: Cat, body: RunIn) -> RunOut:
    ctx = cat.run(
        body.name,
        use=body.use,
        party=body.party,
        inputs=body.inputs,
        code_version=body.code_version,
        enforce=body.enforce,
        compliant_subset=body.compliant_subset,
    )
    return run_out(ctx.info, ctx.decision.to_json() if ctx.decision else None)


@router.get("/runs/{run}", response_model=RunOut, summary="One run", dependencies=[requires("read")])
def show(cat: Cat, run: str) -> RunOut:
    return run_out(cat.run_info(run))


@router.post(
    "/runs/{run}/inputs",
    response_model=InputsOut,
    summary="Add dataset inputs to a running run, checked for its use and party first",
    dependencies=[requires("run.write")],
)
def inputs(cat: Cat, run: str, body: InputsIn) -> InputsOut:
    ctx = cat.resume_run(run)
    used = ctx.use_datasets(body.datasets)
    return InputsOut(run=ctx.info.uid, datasets=[d.ref for d in used])


@router.post(
    "/runs/{run}/members",
    response_model=MembersOut,
    summary="A dataset's readable members for a running run's loader, checked and recorded as its input",
    dependencies=[requires("run.write")],
)
def members(cat: Cat, run: str, body: MembersIn) -> MembersOut:
    ctx = cat.resume_run(run)
    ds = ctx.use_dataset(body.dataset)
    return MembersOut(run=ctx.info.uid, dataset=ds.ref, members=member_copies(cat.store, ds.id))


@router.post(
    "/exports",
    response_model=ExportOut,
    tags=["enforcement"],
    summary="Share a dataset with a party: checked (403 if any member may not go), then its members' copies",
    dependencies=[requires("export")],
)
def export(cat: Cat, body: ExportIn) -> ExportOut:
    from disgorge.enforcement.export import member_copies as copies

    report, run, ds = cat.begin_export(body.dataset, to=body.to)
    members = copies(cat.store, cat.store.members(ds.id))
    return ExportOut(run=run.info.uid, dataset=ds.ref, decision=report.decision_uid, members=members)


@router.post(
    "/runs/{run}/outputs",
    response_model=ArtifactOut,
    summary="Report an output (a model or derived artifact) of a running run",
    dependencies=[requires("run.write")],
)
def outputs(cat: Cat, run: str, body: OutputIn) -> ArtifactOut:
    ctx = cat.resume_run(run)
    art = ctx.log_output(
        kind=body.kind,
        uri=body.uri,
        sha256=body.sha256,
        size=body.size,
        name=body.name,
        parents=body.parents,
        relation=body.relation,
        derived_from=body.derived_from,
    )
    return artifact_out(art)


@router.post(
    "/runs/{run}/finish",
    response_model=RunOut,
    summary="Finish a run",
    dependencies=[requires("run.write")],
)
def finish(cat: Cat, run: str, body: FinishIn) -> RunOut:
    cat.finish_run(run, body.status)
    return run_out(cat.run_info(run))

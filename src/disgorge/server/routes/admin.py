"""An admin's settings for the whole catalog: principals, recipients' channels, the policy, storage
roots and the ledger's witnesses. Roster and channel changes are statements the admin signs on the
client with their own key (``GET …/statement`` gives what to sign, checked first); the server verifies
and records them and signs nothing for anyone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from disgorge.errors import UsageError
from disgorge.model.capture import CapturedDataset, CapturedRun
from disgorge.model.types import MODEL_RELATIONS
from disgorge.server.deps import API, Cat, requires
from disgorge.server.routes.statements import SignedIn, TemplateOut
from disgorge.trust import parse

router = APIRouter(prefix=API, tags=["admin"])


class MemberOut(BaseModel):
    name: str
    key: str
    roles: list[str]
    added_by: str
    added_at: int
    revoked_at: int | None


class BindingOut(BaseModel):
    party: str
    channel: dict[str, Any]
    key: str | None
    set_by: str
    set_at: str
    ledger_index: int
    binding: str = Field(description="The sha256 of the signed statement, as notices name it.")


class RecipientsOut(BaseModel):
    recipients: list[BindingOut]
    set_aside: list[str] = Field(description="Bindings that do not verify, and why.")


class PolicyOut(BaseModel):
    text: str
    version: str = Field(description="The version label, e.g. 'catalog v3 (ab12…)', or 'built-in default'.")


class PolicyIn(BaseModel):
    text: str = Field(min_length=1, max_length=1_000_000, description="The policy YAML (docs/policy.md).")
    origin: str = Field(
        "api", min_length=1, max_length=500, description="Where it came from, for the record."
    )


class VersionOut(BaseModel):
    version: int


class RootsIn(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=100, description="Absolute folders on the server.")


class RootsOut(BaseModel):
    roots: list[str]


class S3In(BaseModel):
    """The endpoint every home uses; credentials only as the names of environment variables each home
    (the server's included) reads them from: a secret never travels to or rests in the catalog."""

    model_config = ConfigDict(extra="forbid")  # a secret sent along is refused, not silently dropped

    endpoint_url: str = Field(min_length=1, max_length=2000)
    access_key_id_env: str | None = Field(None, min_length=1, max_length=200)
    secret_access_key_env: str | None = Field(None, min_length=1, max_length=200)
    weed_master: str | None = Field(None, min_length=1, max_length=500)


class S3Out(BaseModel):
    s3: dict[str, str]


class SubjectIn(BaseModel):
    subject: str = Field(
        min_length=1, max_length=500, description="The external subject id (pseudonymised here)."
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why the attribution changes (ledgered).")


class SubjectOut(BaseModel):
    sha256: str
    changed: bool


_LINE = r"^[^\x00-\x1f\x7f]*$"
"""One line of text: no NUL or other control character ends up in a catalog column."""


class CapturedDatasetIn(BaseModel):
    """An input or output as the MLflow mapping names it (``disgorge.model.capture.CapturedDataset``),
    each field within its catalog column."""

    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(max_length=1000, pattern=_LINE)
    name: str = Field(max_length=2000, pattern=_LINE)
    uri: str = Field(min_length=1, max_length=2000, pattern=_LINE)
    version: str | None = Field(None, max_length=200, pattern=_LINE)
    digest: str | None = Field(None, max_length=200, pattern=_LINE)
    dataset_ref: str | None = Field(None, max_length=210, pattern=_LINE)
    is_model: bool = False
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(None, ge=0, le=2**62)
    model_name: str | None = Field(None, min_length=1, max_length=200, pattern=_LINE)
    relation: Literal[MODEL_RELATIONS] = "fine_tuned_from"  # type: ignore[valid-type]
    subset: dict[str, Any] | None = None


class CapturedRunIn(BaseModel):
    """A run an MLflow history holds (``disgorge.model.capture.CapturedRun``)."""

    model_config = ConfigDict(extra="forbid")
    uid: str = Field(min_length=1, max_length=36, pattern=r"^[\w.:-]+$")
    source: Literal["mlflow"]
    producer: str = Field(min_length=1, max_length=2000, pattern=_LINE)
    name: str = Field(min_length=1, max_length=200, pattern=_LINE)
    status: Literal["running", "finished", "failed", "aborted"]
    use: str = Field(min_length=1, max_length=100, pattern=_LINE)
    party: str = Field(min_length=1, max_length=200, pattern=_LINE)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    job_namespace: str | None = Field(None, max_length=1000, pattern=_LINE)
    job_name: str | None = Field(None, max_length=1000, pattern=_LINE)
    parent_uid: str | None = Field(None, max_length=200, pattern=_LINE)
    inputs: list[CapturedDatasetIn] = Field([], max_length=1000)
    outputs: list[CapturedDatasetIn] = Field([], max_length=1000)
    events: int = Field(1, ge=1, le=2**31 - 1)

    def domain(self) -> CapturedRun:
        fields = self.model_dump(exclude={"inputs", "outputs"})
        inputs = tuple(CapturedDataset(**d.model_dump()) for d in self.inputs)
        return CapturedRun(
            **fields, inputs=inputs, outputs=tuple(CapturedDataset(**d.model_dump()) for d in self.outputs)
        )


class CapturedIn(BaseModel):
    """Runs another system recorded, as ``disgorge import mlflow`` reads them on the client."""

    origin: str = Field(min_length=1, max_length=2000, description="Where they were read (a tracking URI).")
    runs: list[CapturedRunIn] = Field(max_length=500)


class CapturedOut(BaseModel):
    tracking_uri: str
    runs: int
    new_runs: int
    inputs_resolved: int
    models: int
    unresolved: list[dict[str, str]]


class WitnessIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000)
    key: str = Field(min_length=1, max_length=400, description="Its verifier key (`disgorge witness init`).")


class Witness(BaseModel):
    url: str
    key: str


class WitnessesOut(BaseModel):
    witnesses: list[Witness]


@router.get(
    "/principals", response_model=list[MemberOut], summary="The roster", dependencies=[requires("read")]
)
def principals(cat: Cat) -> list[dict[str, Any]]:
    return cat.principals()


@router.get(
    "/principals/statement",
    response_model=TemplateOut,
    summary="The roster statement an admin signs to add, update or revoke a principal",
    dependencies=[requires("roster.write")],
)
def principal_statement(
    cat: Cat,
    kind: Literal["roster.add", "roster.update", "roster.revoke"],
    name: str = Query(min_length=1, max_length=200),
    key: str | None = Query(None, max_length=400),
    role: list[str] = Query([], max_length=20),
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if kind == "roster.add":
        if key is None or not role:
            raise UsageError("adding a principal needs their key and at least one role")
        body = {"key": key.strip(), "roles": sorted(set(role))}
    elif kind == "roster.update":
        if not role:
            raise UsageError("an update gives the principal's roles")
        body = {"roles": sorted(set(role))}
    return cat.roster_template(kind, name, body)


@router.post(
    "/principals",
    response_model=MemberOut,
    summary="Record an admin's signed roster statement (add, update, revoke)",
    dependencies=[requires("roster.write")],
)
def change_principal(cat: Cat, body: SignedIn) -> dict[str, Any]:
    return cat.submit_roster(parse(body.model_dump(), "the roster statement"))


@router.get(
    "/recipients",
    response_model=RecipientsOut,
    summary="Recipients' channels",
    dependencies=[requires("read")],
)
def recipients(cat: Cat) -> dict[str, Any]:
    bindings, problems = cat.recipients.list()
    return {"recipients": [b.to_json() for b in bindings], "set_aside": problems}


@router.get(
    "/recipients/statement",
    response_model=TemplateOut,
    summary="The recipient.set statement an admin signs to bind a party to its channel",
    dependencies=[requires("recipient.write")],
)
def recipient_statement(
    cat: Cat,
    party: str = Query(min_length=1, max_length=200),
    webhook: str | None = Query(None, min_length=1, max_length=2000),
    command: str | None = Query(None, min_length=1, max_length=2000),
    key: str | None = Query(None, min_length=1, max_length=400),
) -> dict[str, Any]:
    return cat.recipient_template(party, webhook=webhook, command=command, key=key)


@router.post(
    "/recipients",
    response_model=BindingOut,
    summary="Record an admin's signed recipient.set statement",
    dependencies=[requires("recipient.write")],
)
def set_recipient(cat: Cat, body: SignedIn) -> dict[str, Any]:
    return cat.submit_recipient(parse(body.model_dump(), "the recipient binding")).to_json()


@router.get(
    "/policy", response_model=PolicyOut, summary="The policy in force", dependencies=[requires("read")]
)
def policy(cat: Cat) -> PolicyOut:
    text, version = cat.policy_source()
    return PolicyOut(text=text, version=version)


@router.put(
    "/policy",
    response_model=VersionOut,
    summary="Store a new policy version (parsed first: a bad policy is never stored)",
    dependencies=[requires("key.manage")],
)
def set_policy(cat: Cat, body: PolicyIn) -> VersionOut:
    return VersionOut(version=cat.put_policy(body.text, origin=body.origin))


@router.get(
    "/storage/roots",
    response_model=RootsOut,
    summary="Where erasure may delete",
    dependencies=[requires("read")],
)
def roots(cat: Cat) -> RootsOut:
    return RootsOut(roots=cat.storage_roots())


@router.post(
    "/storage/roots",
    response_model=RootsOut,
    summary="Register folders on the server where erasure may delete",
    dependencies=[requires("storage.write")],
)
def add_roots(cat: Cat, body: RootsIn) -> RootsOut:
    paths = [Path(p) for p in body.paths]
    relative = [str(p) for p in paths if not p.is_absolute()]
    if relative:
        raise UsageError(
            f"storage roots must be absolute paths on the server: {', '.join(relative)}",
            hint="a relative path would be read against the server's own folder",
        )
    found: list[str] = []
    for p in paths:
        found = cat.add_storage_root(p)
    return RootsOut(roots=found)


@router.put(
    "/storage/s3",
    response_model=S3Out,
    summary="Set the S3 endpoint erasure and scans use (credentials by environment variable name)",
    dependencies=[requires("storage.write")],
)
def set_s3(cat: Cat, body: S3In) -> S3Out:
    return S3Out(s3=cat.set_s3({k: v or "" for k, v in body.model_dump().items()}))


@router.post(
    "/assets/{sha256}/subject",
    response_model=SubjectOut,
    tags=["sources"],
    summary="Attribute an asset to a subject, replacing the one it had (resolves a subject_conflict)",
    dependencies=[requires("asset.write")],
)
def set_subject(cat: Cat, sha256: str, body: SubjectIn) -> SubjectOut:
    asset, changed = cat.set_subject(sha256, body.subject, reason=body.reason)
    return SubjectOut(sha256=asset.sha256, changed=changed)


@router.post(
    "/capture/runs",
    response_model=CapturedOut,
    tags=["lineage"],
    summary="Record runs another system recorded (disgorge import mlflow), idempotently",
    dependencies=[requires("lineage.write")],
)
def record_captured(cat: Cat, body: CapturedIn) -> dict[str, Any]:
    return cat.record_captured([r.domain() for r in body.runs], origin=body.origin)


@router.get(
    "/ledger/witnesses",
    response_model=WitnessesOut,
    tags=["ledger"],
    summary="The witnesses that cosign checkpoints",
    dependencies=[requires("read")],
)
def witnesses(cat: Cat) -> dict[str, Any]:
    return {"witnesses": cat.witnesses()}


@router.post(
    "/ledger/witnesses",
    response_model=WitnessesOut,
    tags=["ledger"],
    summary="Have a witness cosign every checkpoint (a URL already there gets the new key)",
    dependencies=[requires("key.manage")],
)
def add_witness(cat: Cat, body: WitnessIn) -> dict[str, Any]:
    return {"witnesses": cat.add_witness(body.url, body.key)}

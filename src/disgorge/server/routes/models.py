"""Models, their lineage (bill of materials) and deployments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, page
from disgorge.server.routes.runs import ArtifactOut, artifact_out

router = APIRouter(prefix=API, tags=["models"])
"""A model is named by its name, sha256 or a copy's path or URI, which may hold slashes: the routes take
the rest of the path (``{model:path}``), the suffixed ones declared before ``/models/{model}`` itself."""


class LineageOut(BaseModel):
    """``disgorge lineage --json``: what a model was made from."""

    model: dict[str, Any]
    parents: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    subject_count: int
    asset_count: int
    categories: list[str]


class DeploymentIn(BaseModel):
    target: str = Field(min_length=1, max_length=500)
    hook: str | None = Field(
        None, min_length=1, max_length=1000, description="Takedown command (admins only)."
    )


class DeploymentOut(BaseModel):
    id: int
    target: str
    hook: str | None
    state: str


@router.get("/models", response_model=Page[ArtifactOut], summary="Models", dependencies=[requires("read")])
def models(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[ArtifactOut]:
    return page([artifact_out(m) for m in cat.models()], cursor, limit)


@router.get(
    "/models/{model:path}/lineage",
    response_model=LineageOut,
    summary="A model's bill of materials",
    dependencies=[requires("read")],
)
def lineage(cat: Cat, model: str) -> dict[str, Any]:
    return cat.lineage(model).to_json()


@router.get(
    "/models/{model:path}/deployments",
    response_model=Page[DeploymentOut],
    summary="Where a model is deployed",
    dependencies=[requires("read")],
)
def deployments(cat: Cat, model: str, limit: Limit = 100, cursor: Cursor = None) -> Page[DeploymentOut]:
    return page([DeploymentOut(**d) for d in cat.deployments(model)], cursor, limit)


@router.post(
    "/models/{model:path}/deployments",
    response_model=DeploymentOut,
    summary="Record a deployment of a model",
    dependencies=[requires("model.deploy")],
)
def deploy(cat: Cat, model: str, body: DeploymentIn) -> DeploymentOut:
    dep_id = cat.deploy(model, target=body.target, hook=body.hook)
    return next(DeploymentOut(**d) for d in cat.deployments(model) if d["id"] == dep_id)


@router.get(
    "/models/{model:path}", response_model=ArtifactOut, summary="One model", dependencies=[requires("read")]
)
def show(cat: Cat, model: str) -> ArtifactOut:
    return artifact_out(cat.model(model))

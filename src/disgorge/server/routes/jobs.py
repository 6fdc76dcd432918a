"""Jobs: ingest scans, erasure execution and verification scans, run by workers, followed and
cancelled here. ``POST /erasures/{plan}/run`` and ``/verify`` are the same jobs by their usual names.

The server signs nothing: an execution job starts only with the ``erasure.execute`` statement its
owner signed, and the job runs as that owner, with the roles the roster gives them when it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from disgorge.api import Catalog
from disgorge.catalog.jobs import JobRow
from disgorge.jobs import JobService, Queue, Runner
from disgorge.jobs.kinds import JOB_KINDS
from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, offset

router = APIRouter(prefix=API, tags=["jobs"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestBody(_Strict):
    path: str = Field(description="An absolute path on the server, under a registered storage root.")
    source: str
    manifest: str | None = Field(None, description="CSV or JSONL under a storage root.")
    subject_from: Literal["parent-dir"] | None = None
    no_subject: bool = False
    allow_non_images: bool = False
    allow_near_erased: bool = False
    workers: int = Field(0, ge=0, le=64, description="Hashing processes (0: the default).")


class SignedStatement(_Strict):
    statement: dict[str, Any]
    signature: str


class ExecuteBody(_Strict):
    plan: str
    statement: SignedStatement = Field(description="erasure.execute, signed by the job's owner.")
    trust_metadata: bool = False


class VerifyBody(_Strict):
    plan: str
    roots: list[str] = Field(
        default_factory=list, description="Folders (under storage roots) or s3:// to scan."
    )


class IngestJob(_Strict):
    kind: Literal["ingest"]
    body: IngestBody


class ExecuteJob(_Strict):
    kind: Literal["erase.execute"]
    body: ExecuteBody


class VerifyJob(_Strict):
    kind: Literal["erase.verify"]
    body: VerifyBody


JobIn = Annotated[IngestJob | ExecuteJob | VerifyJob, Field(discriminator="kind")]


class RunBody(_Strict):
    statement: SignedStatement = Field(description="erasure.execute of this plan, signed by you.")
    trust_metadata: bool = False


class VerifyRootsBody(_Strict):
    roots: list[str] = Field(default_factory=list)


class ProgressOut(BaseModel):
    phase: str | None
    done: int
    total: int | None


class JobOut(BaseModel):
    id: str
    kind: str
    owner: str
    request: dict[str, Any]
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: ProgressOut
    cancel_requested: bool
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


def _out(row: JobRow) -> JobOut:
    return JobOut.model_validate(row.to_json())


def _service(request: Request) -> JobService:
    service: JobService = request.app.state.jobs
    return service


def _created(request: Request, response: Response, cat: Catalog, kind: str, body: dict[str, Any]) -> JobOut:
    row = _service(request).submit(cat, kind, body)
    response.headers["Location"] = f"{API}/jobs/{row.id}"
    return _out(row)


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    summary="Start a job",
    dependencies=[requires("job.start")],
)
def create_job(request: Request, response: Response, cat: Cat, job: JobIn) -> JobOut:
    return _created(request, response, cat, job.kind, job.body.model_dump())


@router.get(
    "/jobs",
    response_model=Page[JobOut],
    summary="Your jobs (an admin's: everyone's)",
    dependencies=[requires("read")],
)
def list_jobs(request: Request, cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[JobOut]:
    start = offset(cursor)
    rows = _service(request).page(cat, start, limit + 1)
    more = len(rows) > limit
    return Page[JobOut](items=[_out(r) for r in rows[:limit]], next=str(start + limit) if more else None)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's status, progress and result",
    dependencies=[requires("read")],
)
def get_job(request: Request, cat: Cat, job_id: str) -> JobOut:
    return _out(_service(request).get(cat, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job (between two units)",
    dependencies=[requires("read")],
)
def cancel_job(request: Request, cat: Cat, job_id: str) -> JobOut:
    return _out(_service(request).cancel(cat, job_id))


@router.post(
    "/erasures/{plan}/run",
    status_code=202,
    response_model=JobOut,
    summary="Execute a plan (as a job)",
    dependencies=[requires("erase.run")],
)
def run_erasure(request: Request, response: Response, cat: Cat, plan: str, body: RunBody) -> JobOut:
    return _created(request, response, cat, "erase.execute", {"plan": plan, **body.model_dump()})


@router.post(
    "/erasures/{plan}/verify",
    status_code=202,
    response_model=JobOut,
    summary="Verify a plan (as a job)",
    dependencies=[requires("erase.verify")],
)
def verify_erasure(
    request: Request, response: Response, cat: Cat, plan: str, body: VerifyRootsBody
) -> JobOut:
    return _created(request, response, cat, "erase.verify", {"plan": plan, **body.model_dump()})


def lifespan(
    catalog: Catalog, url: str | None, workers: int
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the job queue, and (``workers`` > 0) worker threads beside uvicorn."""

    @asynccontextmanager
    async def span(app: FastAPI) -> AsyncIterator[None]:
        queue = Queue(catalog, url, Runner(catalog, JOB_KINDS) if workers > 0 else None)
        app.state.jobs = JobService(queue)
        await run_in_threadpool(queue.start, workers)
        try:
            yield
        finally:
            await run_in_threadpool(queue.stop)

    return span

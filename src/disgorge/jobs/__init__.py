"""Long work as jobs: ingest scans, erasure execution and verification scans, with progress and
cancellation, on huey (SQLite in the home, the catalog's PostgreSQL, or Redis), recorded in the catalog
so that a restart loses no job and runs none twice."""

from disgorge.jobs.kinds import JOB_KINDS
from disgorge.jobs.queue import Queue
from disgorge.jobs.runner import Runner
from disgorge.jobs.service import JobService

__all__ = ["JOB_KINDS", "JobService", "Queue", "Runner"]

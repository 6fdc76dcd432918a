"""Where batches run: this machine's process pool (the default) or Ray (``disgorge[ray]``).

Both take tasks as they are planned and give back each batch's :class:`~disgorge.engines.work.Done`, or
the exception that failed it after retries, in completion order, with a bounded number in flight so a
listing of hundreds of millions of keys never sits in memory. A worker that dies (a killed process, a
lost node) costs only its batch, which runs again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

import numpy as np

from disgorge.engines.work import Done, Task, run_task
from disgorge.errors import UsageError

K = TypeVar("K")
Rows = tuple[np.ndarray, np.ndarray] | None
ATTEMPTS = 3
RAY_HINT = "install it with: pip install 'disgorge[ray]' (or leave out --engine to use this machine's cores)"


class Executor(Protocol):
    workers: int

    def run(
        self, tasks: Iterator[tuple[K, Task]], rows: Rows
    ) -> Iterator[tuple[K, Done | BaseException]]: ...

    def close(self) -> None: ...


_ROWS: Rows = None


def _init_pool(rows: Rows) -> None:
    global _ROWS
    _ROWS = rows


def _pool_task(task: Task) -> Done:
    return run_task(task, _ROWS)


class PoolExecutor:
    """``workers`` processes on this machine, each given the index rows once when it starts."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, tasks: Iterator[tuple[K, Task]], rows: Rows) -> Iterator[tuple[K, Done | BaseException]]:
        pool = ProcessPoolExecutor(self.workers, initializer=_init_pool, initargs=(rows,))
        flight: dict[Future[Done], tuple[K, Task, int]] = {}
        try:
            while True:
                while len(flight) < 2 * self.workers:
                    nxt = next(tasks, None)
                    if nxt is None:
                        break
                    flight[pool.submit(_pool_task, nxt[1])] = (nxt[0], nxt[1], 1)
                if not flight:
                    return
                done, _ = wait(flight, return_when=FIRST_COMPLETED)
                broken: list[tuple[K, Task, int]] = []
                for fut in done:
                    key, task, attempt = flight.pop(fut)
                    try:
                        yield key, fut.result()
                    except BrokenProcessPool as exc:
                        if attempt >= ATTEMPTS:
                            yield key, exc
                        else:
                            broken.append((key, task, attempt + 1))
                    except Exception as exc:
                        yield key, exc
                if broken:  # the pool is gone: every batch in flight runs again on a new one
                    broken += [(k, t, a + 1) for k, t, a in flight.values()]
                    flight.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = ProcessPoolExecutor(self.workers, initializer=_init_pool, initargs=(rows,))
                    for key, task, attempt in broken:
                        flight[pool.submit(_pool_task, task)] = (key, task, attempt)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--engine ray needs Ray, which is not installed", hint=RAY_HINT) from exc
    return ray


class RayExecutor:
    """Ray tasks, one batch each. Joins the cluster named by ``RAY_ADDRESS`` when set, else starts a
    local Ray on this machine's cores; a Ray this process did not start is never shut down. Each task
    asks for ``cpus / workers`` CPUs so that exactly ``workers`` run at once, and Ray re-runs a task whose
    worker died (``max_retries``). The index rows go into the object store once, for every task."""

    def __init__(self, workers: int = 0) -> None:
        ray = _import_ray()
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **kw)
            self.started = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, int(cpus))
        self._remote = ray.remote(run_task).options(
            num_cpus=cpus / self.workers, max_retries=ATTEMPTS, retry_exceptions=False
        )

    def run(self, tasks: Iterator[tuple[K, Task]], rows: Rows) -> Iterator[tuple[K, Done | BaseException]]:
        ray = self.ray
        rows_ref = ray.put(rows)
        flight: dict[Any, K] = {}
        while True:
            while len(flight) < 2 * self.workers:
                nxt = next(tasks, None)
                if nxt is None:
                    break
                flight[self._remote.remote(nxt[1], rows_ref)] = nxt[0]
            if not flight:
                return
            ready, _ = ray.wait(list(flight), num_returns=1)
            for ref in ready:
                key = flight.pop(ref)
                try:
                    yield key, ray.get(ref)
                except Exception as exc:  # a task that failed every retry, or raised
                    yield key, exc

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def executor(engine: str, workers: int) -> Executor:
    if engine == "ray":
        return RayExecutor(workers)
    if engine == "local":
        return PoolExecutor(workers or min(2, os.cpu_count() or 1))
    raise UsageError(f"--engine {engine!r} is unknown", hint="use local (this machine's cores) or ray")

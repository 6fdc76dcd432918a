"""Concurrent add-checkpoint requests: a witness never cosigns two roots for one size, nor a fork.

Threads submit the honest log and a fork of it (same key and origin, sharing the first entries) as
fast as they can, each following 409s to the witness's size. Two cases: one witness over HTTP (the
per-origin lock), and two witness objects on one state file, as two processes would be (the
compare-and-swap in SQLite).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.errors import DisgorgeError
from disgorge.ledger.cosignature import add_cosignatures, verify_cosigned_checkpoint
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.core import Witness
from disgorge.witness.protocol import SizeConflict, format_add_checkpoint
from disgorge.witness.state import Recorded, WitnessState

from .conftest import ORIGIN, WITNESS_NAME, Log, serving

Submit = Callable[[bytes], tuple[int, str]]


def slow_clock() -> float:
    """The witness reads the clock between its checks and its write: widen that window to force races."""
    time.sleep(0.002)
    return time.time()


def _logs() -> tuple[Log, Log]:
    honest = Log().grow(60)
    fork = Log(
        key=honest.key, tree=MerkleTreeStore([honest.tree.leaf_hash(i) for i in range(8)]), tag=b"fork"
    )
    return honest, fork.grow(60)


def _race(submit: Submit, honest: Log, fork: Log, witness_vkey: str) -> list[tuple[int, int, bytes]]:
    """Every (old size, size, root) the witness cosigned while 8 threads pushed both logs at it."""
    cosigned: list[tuple[int, int, bytes]] = []
    lock = threading.Lock()

    def push(log: Log, sizes: range) -> None:
        old = 0
        for size in sizes:
            note = log.checkpoint(size)
            for _ in range(50):
                proof = [] if old in (0, size) or old > size else log.tree.consistency_proof(old, size)
                status, text = submit(format_add_checkpoint(old, proof, note))
                if status == 409:
                    old = int(text)
                    continue
                if status == 200:
                    cp, _ = verify_cosigned_checkpoint(
                        add_cosignatures(note, [text]), ORIGIN, [log.vkey], [witness_vkey]
                    )
                    with lock:
                        cosigned.append((old, cp.size, cp.root_hash))
                break

    with ThreadPoolExecutor(8) as pool:
        jobs = [
            pool.submit(push, log, range(start, 61, 4)) for log in (honest, fork) for start in (9, 10, 11, 12)
        ]
        for job in jobs:
            job.result()
    return cosigned


def _check(cosigned: list[tuple[int, int, bytes]], honest: Log, fork: Log) -> None:
    assert len(cosigned) > 5, "too little was cosigned to show anything"
    roots: dict[int, set[bytes]] = {}
    for _, size, root in cosigned:
        roots.setdefault(size, set()).add(root)
    assert all(len(r) == 1 for r in roots.values()), "two roots cosigned for one size"
    lineages = {
        "honest" if root == honest.tree.root(size) else "fork" for _, size, root in cosigned if size > 8
    }
    assert len(lineages) == 1, "the witness cosigned both the log and its fork"
    # Each cosignature moved the witness on from the state it checked: no two moved on from the same
    # size (that is the spec's race, where a smaller checkpoint is stored after a larger one).
    olds = [old for old, size, _ in cosigned if old != size]
    assert len(olds) == len(set(olds)), "two checkpoints were cosigned from the same stored state"


def test_concurrent_requests_over_http_never_cosign_a_fork(
    state: WitnessState, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    honest, fork = _logs()
    with serving(Witness(WITNESS_NAME, witness_key, [honest.config()], state, clock=slow_clock)) as http:

        def submit(body: bytes) -> tuple[int, str]:
            r = http.post("/add-checkpoint", content=body)
            return r.status_code, r.text

        cosigned = _race(submit, honest, fork, witness_vkey)
    _check(cosigned, honest, fork)


def test_two_witness_processes_on_one_state_never_cosign_a_fork(
    tmp_path: Path, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    honest, fork = _logs()
    states = [WitnessState(tmp_path / "shared.db", witness_vkey) for _ in range(2)]
    witnesses = [Witness(WITNESS_NAME, witness_key, [honest.config()], s, clock=slow_clock) for s in states]
    turn = iter(range(10**9))

    def submit(body: bytes) -> tuple[int, str]:
        w = witnesses[next(turn) % 2]
        try:
            return 200, w.add_checkpoint(body)
        except SizeConflict as exc:
            return 409, str(exc.witness_size)
        except DisgorgeError as exc:
            return exc.http_status, exc.message

    try:
        cosigned = _race(submit, honest, fork, witness_vkey)
    finally:
        for s in states:
            s.close()
    _check(cosigned, honest, fork)


def test_http_client_sees_409_then_catches_up(client: httpx.Client, log: Log) -> None:
    assert client.post("/add-checkpoint", content=log.request(0, 10)).status_code == 200
    log.grow(30)
    response = client.post("/add-checkpoint", content=log.request(0, 30))
    assert (response.status_code, response.text) == (409, "10\n")
    assert client.post("/add-checkpoint", content=log.request(10, 30)).status_code == 200


def test_concurrent_swaps_for_many_logs_share_commits(tmp_path: Path, witness_vkey: str) -> None:
    """Group commit: 8 threads x 50 swaps on 8 origins, each durable, in fewer transactions than swaps."""
    with WitnessState(tmp_path / "group.db", witness_vkey) as state:

        def swaps(origin: str) -> None:
            previous = None
            for size in range(1, 51):
                new = Recorded(size, size.to_bytes(32, "big"), f"{origin}\n", size)
                assert state.compare_and_swap(origin, previous, new)
                previous = new
            assert not state.compare_and_swap(origin, None, previous)  # a stale expectation still fails

        with ThreadPoolExecutor(8) as pool:
            for job in [pool.submit(swaps, f"log{i}") for i in range(8)]:
                job.result()
        assert all(
            state.get(f"log{i}") == Recorded(50, (50).to_bytes(32, "big"), f"log{i}\n", 50) for i in range(8)
        )
        assert state.transactions < 8 * 51
    with WitnessState(tmp_path / "group.db", witness_vkey) as reopened:
        assert reopened.get("log3") is not None and reopened.get("log3").size == 50  # type: ignore[union-attr]


def test_many_logs_over_http_each_get_every_checkpoint_cosigned_durably(
    tmp_path: Path, witness_key: Ed25519PrivateKey, witness_vkey: str
) -> None:
    """6 logs pushed at once over HTTP each get all 25 of their checkpoints cosigned, in order, and a
    reopened state holds every log's last."""
    logs = [Log(origin=f"disgorge.local/home{i}").grow(25) for i in range(6)]
    with WitnessState(tmp_path / "many.db", witness_vkey) as state:
        witness = Witness(WITNESS_NAME, witness_key, [log.config() for log in logs], state)
        with serving(witness) as http:

            def push(log: Log) -> list[str]:
                lines = []
                for size in range(1, 26):
                    r = http.post("/add-checkpoint", content=log.request(size - 1, size))
                    assert r.status_code == 200, r.text
                    lines.append(r.text)
                return lines

            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(push, logs))
        for log, lines in zip(logs, results, strict=True):
            note = add_cosignatures(log.checkpoint(25), [lines[-1]])
            verify_cosigned_checkpoint(note, log.origin, [log.vkey], [witness_vkey])
    with WitnessState(tmp_path / "many.db", witness_vkey) as reopened:
        assert [reopened.get(log.origin).size for log in logs] == [25] * 6  # type: ignore[union-attr]

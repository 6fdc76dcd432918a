"""Shared pieces for the witness tests: a log that signs real checkpoints, and witnesses over it."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.ledger.cosignature import cosigner_vkey
from disgorge.ledger.merkle import leaf_hash
from disgorge.ledger.note import Checkpoint, NoteVerifier, sign_checkpoint, verifier_key
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.core import LogConfig, Witness
from disgorge.witness.protocol import format_add_checkpoint
from disgorge.witness.server import create_app
from disgorge.witness.state import WitnessState

DISGORGE = str(Path(sys.executable).with_name("disgorge"))
ORIGIN = "disgorge.local/home"
WITNESS_NAME = "witness.example/w1"


@dataclass
class Log:
    """An append-only log with its own key, signing checkpoints the way a Disgorge home does."""

    origin: str = ORIGIN
    name: str = "home"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    tree: MerkleTreeStore = field(default_factory=MerkleTreeStore)
    tag: bytes = b"entry"

    @property
    def vkey(self) -> str:
        return verifier_key(self.name, self.key.public_key())

    def grow(self, size: int) -> Log:
        while len(self.tree) < size:
            self.tree.append(leaf_hash(b"%s %d" % (self.tag, len(self.tree))))
        return self

    def checkpoint(
        self, size: int | None = None, *, key: Ed25519PrivateKey | None = None, origin: str | None = None
    ) -> str:
        size = len(self.tree) if size is None else size
        cp = Checkpoint(origin or self.origin, size, self.tree.root(size))
        return sign_checkpoint(cp, key or self.key, self.name)

    def request(self, old: int, size: int | None = None, **kw: object) -> bytes:
        size = len(self.tree) if size is None else size
        proof = [] if old in (0, size) else self.tree.consistency_proof(old, size)
        return format_add_checkpoint(old, proof, self.checkpoint(size, **kw))  # type: ignore[arg-type]

    def fork(self, tag: bytes = b"forged") -> Log:
        """The same key and origin over different entries: what an insider with the log key can sign."""
        return Log(self.origin, self.name, self.key, MerkleTreeStore(), tag)

    def config(self) -> LogConfig:
        return LogConfig(self.origin, (NoteVerifier.parse(self.vkey),))


@pytest.fixture
def log() -> Log:
    return Log().grow(10)


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witness_vkey(witness_key: Ed25519PrivateKey) -> str:
    return cosigner_vkey(WITNESS_NAME, witness_key.public_key())


@pytest.fixture
def state(tmp_path: Path, witness_vkey: str) -> Iterator[WitnessState]:
    with WitnessState(tmp_path / "witness.db", witness_vkey) as s:
        yield s


@pytest.fixture
def witness(log: Log, witness_key: Ed25519PrivateKey, state: WitnessState) -> Witness:
    return Witness(WITNESS_NAME, witness_key, [log.config()], state)


@contextmanager
def serving(witness: Witness) -> Iterator[httpx.Client]:
    """The witness's app under a real uvicorn on a loopback port, in a thread; an HTTP client for it."""
    config = uvicorn.Config(create_app(witness), port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def client(witness: Witness) -> Iterator[httpx.Client]:
    with serving(witness) as http:
        yield http


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real ``disgorge witness serve`` in a subprocess, driven over HTTP on a loopback port."""

    def __init__(self, cwd: Path, key: str, logs: list[str], extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [DISGORGE, "witness", "serve", "--key", key, "--port", str(self.port), *extra]
        for spec in logs:
            args += ["--log", spec]
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"witness exited {self.proc.returncode}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{self.url}/healthz", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("witness did not come up within 30 s")

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(f"{self.url}/add-checkpoint", content=body, timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

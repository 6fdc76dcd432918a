"""A real ``disgorge serve`` (uvicorn in a subprocess, on a loopback port) over a claimed catalog.

``team`` gives the server's URL and an HTTP client per person of ``tests.conftest.PEOPLE``, each with
their own API token, issued through the same service the ``disgorge token`` command uses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import disgorge
from disgorge.access.tokens import TokenService
from tests.as_a_person import DISGORGE
from tests.conftest import PEOPLE
from tests.erasure.conftest import world  # noqa: F401  (a fixture: photos, models, a deployment)
from tests.witness.conftest import free_port


class LiveServer:
    """``disgorge serve`` started as a person starts it: in a working directory, a relative home."""

    def __init__(
        self,
        cwd: Path,
        *,
        home: str = "home",
        catalog_url: str | None = None,
        args: Sequence[str] = (),
        **env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        environ = {**os.environ, "DISGORGE_HOME": home, "DISGORGE_TOKEN_CACHE_SECONDS": "0.2", **env}
        environ.pop("DISGORGE_CATALOG", None)
        if catalog_url is not None:
            environ["DISGORGE_CATALOG"] = catalog_url
        self._err = self.log.open("w")
        self.proc = subprocess.Popen(
            [str(DISGORGE), "serve", "--port", str(self.port), *args],
            cwd=cwd,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"disgorge serve exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"disgorge serve did not come up within 60 s: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._err.close()
        return int(self.proc.returncode)

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()


@dataclass
class Team:
    server: LiveServer
    cat: disgorge.Catalog
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(c)
        return c


@pytest.fixture
def team(cat: disgorge.Catalog, tmp_path: Path) -> Iterator[Team]:
    """``cat`` (ann admin, bea and cy approvers, eve engineer, dan auditor) served on a loopback port."""
    tokens = {}
    service = TokenService(cat.store)
    for name in PEOPLE:
        _, tokens[name] = service.issue(cat.principal, "tests", principal=name)
    server = LiveServer(tmp_path, home="home", catalog_url=cat.store.url)
    t = Team(server, cat, tokens)
    try:
        yield t
    finally:
        for c in t.clients:
            c.close()
        server.stop()

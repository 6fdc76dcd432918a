"""A catalog with an approved erasure whose recipients are two parties, acme (to be reached by webhook)
and beta (by command); people drive it through the real ``disgorge`` command from a working directory,
with relative paths and ``DISGORGE_IDENTITY``. A loopback HTTP receiver plays acme's endpoint, and checks
each notice's signature against the catalog's public key before accepting it."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import disgorge
from disgorge.errors import DisgorgeError
from disgorge.ingest import IngestOptions
from disgorge.trust import Identity
from disgorge.trust.notices import parse_notice
from tests.conftest import PEOPLE, approve, claim

DISGORGE = str(Path(sys.executable).parent / "disgorge")


@dataclass
class Shop:
    cat: disgorge.Catalog
    cwd: Path
    plan: str
    acme: Identity
    home_key: str

    def run(
        self,
        *args: str,
        identity: str = "ann.identity",
        cwd: Path | None = None,
        catalog: bool = True,
        server: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``disgorge ARGS`` as a person runs it: from the working directory, acting as ``identity``
        (through a server with ``server``: its ``DISGORGE_URL`` and ``DISGORGE_TOKEN``)."""
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.cwd / ".home"),
            "DISGORGE_IDENTITY": identity,
            "COLUMNS": "",
        }
        if catalog:
            env |= {"DISGORGE_HOME": "home", "DISGORGE_CATALOG": self.cat.store.url}
        env |= server or {}
        where = cwd or self.cwd
        return subprocess.run(
            [DISGORGE, *args], cwd=where, env=env, capture_output=True, text=True, check=False
        )

    def ok(self, *args: str, **kw: Any) -> str:
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"disgorge {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def notice_file(self, party: str) -> Path:
        import hashlib

        return (
            self.cwd
            / "home"
            / "notices"
            / f"{self.plan[:16]}-{hashlib.sha256(party.encode()).hexdigest()[:12]}.json"
        )


def build_shop(cat: disgorge.Catalog, photos: Path, tmp_path: Path, subject: str = "alice") -> Shop:
    """Photos ingested, a dataset read by acme's and beta's runs (acme also wrote a model), and an
    erasure of ``subject`` planned by ann and approved by bea."""
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    (tmp_path / "m.bin").write_bytes(b"weights")
    with cat.run("train", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False) as r:
        r.log_model(tmp_path / "m.bin", name="facenet")
    with cat.run("eval", use="train_ai_system", party="beta", inputs=["dataset:faces"], enforce=False):
        pass
    cat.add_storage_root(tmp_path)
    plan, _ = cat.erasures.plan(
        scope=("subject", subject), withdrawn=False, reason="request", legal_basis="GDPR 17"
    )
    approve(cat, plan.id)
    for name in ("ann", "eve"):
        PEOPLE[name].save(tmp_path / f"{name}.identity")
    acme = Identity.generate("acme")
    acme.save(tmp_path / "acme.identity")
    (tmp_path / "acme.pub").write_text(acme.public_key + "\n")
    home_key = cat.proofs.identity.public_key()
    (tmp_path / "key.pub").write_text(home_key + "\n")
    return Shop(cat, tmp_path, plan.id, acme, home_key)


@pytest.fixture
def shop(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> Shop:
    """On SQLite and on PostgreSQL."""
    return build_shop(cat, photos, tmp_path)


@pytest.fixture
def sqlite_shop(tmp_path: Path, photos: Path) -> Iterator[Shop]:
    """The same on SQLite only, for tests whose subject is not the store."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with disgorge.open(tmp_path / "home", catalog_url=url, identity=PEOPLE["ann"]) as c:
        claim(c, PEOPLE)
        c.add_source(
            "site", notice=b"we operate the service", uses=["essential.service"], legal_basis="contract"
        )
        yield build_shop(c, photos, tmp_path)


@dataclass
class Inbox:
    """A recipient's HTTP endpoint on a loopback port: it accepts a notice only when its signature
    verifies against the catalog key it trusts, answering each in turn with ``answers`` (then 200)."""

    home_key: str
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/disgorge/notices"

    def start(self) -> Inbox:
        inbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    parse_notice(body).verify([inbox.home_key])
                    valid = True
                except DisgorgeError:
                    valid = False
                inbox.received.append((dict(self.headers), body, valid))
                status = (inbox.answers.pop(0) if inbox.answers else 200) if valid else 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __enter__(self) -> Inbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

"""``disgorge witness init`` and ``disgorge witness serve`` as a person runs them.

The server is the real entry point in a subprocess on a free loopback port, driven over HTTP; its
memory must survive ``kill -9``. Refusals run through ``disgorge.cli.main`` from a working directory
with relative paths.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from disgorge.cli import main
from disgorge.ledger.cosignature import add_cosignatures, verify_cosigned_checkpoint
from disgorge.witness.state import WitnessState

from .conftest import DISGORGE, ORIGIN, Log, Server

SPEC = f"{ORIGIN}={Log().vkey}"


def _init(cwd: Path, name: str = "witness.example/w1", key: str = "witness.key") -> str:
    done = subprocess.run(
        [DISGORGE, "witness", "init", "--key", key, name],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_init_writes_a_private_key_and_prints_its_vkey(tmp_path: Path) -> None:
    vkey = _init(tmp_path)
    assert (
        vkey.startswith("witness.example/w1+") and (tmp_path / "witness.key.vkey").read_text() == vkey + "\n"
    )
    assert stat.S_IMODE((tmp_path / "witness.key").stat().st_mode) == 0o600


def test_real_server_cosigns_and_survives_kill_9(tmp_path: Path) -> None:
    vkey = _init(tmp_path)
    log = Log().grow(10)
    server = Server(tmp_path, "witness.key", [f"{ORIGIN}={log.vkey}"])
    try:
        response = server.post(log.request(0, 10))
        assert response.status_code == 200
        verify_cosigned_checkpoint(
            add_cosignatures(log.checkpoint(10), [response.text]), ORIGIN, [log.vkey], [vkey]
        )
    finally:
        server.kill()  # SIGKILL: no shutdown handler runs
    assert (tmp_path / "witness.key.state.db").exists()
    server = Server(tmp_path, "witness.key", [f"{ORIGIN}={log.vkey}"])
    try:
        fork = log.fork().grow(10)
        assert server.post(fork.request(10, 10)).status_code == 422  # still refuses a fork of size 10
        assert server.post(fork.request(0, 10)).text == "10\n"  # and remembers its size
        log.grow(16)
        assert server.post(log.request(10, 16)).status_code == 200
    finally:
        server.stop()


def test_kill_9_mid_stream_never_loses_an_acknowledged_checkpoint(tmp_path: Path) -> None:
    _init(tmp_path)
    log = Log().grow(400)
    server = Server(tmp_path, "witness.key", [f"{ORIGIN}={log.vkey}"])
    acknowledged, sent = 0, 0
    twenty = threading.Event()

    def stream() -> None:
        nonlocal acknowledged, sent
        for size in range(1, 401):
            sent = size
            try:
                response = server.post(log.request(acknowledged, size))
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acknowledged = size
            if acknowledged >= 20:
                twenty.set()

    pusher = threading.Thread(target=stream)
    pusher.start()
    assert twenty.wait(60)
    server.kill()  # while requests are in flight
    pusher.join(30)
    server = Server(tmp_path, "witness.key", [f"{ORIGIN}={log.vkey}"])
    try:
        remembered = int(server.post(log.request(0, 400)).text)
    finally:
        server.stop()
    assert acknowledged <= remembered <= sent


def test_logs_file_and_monitoring_read(tmp_path: Path) -> None:
    _init(tmp_path)
    log = Log().grow(3)
    (tmp_path / "logs.txt").write_text(f"# the home's ledger\n\n{ORIGIN}={log.vkey}\n")
    server = Server(tmp_path, "witness.key", [], ("--logs", "logs.txt", "--state", "memory/w.db"))
    try:
        assert server.post(log.request(0, 3)).status_code == 200
    finally:
        server.stop()
    assert (tmp_path / "memory" / "w.db").exists()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    assert main(["witness", "init", "--key", "witness.key", "witness.example/w1"]) == 0
    return tmp_path


def test_serve_refuses_non_loopback_without_insecure(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    code = main(
        ["witness", "serve", "--key", "witness.key", "--host", "0.0.0.0", "--log", f"{ORIGIN}={log.vkey}"]
    )
    assert code == 2
    assert "not a loopback address" in capsys.readouterr().err


def test_serve_help_says_tls_is_out_of_scope(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["witness", "serve", "--help"]) == 0
    assert "TLS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "no log to witness"),
        (["--log", "no-equals-sign"], "is not ORIGIN=VKEY"),
        (["--log", f"{ORIGIN}=home+00000000+AQ=="], "malformed verifier key|Ed25519"),
        (["--logs", "missing.txt"], "cannot read it"),
        (["--port", "0", "--log", SPEC], "--port must be between 1 and 65535"),
    ],
)
def test_serve_refuses_bad_configuration(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    assert main(["witness", "serve", "--key", "witness.key", *args]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert "Traceback" not in err


def test_serve_refuses_a_key_others_can_read(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod("witness.key", 0o644)
    assert main(["witness", "serve", "--key", "witness.key", "--log", f"{ORIGIN}={Log().vkey}"]) == 2
    assert "readable by its owner only" in capsys.readouterr().err


def test_serve_refuses_the_state_of_another_witness(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["witness", "init", "--key", "other.key", "witness.example/w2"]) == 0
    WitnessState(Path("shared.db"), Path("other.key.vkey").read_text().strip()).close()
    spec = f"{ORIGIN}={Log().vkey}"
    assert main(["witness", "serve", "--key", "witness.key", "--state", "shared.db", "--log", spec]) == 2
    assert "belongs to witness witness.example/w2" in capsys.readouterr().err


def test_serve_refuses_a_busy_port(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(
            [
                "witness",
                "serve",
                "--key",
                "witness.key",
                "--port",
                str(port),
                "--log",
                f"{ORIGIN}={Log().vkey}",
            ]
        )
    assert code == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_init_never_overwrites_a_key(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = Path("witness.key").read_bytes()
    assert main(["witness", "init", "--key", "witness.key", "witness.example/w1"]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert Path("witness.key").read_bytes() == before


def test_init_refuses_a_bad_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["witness", "init", "--key", "k", "has space"]) == 2
    assert "must be non-empty, without spaces" in capsys.readouterr().err
    assert not Path("k").exists()

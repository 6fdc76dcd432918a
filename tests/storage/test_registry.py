from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import disgorge.storage
from disgorge.errors import InputError
from disgorge.storage import (
    Identity,
    LocalStorage,
    MemoryStorage,
    S3Config,
    StorageConfig,
    backend_for,
    config_from_env,
    register_backend,
    registry,
    scheme_of,
)


def test_all_is_curated() -> None:
    for name in disgorge.storage.__all__:
        assert hasattr(disgorge.storage, name)


def test_drivers_are_imported_only_when_a_uri_needs_them() -> None:
    code = (
        "import sys, disgorge.storage, disgorge.storage.delta, disgorge.storage.s3, disgorge.storage.parquet\n"
        "print(sorted(m for m in ('boto3', 'deltalake', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("/abs/p", "file"),
        ("file:///abs/p", "file"),
        ("S3://b/k", "s3"),
        ("delta:///t#k=v", "delta"),
        ("memory://x", "memory"),
    ],
)
def test_scheme_of(uri: str, scheme: str) -> None:
    assert scheme_of(uri) == scheme


@pytest.mark.parametrize(
    ("uri", "why"),
    [("rel/p", "neither an absolute path"), ("/a\0b", "NUL"), ("gopher://x", "no storage backend")],
)
def test_bad_uris_are_input_errors(uri: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        backend_for(uri, StorageConfig())


def test_backends_are_created_once_per_config_and_closed_with_it(tmp_path: Path) -> None:
    with StorageConfig(roots=(tmp_path,), s3=S3Config(endpoint_url="http://127.0.0.1:1")) as cfg:
        local = backend_for(str(tmp_path / "x"), cfg)
        assert isinstance(local, LocalStorage) and backend_for(f"file://{tmp_path}/y", cfg) is local
        mem = backend_for("memory://a/b", cfg)
        assert backend_for("memory://c", cfg) is mem
        s3 = backend_for("s3://bucket/key", cfg)
        assert type(s3).__name__ == "S3Storage"
    assert cfg._cache == {}


def test_explicit_backends_win_so_tests_can_fake_s3(tmp_path: Path) -> None:
    fake = MemoryStorage()
    info = fake.put("s3://bucket/ab12", b"bytes")
    cfg = StorageConfig(backends={"s3": fake})
    assert (
        backend_for("s3://bucket/ab12", cfg).delete("s3://bucket/ab12", info.identity()).outcome == "deleted"
    )


def test_register_backend_adds_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", {})
    mem = MemoryStorage()
    register_backend("test-mem", lambda cfg: mem)
    assert backend_for("test-mem://x/y", StorageConfig()) is mem
    assert mem.delete("test-mem://x/y", Identity(1)).outcome == "already_gone"


def test_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISGORGE_STORAGE_ROOTS", f"{tmp_path}/a:{tmp_path}/b")
    monkeypatch.setenv("DISGORGE_S3_ENDPOINT", "http://127.0.0.1:8333")
    cfg = config_from_env((tmp_path,))
    assert cfg.roots == (tmp_path, tmp_path / "a", tmp_path / "b")
    assert cfg.s3 is not None and cfg.s3.endpoint_url == "http://127.0.0.1:8333"

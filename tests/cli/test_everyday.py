"""The path a newcomer walks, through the real ``disgorge`` command: from a working directory, relative
paths, output piped, ``DISGORGE_HOME`` in the environment rather than ``--home``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_URL, write_photo

DISGORGE = str(Path(sys.executable).parent / "disgorge")


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd / ".home"),
        "DISGORGE_HOME": ".disgorge",
        "COLUMNS": "",
        **(env or {}),
    }
    return subprocess.run([DISGORGE, *args], cwd=cwd, env=e, capture_output=True, text=True, check=False)


def people(cwd: Path) -> None:
    """ann claims the catalog as its admin; bea (bea.identity) is an approver."""
    for args in (
        ("identity", "init", "ann"),
        ("init",),
        ("identity", "init", "bea", "--file", "bea.identity"),
    ):
        r = run(cwd, *args)
        assert r.returncode == 0, r.stderr
    key = run(cwd, "identity", "show", "--file", "bea.identity").stdout.strip()
    r = run(cwd, "principal", "add", "bea", "--key", key, "--role", "approver")
    assert r.returncode == 0, r.stderr


@pytest.fixture
def story(tmp_path: Path) -> Path:
    people(tmp_path)
    (tmp_path / "notice.txt").write_text("We use your photos to operate the service.")
    for s in ("alice", "bob"):
        for k in range(2):
            write_photo(tmp_path / "photos" / s / f"p{k}.jpg", s, sum(map(ord, s)) * 10 + k)
    r = run(
        tmp_path,
        "source",
        "add",
        "site",
        "--notice",
        "notice.txt",
        "--uses",
        "essential.service",
        "--recipients",
        "site,partner",
        "--categories",
        "user.content.self_image",
    )
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "ingest", "photos", "--source", "site", "--subject-from", "parent-dir")
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_a_new_home_is_created_on_first_use(tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("notice")
    r = run(tmp_path, "source", "add", "s", "--notice", "n.txt", "--uses", "essential.service")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ".disgorge" / "catalog.db").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".disgorge" / "keys" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_version_and_help(tmp_path: Path) -> None:
    from disgorge import __version__

    assert run(tmp_path, "--version").stdout.strip() == f"disgorge {__version__}"
    r = run(tmp_path, "lookup", "--help")
    assert r.returncode == 0 and "1: not found" in " ".join(r.stdout.split())


def test_piped_tables_are_not_cut_to_80_columns(story: Path) -> None:
    long_use = "functional.service.improve"
    (story / "n2.txt").write_text("another notice")
    r = run(
        story, "source", "add", "other", "--notice", "n2.txt", "--uses", f"essential.service,{long_use}",
        "--recipients", "a-recipient-with-a-long-name,another-recipient-with-a-long-name",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    listing = run(story, "source", "list").stdout
    assert long_use in listing and "another-recipient-with-a-long-name" in listing
    assert "…" not in listing


def test_lookup_scan_and_verify_take_relative_paths(story: Path) -> None:
    r = run(story, "lookup", "photos/alice/p0.jpg")
    assert r.returncode == 0, r.stderr
    assert "this exact photo" in r.stdout
    write_photo(story / "elsewhere" / "x.jpg", "zed", 1)
    r = run(story, "lookup", "elsewhere/x.jpg")
    assert r.returncode == 1, r.stderr  # not found: the answer is no
    assert "not in the catalog" in r.stdout
    r = run(story, "scan", "photos", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scanned"] == 4
    r = run(story, "scan", "nowhere")
    assert r.returncode == 2 and "scan root nowhere does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_targets_are_named_at_plan_approve_and_dry_run(story: Path) -> None:
    r = run(
        story, "erase", "plan", "--subject", "alice", "--reason", "request", "--legal-basis", "GDPR 17", "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    plan = r.stdout.strip()
    assert len(plan) == 64
    assert "2 targets are out of reach" in r.stderr and "fix: disgorge storage add-root" in r.stderr
    assert f"{story}/photos/alice" in r.stderr
    r = run(story, "erase", "approve", plan, env={"DISGORGE_IDENTITY": "bea.identity"})
    assert r.returncode == 0 and "2 targets are out of reach" in r.stderr
    r = run(story, "erase", "run", plan)
    assert r.returncode == 0 and "would not delete them" in r.stderr
    r = run(story, "erase", "run", plan, "--execute")
    assert r.returncode == 2 and "nothing was done" in r.stderr
    assert (story / "photos" / "alice" / "p0.jpg").exists()
    show = json.loads(run(story, "erase", "show", plan, "--json").stdout)
    assert show["journal"]["catalog"] == {"pending": 1} and show["journal"]["copy"] == {"pending": 2}
    assert show["unreachable"]["count"] == 2
    assert run(story, "storage", "add-root", "photos").returncode == 0
    r = run(story, "erase", "run", plan, "--execute")
    assert r.returncode == 0, r.stderr
    assert (
        not (story / "photos" / "alice" / "p0.jpg").exists()
        and (story / "photos" / "bob" / "p0.jpg").exists()
    )
    r = run(story, "erase", "verify", plan, "--scan", "photos", "elsewhere-that-is-missing")
    assert r.returncode == 2 and "does not exist" in r.stderr
    (story / "backups").mkdir()
    r = run(story, "erase", "verify", plan, "--scan", "photos", "backups")
    assert r.returncode == 0, r.stderr


def test_a_corrupt_catalog_exits_3_with_one_line_and_a_log(story: Path) -> None:
    db = story / ".disgorge" / "catalog.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    r = run(story, "source", "list")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3
    assert "catalog" in r.stderr


def test_an_unexpected_error_exits_3_and_writes_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from disgorge.cli import main

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("wires crossed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISGORGE_HOME", str(tmp_path / "h"))
    monkeypatch.setattr("disgorge.api.Catalog.impact", boom)
    assert main(["impact", "--source", "x"]) == 3
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: wires crossed" in err and "Traceback" not in err
    log = Path(err.split("full traceback in ")[1].split()[0])
    assert log.is_file() and "Traceback" in log.read_text() and log.stat().st_mode & 0o777 == 0o600


@pytest.mark.pg
def test_two_homes_on_one_catalog_must_share_the_pseudonym_key(tmp_path: Path, pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    name = f"dg_test_{uuid.uuid4().hex[:12]}"
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {"DISGORGE_CATALOG": f"{PG_URL.rsplit('/', 1)[0]}/{name}"}
        (tmp_path / "n.txt").write_text("notice")
        write_photo(tmp_path / "photos" / "alice" / "p0.jpg", "alice", 7)
        a = {**env, "DISGORGE_HOME": "home-a"}
        b = {**env, "DISGORGE_HOME": "home-b"}
        assert (
            run(
                tmp_path, "source", "add", "s", "--notice", "n.txt", "--uses", "essential.service", env=a
            ).returncode
            == 0
        )
        r = run(tmp_path, "ingest", "photos", "--source", "s", "--subject-from", "parent-dir", env=a)
        assert r.returncode == 0, r.stderr
        r = run(tmp_path, "impact", "--subject", "alice", env=b)
        assert (
            r.returncode == 2 and "has no key yet" in r.stderr and "disgorge key export --secret" in r.stderr
        )
        assert not (tmp_path / "home-b" / "keys" / "pseudonym.key").exists()
        other = tmp_path / "home-c" / "keys"
        other.mkdir(parents=True)
        (other / "pseudonym.key").write_bytes(os.urandom(32))
        (other / "pseudonym.key").chmod(0o600)
        r = run(tmp_path, "impact", "--subject", "alice", env={**env, "DISGORGE_HOME": "home-c"})
        assert r.returncode == 2 and "is not the key the catalog" in r.stderr
        secrets = run(tmp_path, "key", "export", "--secret", env=a)
        assert secrets.returncode == 0
        (tmp_path / "s.json").write_text(secrets.stdout)
        assert run(tmp_path, "key", "import", "s.json", env=b).returncode == 0
        r = run(tmp_path, "impact", "--subject", "alice", "--json", env=b)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["counts"]["assets"] == 1
        # one system: roots, policy and the log's signatures are the catalog's, not a home's
        assert run(tmp_path, "storage", "add-root", "photos", env=a).returncode == 0
        (tmp_path / "p.yaml").write_text("version: shared-1\nrules: []\n")
        assert run(tmp_path, "policy", "set", "p.yaml", env=a).returncode == 0, "policy"
        assert "shared-1" in run(tmp_path, "policy", "show", env=b).stdout
        assert run(tmp_path, "ledger", "checkpoint", env=a).returncode == 0
        assert run(tmp_path, "ledger", "checkpoint", env=b).returncode == 0
        r = run(tmp_path, "ledger", "verify", "--json", env=b)
        assert r.returncode == 0 and json.loads(r.stdout)["checkpoints"] == 2, r.stderr
        shown = json.loads(run(tmp_path, "erase", "show", "0" * 8, "--json", env=b).stdout or "{}")
        assert shown.get("error") == "disgorge.not_found"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""The CLI through its real entry point: exit statuses, JSON documents, error messages."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from disgorge.cli import main
from tests.conftest import ASSETS


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def js(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    h = str(tmp_path / "home")
    notice = tmp_path / "notice.txt"
    notice.write_text("We use your photos to operate the service.")
    assert js(capsys, "init", "--home", h)["home"] == h  # type: ignore[index]
    out = js(
        capsys,
        "source",
        "add",
        "site",
        "--notice",
        str(notice),
        "--uses",
        "essential.service",
        "--recipients",
        "site",
        "--categories",
        "user.content.self_image",
        "--home",
        h,
    )
    assert out["notice_version"] == 1 and out["changed"] is True  # type: ignore[index]
    return h


def test_init_creates_private_key(home: str) -> None:
    key = Path(home) / "keys" / "pseudonym.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_story_through_the_cli(
    home: str, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = js(
        capsys, "ingest", str(photos), "--source", "site", "--subject-from", "parent-dir", "--home", home
    )
    assert summary["new_assets"] == 9 and summary["problems"] == []  # type: ignore[index]
    ds = js(capsys, "dataset", "create", "faces", "--source", "site", "--home", home)
    assert ds["ref"] == "faces@1" and ds["member_count"] == 9  # type: ignore[index]
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    student = tmp_path / "s.bin"
    student.write_bytes(b"s")
    run = js(
        capsys,
        "run",
        "record",
        "--name",
        "pretrain",
        "--use",
        "train_ai_system",
        "--party",
        "acme",
        "--input",
        "dataset:faces@1",
        "--output",
        f"model:net={weights}",
        "--home",
        home,
    )
    assert run["outputs"][0]["name"] == "net"  # type: ignore[index]
    js(
        capsys,
        "run",
        "record",
        "--name",
        "distill",
        "--use",
        "train_ai_system",
        "--party",
        "beta",
        "--input",
        "model:net",
        "--output",
        f"model:{student}",
        "--relation",
        "distilled_from",
        "--home",
        home,
    )
    js(capsys, "model", "deploy", str(student), "--target", "https://x.example/v1", "--home", home)
    imp = js(capsys, "impact", "--subject", "alice", "--home", home)
    assert imp["counts"]["assets"] == 3 and imp["counts"]["models"] == 2  # type: ignore[index]
    assert imp["recipients"] == ["acme", "beta"]  # type: ignore[index]
    assert imp["scope"] == "subject:<pseudonymised>"  # type: ignore[index]
    bom = js(capsys, "lineage", str(student), "--home", home)
    assert bom["subject_count"] == 3 and bom["datasets"][0]["ref"] == "faces@1"  # type: ignore[index]
    code, out, _ = cli(capsys, "impact", "--source", "site", "--home", home)
    assert code == 0 and "Impact of source:site" in out and "faces@1" in out


def test_ingest_with_bad_files_exits_2_and_lists_them(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "bad.jpg").write_bytes((ASSETS / "ingest" / "jpeg-truncated-at-half.jpg").read_bytes())
    code, out, _ = cli(
        capsys, "ingest", str(root), "--source", "site", "--no-subject", "--home", home, "--json"
    )
    assert code == 2
    assert json.loads(out)["problems"][0]["code"] == "corrupt_image"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "nowhere", "--source", "site"], "ingest path nowhere does not exist"),
        (["ingest", ".", "--source", "ghost"], "source 'ghost' is not in the catalog"),
        (["impact"], "give exactly one of --subject"),
        (["dataset", "create", "x", "--from", "ghost"], "dataset ghost is not in the catalog"),
        (
            ["run", "record", "--name", "r", "--use", "u", "--party", "p", "--input", "faces"],
            "is not KIND:REF",
        ),
        (
            ["run", "record", "--name", "r", "--use", "u", "--party", "p", "--relation", "cousin_of"],
            "--relation 'cousin_of' is unknown",
        ),
        (["lineage", "ghost"], "artifact 'ghost' is not in the catalog"),
    ],
)
def test_bad_usage_exits_2_with_a_clear_message(
    home: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, *args, "--home", home)
    assert code == 2
    assert message in " ".join(err.split())


def test_json_errors_are_json(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "lineage", "ghost", "--home", home, "--json")
    assert code == 2 and json.loads(out)["error"] == "disgorge.not_found"


def test_console_script_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "disgorge", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "impact" in proc.stdout


def test_demo_runs_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "demo",
        "--home",
        str(tmp_path / "demo"),
        "--subjects",
        "4",
        "--photos",
        "2",
        "--research-subjects",
        "2",
    )
    assert code == 0, err
    assert "recipients: FaceVision Inc." in out
    assert "the consented research model is not affected" in out
    assert "does not cover: train_ai_system" in out
    assert "export refused" in out and "training refused" in out
    assert "verify found a residual near copy" in out and "verify: clean" in out
    assert "ingest refused: this content was erased under plan" in out

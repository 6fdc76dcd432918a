"""``disgorge consent import`` validates what it stores (issue 9, item 8), run as a person does."""

from __future__ import annotations

from pathlib import Path

import pytest

import disgorge
from disgorge.ingest import IngestOptions
from tests.as_a_person import dg, dg_json, new_home
from tests.conftest import write_photo

HEADER = "subject_id,use,recipient,action,timestamp,notice_version\n"


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """alice's photo under notice v1 of source site; bob's under v2 of source other (v1 there too)."""
    new_home(tmp_path)
    write_photo(tmp_path / "photos" / "alice" / "a.jpg", "alice", 1)
    write_photo(tmp_path / "more" / "bob" / "b.jpg", "bob", 2)
    with disgorge.open(tmp_path / "home") as cat:
        cat.ingest(tmp_path / "photos", IngestOptions(source="site", subject_from="parent-dir", workers=1))
        for text in (b"v1", b"v2"):
            cat.add_source("other", notice=text, uses=["essential.service"], recipients=[], categories=[])
        cat.ingest(tmp_path / "more", IngestOptions(source="other", subject_from="parent-dir", workers=1))
    return tmp_path


def test_a_byte_order_mark_is_accepted(cwd: Path) -> None:
    line = "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n"
    (cwd / "consent.csv").write_bytes(b"\xef\xbb\xbf" + (HEADER + line).encode())
    out = dg_json(cwd, "consent", "import", "consent.csv")
    assert out["imported"] == 1


def test_events_dated_in_the_future_are_refused_with_their_lines(cwd: Path) -> None:
    (cwd / "consent.csv").write_text(
        HEADER
        + "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n"
        + "alice,train_ai_system,acme,withdrawn,2999-01-01T00:00:00Z,1\n"
    )
    proc = dg(cwd, "consent", "import", "consent.csv")
    assert proc.returncode == 2
    assert "dated in the future (lines 3)" in proc.stderr and "nothing was imported" in proc.stderr
    fixed = (cwd / "consent.csv").read_text().replace("2999", "2024")
    (cwd / "consent.csv").write_text(fixed)
    assert dg_json(cwd, "consent", "import", "consent.csv")["imported"] == 2


def test_a_notice_version_the_subjects_sources_never_had_is_refused(cwd: Path) -> None:
    (cwd / "consent.jsonl").write_text(
        '{"subject_id": "bob", "use": "train_ai_system", "recipient": "acme", "action": "granted", '
        '"timestamp": "2024-05-01T00:00:00Z", "notice_version": 2}\n'
        '{"subject_id": "alice", "use": "train_ai_system", "recipient": "acme", "action": "granted", '
        '"timestamp": "2024-05-01T00:00:00Z", "notice_version": 2}\n'
    )
    proc = dg(cwd, "consent", "import", "consent.jsonl")
    assert proc.returncode == 2
    assert "lines 2 (v2)" in proc.stderr and "nothing was imported" in proc.stderr
    assert "lines 1" not in proc.stderr  # bob's source 'other' has a v2
    with disgorge.open(cwd / "home") as cat:
        assert cat.store.consent_events() == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"subject_id": "alice", "use": "train_ai_system", "recipient": "acme", "action": "granted", '
            '"timestamp": "2024-05-01T00:00:00Z", "notice_version": 1.5}',
            "must be text",
        ),
        (
            '{"subject_id": ["alice"], "use": "train_ai_system", "recipient": "acme", "action": "granted", '
            '"timestamp": "2024-05-01T00:00:00Z"}',
            "must be text",
        ),
        (
            '{"subject_id": "alice", "use": "train_ai_system", "recipient": "acme", "action": "granted", '
            '"timestamp": "2024-05-01T00:00:00Z", "notice_version": 0}',
            "not a version",
        ),
        ("[" * 5000, "not valid JSON"),
    ],
    ids=["float-version", "list-subject", "version-zero", "deep-nesting"],
)
def test_odd_json_values_are_refused(cwd: Path, line: str, message: str) -> None:
    (cwd / "c.jsonl").write_text(line + "\n")
    proc = dg(cwd, "consent", "import", "c.jsonl")
    assert proc.returncode == 2 and message in proc.stderr

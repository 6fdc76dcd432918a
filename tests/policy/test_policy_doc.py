"""docs/policy.md is the policy format's reference: its examples are parsed out of the markdown and used,
so the document cannot drift from the code (issue 9, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import disgorge
from disgorge.errors import InputError
from disgorge.ingest import IngestOptions
from disgorge.policy import DEFAULT_POLICY, parse_policy
from disgorge.policy.rules import RULE_KEYS, TOP_LEVEL
from tests.as_a_person import dg, dg_json
from tests.conftest import write_photo

DOC = Path(__file__).parents[2] / "docs" / "policy.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def example() -> str:
    (block,) = [b for b in yaml_blocks() if b.startswith("# policy-example\n")]
    return block


def test_the_documented_default_is_the_built_in_default() -> None:
    assert DEFAULT_POLICY in yaml_blocks()


def test_every_key_of_the_format_is_documented() -> None:
    text = DOC.read_text()
    for key in (*TOP_LEVEL, *RULE_KEYS, "any", "all", "none"):
        assert f"`{key}`" in text, key


def test_the_example_parses() -> None:
    policy = parse_policy(example(), "docs/policy.md")
    assert policy.version == "acme-2026-01"
    assert [r.name for r in policy.rules] == ["no-sharing", "biometrics-only-to-operate", "our-teams"]


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """A home using the documented example as its policy, and a dataset of face templates."""
    write_photo(tmp_path / "photos" / "alice" / "a.jpg", "alice", 1)
    with disgorge.open(tmp_path / "home") as cat:
        cat.add_source(
            "faces",
            notice=b"photos to operate the service and train our models",
            uses=["essential.service", "train_ai_system", "third_party_sharing"],
            recipients=["acme-research", "acme-product", "partner"],
            categories=["user.content.self_image"],
        )
        cat.add_source(
            "templates",
            notice=b"face templates to unlock your account",
            uses=["essential.service", "train_ai_system"],
            recipients=["acme-product", "acme-research"],
            categories=["user.biometric.face_template"],
        )
        opts = IngestOptions(source="faces", subject_from="parent-dir", workers=1)
        cat.ingest(tmp_path / "photos", opts)
        cat.create_dataset("faces", source="faces")
        write_photo(tmp_path / "tpl" / "alice" / "t.jpg", "alice", 2)
        cat.ingest(tmp_path / "tpl", IngestOptions(source="templates", subject_from="parent-dir", workers=1))
        cat.create_dataset("templates", source="templates")
    (tmp_path / "home" / "policy.yaml").write_text(example())
    return tmp_path


def check(cwd: Path, dataset: str, use: str, recipient: str, status: int) -> dict[str, object]:
    out = dg_json(cwd, "check", "--dataset", dataset, "--use", use, "--recipient", recipient, status=status)
    assert out["policy_version"] == "acme-2026-01"
    return out  # type: ignore[no-any-return]


def test_the_example_decides_as_the_document_says(cwd: Path) -> None:
    check(cwd, "faces", "train_ai_system", "acme-research", 0)
    shared = check(cwd, "faces", "third_party_sharing", "partner", 1)
    assert [(v["reason"], v["rule"]) for v in shared["violations"]] == [("policy_denied", "no-sharing")]  # type: ignore[attr-defined, index]
    tpl = check(cwd, "templates", "train_ai_system", "acme-research", 1)
    assert [(v["reason"], v["rule"]) for v in tpl["violations"]] == [  # type: ignore[attr-defined, index]
        ("policy_denied", "biometrics-only-to-operate")
    ]
    other = check(cwd, "faces", "train_ai_system", "partner", 1)
    assert {v["reason"] for v in other["violations"]} == {"no_policy_allows"}  # type: ignore[attr-defined, index]


def test_an_unknown_top_level_key_is_refused_naming_it(cwd: Path) -> None:
    (cwd / "home" / "policy.yaml").write_text(example() + "rulez: []\n")
    proc = dg(cwd, "check", "--dataset", "faces", "--use", "train_ai_system", "--recipient", "acme-research")
    assert proc.returncode == 2
    assert "unknown top-level key(s) 'rulez'" in proc.stderr and "version, description, rules" in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nrules: []\nrule: []\n", "unknown top-level key"),
        ("version: 1\nrules:\n  - {name: a, effect: allow}\n  - {name: a, effect: deny}\n", "both named 'a'"),
        ("version: 2024-13-45\nrules: []\n", "not valid YAML"),
        ("version: !!int 0b2\nrules: []\n", "not valid YAML"),
        ("version: x\nrules: " + "[" * 1200 + "]" * 1200 + "\n", "not valid YAML"),
        ("version: [1]\nrules: []\n", "'version' must be a non-empty string"),
        ("version: 1\nrules:\n  - {name: [x], effect: allow}\n", "needs a 'name'"),
        ("version: 1\nrules:\n  - {name: a, effect: allow, 1: x, b: y}\n", "unknown fields"),
    ],
)
def test_malformed_policies_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_policy(text, "p.yaml")

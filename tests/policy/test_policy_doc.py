"""docs/policy.md is the policy format's reference: its examples are parsed out of the markdown and used,
so the document cannot drift from the code (issue 9, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import disgorge
from disgorge.errors import InputError, PolicyDenied, VerificationFailed
from disgorge.ingest import IngestOptions
from disgorge.policy import DEFAULT_POLICY, parse_policy
from disgorge.policy.rules import APPROVAL_KEYS, RULE_KEYS, TOP_LEVEL
from tests.as_a_person import dg, dg_json
from tests.conftest import approve, write_photo

DOC = Path(__file__).parents[2] / "docs" / "policy.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def example(name: str = "policy-example") -> str:
    (block,) = [b for b in yaml_blocks() if b.startswith(f"# {name}\n")]
    return block


def test_the_documented_default_is_the_built_in_default() -> None:
    assert DEFAULT_POLICY in yaml_blocks()


def test_every_key_of_the_format_is_documented() -> None:
    text = DOC.read_text()
    for key in (*TOP_LEVEL, *RULE_KEYS, *APPROVAL_KEYS, "any", "all", "none"):
        assert f"`{key}`" in text, key


def test_the_example_parses() -> None:
    policy = parse_policy(example(), "docs/policy.md")
    assert policy.version == "acme-2026-01"
    assert [r.name for r in policy.rules] == ["no-sharing", "biometrics-only-to-operate", "our-teams"]
    assert policy.approvals is None
    two = parse_policy(example("policy-approvals"), "docs/policy.md")
    assert two.approvals == {"required": 2, "approver_not_enrolled_by_requester": False}


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
        ("version: 1\nrules: []\napprovals: 2\n", "'approvals' must be a mapping"),
        ("version: 1\nrules: []\napprovals:\n", "'approvals' must be a mapping"),
        ("version: 1\nrules: []\napprovals: {requierd: 2}\n", "unknown key(s) in 'approvals': 'requierd'"),
        ("version: 1\nrules: []\napprovals: {required: 0}\n", "from 1 to 10, got 0"),
        ("version: 1\nrules: []\napprovals: {required: 11}\n", "from 1 to 10, got 11"),
        ("version: 1\nrules: []\napprovals: {required: '2'}\n", "from 1 to 10, got '2'"),
        ("version: 1\nrules: []\napprovals: {required: true}\n", "from 1 to 10, got True"),
        ("version: 1\nrules: []\napprovals: {required: 1.5}\n", "from 1 to 10, got 1.5"),
        (
            "version: 1\nrules: []\napprovals: {approver_not_enrolled_by_requester: 'yes'}\n",
            "must be true or false, got 'yes'",
        ),
    ],
)
def test_malformed_policies_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_policy(text, "p.yaml")


def _plan_alice(cat: disgorge.Catalog, photos: Path, policy: str) -> str:
    cat.home.policy_path.write_text(policy)
    cat.__dict__.pop("_policy", None)
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.add_storage_root(photos)
    plan, _ = cat.erasures.plan(
        scope=("subject", "alice"), withdrawn=False, reason="request #9", legal_basis="GDPR Art. 17"
    )
    return plan.id


def test_the_approvals_example_needs_two_approvers(cat: disgorge.Catalog, photos: Path) -> None:
    """With the documented ``approvals: {required: 2}``, one approval does not make a plan executable;
    a second, distinct approver's does."""
    pid = _plan_alice(cat, photos, example("policy-approvals"))
    assert cat.erasures.show(pid)["authorization"]["required"] == 2
    approve(cat, pid, "bea")
    approve(cat, pid, "bea")  # the same person again does not count twice
    with pytest.raises(VerificationFailed, match="1 of 2 required approvals"):
        cat.erasures.run(pid, dry_run=False)
    assert (photos / "alice" / "p0.jpg").exists()
    approve(cat, pid, "cy")
    assert cat.erasures.run(pid, dry_run=False).status == "done"
    assert not (photos / "alice" / "p0.jpg").exists() and (photos / "bob" / "p0.jpg").exists()


def test_approvers_the_requester_enrolled_can_be_refused(cat: disgorge.Catalog, photos: Path) -> None:
    """ann, the requester, put bea on the roster: with approver_not_enrolled_by_requester her approval
    is refused and nothing runs."""
    policy = (
        "version: strict-1\napprovals: {approver_not_enrolled_by_requester: true}\n"
        + DEFAULT_POLICY.split("\n", 1)[1]
    )
    pid = _plan_alice(cat, photos, policy)
    with pytest.raises(PolicyDenied, match="enrolled by the requester"):
        approve(cat, pid, "bea")
    with pytest.raises(VerificationFailed, match="0 of 1 required approvals"):
        cat.erasures.run(pid, dry_run=False)
    assert (photos / "alice" / "p0.jpg").exists()

"""The README's story runs verbatim, in a fresh folder, through the real ``disgorge`` command; then every
example of docs/cli.md runs verbatim in the folder the story leaves behind (one run: the story is the
slow part, and the examples need its state)."""

from __future__ import annotations

from pathlib import Path

from tests.docs_runner import ROOT, run_commands, shell_blocks

README = (ROOT / "README.md").read_text()
CLI_MD = (ROOT / "docs" / "cli.md").read_text()


def test_readme_story_then_docs_examples_run_verbatim(tmp_path: Path) -> None:
    (story,) = shell_blocks(README, after="## The story, command by command")[:1]
    examples = [c for block in shell_blocks(CLI_MD) for c in block]
    assert len(story) >= 14 and len(examples) >= 20
    assert any(c.expect == 1 for c in story)  # the refusal and the residual copy are part of the story
    output = run_commands(story + examples, tmp_path, origin="README.md + docs/cli.md")
    assert "valid: certificate of plan" in output
    assert (tmp_path / "story" / "cert.json").is_file() and (tmp_path / "story" / "cert.html").is_file()
    assert "residual near copy" in output
    assert not (tmp_path / "story" / "photos" / "member-00000" / "photo-00.jpg").exists()

"""The README's story runs verbatim, in a fresh folder, through the real ``disgorge`` command."""

from __future__ import annotations

from pathlib import Path

from tests.docs_runner import ROOT, run_commands, shell_blocks

README = (ROOT / "README.md").read_text()


def test_readme_story_runs_verbatim(tmp_path: Path) -> None:
    (story,) = shell_blocks(README, after="## The story, command by command")[:1]
    assert len(story) >= 14
    assert any(c.expect == 1 for c in story)  # the refusal and the residual copy are part of the story
    output = run_commands(story, tmp_path, origin="README.md")
    assert "valid: certificate of plan" in output
    assert (tmp_path / "story" / "cert.json").is_file() and (tmp_path / "story" / "cert.html").is_file()
    assert "residual near copy" in output
    assert not (tmp_path / "story" / "photos" / "member-00000" / "photo-00.jpg").exists()

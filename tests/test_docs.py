"""Every CLI command is documented in docs/cli.md (as sqlite-utils does with its test_docs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from disgorge.cli import app

DOC = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()


def _commands(group: Any, prefix: str = "disgorge") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, f"{prefix} {name}"))
        else:
            out.append(f"{prefix} {name}")
    return out


def test_every_command_has_a_section() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) >= 12
    missing = [c for c in commands if f"## {c}\n" not in DOC]
    assert missing == []

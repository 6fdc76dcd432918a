"""Every CLI command is documented in docs/cli.md, and each section names exactly the options the
command's --help shows (as sqlite-utils does with its test_docs, so the reference cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from disgorge.cli import app

DOC = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
COMMON = {"--home", "--json", "--help"}
"""Options every command may take, described once at the top of docs/cli.md."""


def _commands(group: Any, prefix: str = "disgorge") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out.update(_commands(cmd, f"{prefix} {name}"))
        else:
            out[f"{prefix} {name}"] = cmd
    return out


COMMANDS = _commands(typer.main.get_command(app))


def _section(name: str) -> str:
    start = DOC.index(f"## {name}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def test_every_command_has_a_section() -> None:
    assert len(COMMANDS) >= 12
    missing = [c for c in COMMANDS if f"## {c}\n" not in DOC]
    assert missing == []


def _synopses(name: str) -> str:
    """The section's code spans that show this command's usage (they start with its name)."""
    spans = re.findall(r"`([^`]+)`", _section(name).replace("\n", " "))
    return " ".join(sp for sp in spans if sp == name or sp.startswith(name + " "))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_synopsis_names_exactly_the_commands_options(name: str) -> None:
    params = [p for p in COMMANDS[name].params if p.param_type_name == "option" and not p.hidden]
    synopsis = _synopses(name)
    shown = set(re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]*", synopsis))
    undocumented = [p.opts[-1] for p in params if not (set(p.opts) & shown) and not (set(p.opts) & COMMON)]
    assert undocumented == [], f"{name}: options missing from its synopsis in docs/cli.md"
    known = {o for p in params for o in (*p.opts, *p.secondary_opts)}
    assert sorted(shown - known - COMMON) == [], f"{name}: docs/cli.md shows options the command lacks"


def test_every_test_the_threat_model_cites_exists() -> None:
    """docs/security.md backs each claim with a test by name: the names must stay real."""
    text = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    cited = set(re.findall(r"\b(test_[a-z0-9_]+)\b(?!\.py)", text))
    sources = "".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py"))
    assert len(cited) >= 20
    assert sorted(t for t in cited if f"def {t}(" not in sources) == []

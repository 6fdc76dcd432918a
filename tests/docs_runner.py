"""Run the shell blocks of the README and docs/cli.md verbatim, as a newcomer would paste them.

Each command (a line, with ``\\`` continuations joined) runs in one bash process, in order, so ``cd``,
``export`` and ``PLAN=$(…)`` carry over. A trailing ``# exit N`` comment states the exit status the
command must have (default 0). The real ``disgorge`` entry point is found on PATH next to the test's
Python, and HOME is a fresh folder, so nothing from the developer's machine leaks in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
_EXIT = re.compile(r"#\s*exit (\d+)")


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    expect: int


def shell_blocks(markdown: str, *, after: str | None = None) -> list[list[Command]]:
    """The ```sh blocks of a markdown text (from the heading ``after`` on), as commands."""
    lines = markdown.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == after), 0) if after else 0
    blocks: list[list[Command]] = []
    current: list[Command] | None = None
    pending = ""
    first = 0
    for n, ln in enumerate(lines[start:], start + 1):
        if current is None:
            if ln.strip() == "```sh":
                current = []
            continue
        if ln.strip() == "```":
            blocks.append(current)
            current = None
            continue
        if not pending:
            first = n
        if ln.rstrip().endswith("\\"):
            pending += ln.rstrip()[:-1] + " "
            continue
        text = (pending + ln).strip()
        pending = ""
        if text and not text.startswith("#"):
            m = _EXIT.search(text)
            current.append(Command(first, text, int(m.group(1)) if m else 0))
    return blocks


def run_commands(commands: list[Command], cwd: Path, *, origin: str, timeout: float = 600) -> str:
    """Run the commands in one bash; fail naming the first command whose status is not the stated one."""
    script = ["set -u"]
    for c in commands:
        script.append(c.text)
        script.append(
            f'__rc=$?; if [ "$__rc" -ne {c.expect} ]; then '
            f'echo "::: {origin}:{c.line}: exit $__rc, expected {c.expect}:" {shlex.quote(c.text)} >&2; exit 97; fi'
        )
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(cwd / ".home"),
        "LANG": "C.UTF-8",
        "DISGORGE_TEST_PG": os.environ.get("DISGORGE_TEST_PG", ""),
    }
    (cwd / ".home").mkdir(exist_ok=True)
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{origin} failed (exit {proc.returncode})\n--- stderr ---\n{proc.stderr[-6000:]}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}"
        )
    return proc.stdout + proc.stderr

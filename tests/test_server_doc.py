"""docs/server.md's quick start runs verbatim in a fresh folder (on a free port instead of 8470): a
newcomer's identity, the catalog claimed, a token, the server, and a request that it answers as them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.docs_runner import ROOT, Command, run_commands, shell_blocks
from tests.storage.seaweed import free_ports


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    (first, *_) = shell_blocks((ROOT / "docs" / "server.md").read_text())
    assert [c.text.split()[0] for c in first][:3] == ["disgorge", "disgorge", "TOKEN=$(disgorge"]
    port = str(free_ports(1)[0])
    commands = [Command(c.line, c.text.replace("8470", port), c.expect) for c in first]
    stop = Command(0, 'kill "$!"; wait "$!" 2>/dev/null; true', 0)  # the server started with &
    output = run_commands([*commands, stop], tmp_path, origin="docs/server.md", timeout=120)
    line = next(ln for ln in output.splitlines() if ln.startswith('{"name"'))
    whoami, _ = json.JSONDecoder().raw_decode(line)  # curl prints no newline: the log may follow
    assert whoami["name"] == "ann" and "admin" in whoami["roles"]

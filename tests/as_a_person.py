"""Running the real ``disgorge`` command as a person does: from a working directory, relative paths,
output piped, ``DISGORGE_HOME`` in the environment (never ``--home``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DISGORGE = Path(sys.executable).parent / "disgorge"


def dg(
    cwd: Path, *args: str, home: str = "home", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``disgorge ARGS`` in ``cwd``; no command may ever print a traceback."""
    env = {**os.environ, "DISGORGE_HOME": home}
    env.pop("DISGORGE_CATALOG", None)
    proc = subprocess.run(
        [str(DISGORGE), *args], cwd=cwd, env=env, capture_output=True, text=True, input=stdin, check=False
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def dg_json(cwd: Path, *args: str, status: int = 0, home: str = "home") -> Any:
    proc = dg(cwd, *args, "--json", home=home)
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def new_home(cwd: Path, *, source: str = "site", home: str = "home") -> None:
    """A home with one source whose notice allows operating the service (made through the API: the
    setup is not what these tests are about, and each command costs a process start)."""
    import disgorge

    with disgorge.open(cwd / home) as cat:
        cat.add_source(
            source,
            notice=b"We use your photos to operate the service.\n",
            uses=["essential.service"],
            recipients=[],
            categories=["user.content.self_image"],
        )

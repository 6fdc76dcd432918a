"""Running the real ``disgorge`` command as a person does: from a working directory, relative paths,
output piped, ``DISGORGE_HOME`` in the environment (never ``--home``).

:func:`dg_process` starts the installed console script; :func:`dg` calls the same entry point
(``disgorge.cli.main``) in this process, with the working directory, environment and piped output a
person's shell would give it, because each process start costs a second or two of imports."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DISGORGE = Path(sys.executable).parent / "disgorge"


def dg(
    cwd: Path, *args: str, home: str = "home", catalog: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``disgorge ARGS`` run in ``cwd`` through ``disgorge.cli.main``; never a traceback.

    ``catalog`` sets ``DISGORGE_CATALOG`` (a PostgreSQL URL, or a catalog file outside the home)."""
    from disgorge.cli import main

    before, saved = Path.cwd(), {k: os.environ.get(k) for k in ("DISGORGE_HOME", "DISGORGE_CATALOG")}
    stdout, stderr = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    os.environ["DISGORGE_HOME"] = home
    os.environ.pop("DISGORGE_CATALOG", None)
    if catalog is not None:
        os.environ["DISGORGE_CATALOG"] = catalog
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(list(args))
    finally:
        os.chdir(before)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    proc = subprocess.CompletedProcess(["disgorge", *args], code, stdout.getvalue(), stderr.getvalue())
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def dg_process(
    cwd: Path, *args: str, home: str = "home", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``disgorge ARGS`` in ``cwd``; no command may ever print a traceback."""
    env = {**os.environ, "DISGORGE_HOME": home}
    env.pop("DISGORGE_CATALOG", None)
    proc = subprocess.run(
        [str(DISGORGE), *args], cwd=cwd, env=env, capture_output=True, text=True, input=stdin, check=False
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def dg_json(cwd: Path, *args: str, status: int = 0, home: str = "home", process: bool = False) -> Any:
    proc = (dg_process if process else dg)(cwd, *args, "--json", home=home)
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

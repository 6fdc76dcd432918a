"""The ``disgorge`` command line: a thin Typer layer over :mod:`disgorge.api`.

Errors are caught in exactly one place, :func:`main`, and mapped to exit status 1 (the answer is
"no"), 2 (bad usage or input) or 3 (anything else: the catalog or storage failed, or a bug). An
unexpected exception prints one line and writes its traceback to a log file, never to the terminal.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer
from rich.markup import escape

from disgorge.cli.app import app
from disgorge.cli.output import emit_json, err
from disgorge.errors import DisgorgeError


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    json_mode = "--json" in args
    try:
        rv = app(args=args, prog_name="disgorge", standalone_mode=False)
    except DisgorgeError as exc:
        if json_mode:
            emit_json(exc.to_json())
        err.print(
            f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.diagnostics())}",
            markup=True,
            soft_wrap=True,
            highlight=False,
        )
        return exc.exit_status
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        return 2
    except typer.exceptions.TyperException as exc:  # usage errors of typer's own (vendored) click
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # the one place a bug or an unmapped failure is turned into exit 3
        log = _write_traceback(args)
        line = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
        if json_mode:
            emit_json({"error": "disgorge.internal", "message": line, "log": str(log) if log else None})
        where = f"; full traceback in {log}" if log else ""
        err.print(f"error (disgorge.internal): unexpected {line}{where}", markup=False, soft_wrap=True)
        return 3
    return rv if isinstance(rv, int) else 0


def _write_traceback(args: list[str]) -> Path | None:
    """Write the current exception's traceback under ``$DISGORGE_HOME/logs`` (or the temp folder)."""
    text = f"disgorge {' '.join(args)}\n{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n{traceback.format_exc()}"
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    given = [a.split("=", 1)[1] for a in args if a.startswith("--home=")]
    given += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--home"]
    home = Path(given[-1] if given else os.environ.get("DISGORGE_HOME") or ".disgorge")
    for folder in (home / "logs", Path(tempfile.gettempdir()) / "disgorge-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return path.absolute()
        except OSError:
            continue
    return None


def run() -> None:
    sys.exit(main())


__all__ = ["app", "main", "run", "typer"]

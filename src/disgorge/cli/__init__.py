"""The ``disgorge`` command line: a thin Typer layer over :mod:`disgorge.api`.

Errors are caught in exactly one place, :func:`main`, and mapped to exit status 1 (the answer is
"no"), 2 (bad usage or input) or 3 (the catalog or storage failed).
"""

from __future__ import annotations

import sys

import typer

from disgorge.cli.app import app
from disgorge.cli.output import emit_json, err
from disgorge.errors import DisgorgeError


def main(argv: list[str] | None = None) -> int:
    json_mode = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = app(args=argv, prog_name="disgorge", standalone_mode=False)
    except DisgorgeError as exc:
        if json_mode:
            emit_json(exc.to_json())
        err.print(
            f"[bold red]error[/] [dim]({exc.code})[/]: {exc.diagnostics()}", markup=True, soft_wrap=True
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
    return rv if isinstance(rv, int) else 0


def run() -> None:
    sys.exit(main())


__all__ = ["app", "main", "run", "typer"]

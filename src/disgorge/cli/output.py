"""Output conventions: one JSON document on stdout with --json; Rich for people; errors on stderr.

Piped to a file or another program, output is not cut to a terminal's 80 columns: values appear in
full, one line each, so ``disgorge source list > sources.txt`` keeps every use and recipient.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from rich.console import Console

PIPE_WIDTH = 4096


def _console(stream: TextIO, *, stderr: bool) -> Console:
    tty = stream.isatty()
    width = None if tty else int(os.environ.get("COLUMNS") or 0) or PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=not tty)


out = _console(sys.stdout, stderr=False)
err = _console(sys.stderr, stderr=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()

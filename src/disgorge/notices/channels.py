"""Delivering a notice through a party's channel: an HTTPS webhook (POST of the signed notice) or a
command (the notice on stdin). A channel *accepts* a notice only by an HTTP 2xx answer or exit status 0;
anything else is a failure with its reason, and the executor retries it on the next run.

Webhooks: ``POST`` with ``Content-Type: application/json``, the notice document as the body (signed
inside, see :mod:`disgorge.trust.notices`) and ``Disgorge-Notice-Id: <notice id>``. Redirects are not
followed (the party's own endpoint must accept it), plain HTTP is refused except to loopback.
Commands: split like a shell would (no shell runs), the notice on stdin, its path in
``$DISGORGE_NOTICE``, its id in ``$DISGORGE_NOTICE_ID`` and the party in ``$DISGORGE_PARTY``.
"""

from __future__ import annotations

import http.client
import os
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from disgorge.trust.notices import webhook_problem

WEBHOOK_TIMEOUT = 30.0
COMMAND_TIMEOUT = 300.0


class DeliveryFailed(Exception):
    """The channel did not accept the notice (the message says why)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def deliver(channel: dict[str, Any], data: bytes, *, path: Path, notice_id: str, party: str) -> str:
    """Hand ``data`` (the notice file's bytes) to the channel; returns its answer, or raises DeliveryFailed."""
    if channel["kind"] == "webhook":
        return _post(str(channel["url"]), data, notice_id)
    return _run(str(channel["command"]), data, path=path, notice_id=notice_id, party=party)


def _post(url: str, data: bytes, notice_id: str) -> str:
    problem = webhook_problem(url)
    if problem:
        raise DeliveryFailed(problem)
    req = urllib.request.Request(  # noqa: S310 - webhook_problem admits https (and loopback http) only
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Disgorge-Notice-Id": notice_id,
            "User-Agent": "disgorge-notices/1",
        },
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(req, timeout=WEBHOOK_TIMEOUT) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        note = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        raise DeliveryFailed(f"the webhook answered HTTP {exc.code} {exc.reason}{note}") from None
    except urllib.error.URLError as exc:
        raise DeliveryFailed(f"cannot reach the webhook: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"the webhook failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"the webhook answered HTTP {status}")
    return f"HTTP {status}"


def _run(command: str, data: bytes, *, path: Path, notice_id: str, party: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise DeliveryFailed(f"the command cannot be parsed ({exc})") from None
    if not argv:
        raise DeliveryFailed("the command is empty")
    env = {
        **os.environ,
        "DISGORGE_NOTICE": str(path),
        "DISGORGE_NOTICE_ID": notice_id,
        "DISGORGE_PARTY": party,
    }
    try:
        proc = subprocess.run(
            argv, input=data, capture_output=True, timeout=COMMAND_TIMEOUT, check=False, env=env
        )
    except FileNotFoundError:
        raise DeliveryFailed(f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise DeliveryFailed(f"the command did not finish within {COMMAND_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise DeliveryFailed(f"the command cannot run: {exc.strerror}") from None
    if proc.returncode != 0:
        said = proc.stderr.decode("utf-8", "replace").strip()[:200]
        raise DeliveryFailed(f"the command exited {proc.returncode}" + (f": {said}" if said else ""))
    return "exit 0"

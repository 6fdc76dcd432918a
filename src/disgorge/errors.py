"""One error root for Disgorge.

Every error carries a stable ``code``, the process exit status and HTTP status it maps to, and a
message that names the input, what was wrong and what to do. The CLI catches :class:`DisgorgeError`
in exactly one place (``disgorge.cli.main``)::

    DisgorgeError
    ├── UsageError        bad usage or bad input (exit 2, HTTP 400)
    │   └── InputError    a named input (file, row, argument) is malformed
    ├── NotFoundError     a named thing is not in the catalog (exit 2, HTTP 404)
    ├── ConflictError     the request contradicts catalog state (exit 2, HTTP 409)
    ├── PolicyDenied      the answer is "no": consent or policy refuses (exit 1, HTTP 403)
    │   ├── Unauthenticated  no valid credentials for the server (exit 1, HTTP 401)
    │   └── RateLimited      too many requests from one client (exit 1, HTTP 429)
    ├── VerificationFailed  a proof or residual check failed (exit 1, HTTP 422)
    └── StoreError        the catalog or a storage backend failed (exit 3, HTTP 503)
"""

from __future__ import annotations

from typing import Any


class DisgorgeError(Exception):
    code = "disgorge.error"
    exit_status = 2
    http_status = 500

    def __init__(
        self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details
        """Structured facts behind the message (a refused run's decision), for JSON clients."""

    def diagnostics(self) -> str:
        """The message a person reads: what went wrong, then what to do."""
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.details is not None:
            out["details"] = self.details
        return out


class UsageError(DisgorgeError):
    code = "disgorge.usage"
    exit_status = 2
    http_status = 400


class InputError(UsageError):
    code = "disgorge.input"


class NotFoundError(DisgorgeError):
    code = "disgorge.not_found"
    exit_status = 2
    http_status = 404


class ConflictError(DisgorgeError):
    code = "disgorge.conflict"
    exit_status = 2
    http_status = 409


class PolicyDenied(DisgorgeError):
    code = "disgorge.policy_denied"
    exit_status = 1
    http_status = 403


class Unauthenticated(PolicyDenied):
    """A missing, unknown, expired or revoked API token: the client signs in again."""

    code = "disgorge.unauthenticated"
    http_status = 401


class RateLimited(PolicyDenied):
    code = "disgorge.rate_limited"
    http_status = 429


class VerificationFailed(DisgorgeError):
    code = "disgorge.verification_failed"
    exit_status = 1
    http_status = 422


class StoreError(DisgorgeError):
    code = "disgorge.store"
    exit_status = 3
    http_status = 503


def from_json(body: object, status: int) -> DisgorgeError:
    """The error a server's JSON answer describes, as the same class, so a client exits as a local
    command would (an unknown code falls back on the HTTP status's class)."""
    classes: dict[str, type[DisgorgeError]] = {}
    todo: list[type[DisgorgeError]] = [DisgorgeError]
    while todo:
        cls = todo.pop()
        classes.setdefault(cls.code, cls)
        todo += cls.__subclasses__()
    by_status = {c.http_status: c for c in reversed(list(classes.values()))}
    data = body if isinstance(body, dict) else {}
    cls = classes.get(str(data.get("error")), by_status.get(status, StoreError))
    message = str(data.get("message") or f"the server answered HTTP {status}")
    hint, details = data.get("hint"), data.get("details")
    return cls(
        message, hint=str(hint) if hint else None, details=details if isinstance(details, dict) else None
    )

"""Disgorge's errors as MLflow's, at the ``disgorge+`` store's boundary.

``mlflow server`` turns an ``MlflowException`` into its HTTP status and JSON body and anything else
into a bare 500, so a refusal raised by the store behind a server must be one. What the store raises is
both: a class made once per Disgorge error type that subclasses ``MlflowException`` and that type, so a
server answers 403 ``PERMISSION_DENIED`` with the refusal's message (the inputs, the use and party, the
reasons, the decision) and an in-process caller still catches ``PolicyDenied`` (or ``NotFoundError``,
...) with its hint and details. The original error is the ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
)

from disgorge.errors import (
    ConflictError,
    DisgorgeError,
    NotFoundError,
    PolicyDenied,
    StoreError,
    Unauthenticated,
    UsageError,
)

# most specific first: Unauthenticated is a PolicyDenied
CODES: tuple[tuple[type[DisgorgeError], int], ...] = (
    (Unauthenticated, UNAUTHENTICATED),
    (PolicyDenied, PERMISSION_DENIED),
    (NotFoundError, RESOURCE_DOES_NOT_EXIST),
    (ConflictError, INVALID_PARAMETER_VALUE),
    (UsageError, INVALID_PARAMETER_VALUE),
    (StoreError, TEMPORARILY_UNAVAILABLE),
)
_kinds: dict[type[DisgorgeError], type[Any]] = {}


def as_mlflow(exc: DisgorgeError) -> MlflowException:
    """``exc`` as an ``MlflowException`` that is still an instance of ``type(exc)``."""
    base = type(exc)
    kind = _kinds.get(base)
    if kind is None:
        kind = type(f"Mlflow{base.__name__}", (MlflowException, base), {"__module__": __name__})
        _kinds[base] = kind
    code = next((c for t, c in CODES if isinstance(exc, t)), INTERNAL_ERROR)
    extra = {"hint": exc.hint} if exc.hint else {}
    out: Any = kind(exc.message, error_code=code, **extra)
    out.hint, out.details = exc.hint, exc.details
    assert isinstance(out, MlflowException)
    return out


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Raise a Disgorge error inside the block as :func:`as_mlflow` of it."""
    try:
        yield
    except MlflowException:
        raise
    except DisgorgeError as exc:
        raise as_mlflow(exc) from exc

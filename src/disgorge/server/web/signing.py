"""Statements a person signs in the browser: the server prepares the exact statement and its payload,
the page signs the payload with the person's own key (WebCrypto Ed25519, the key file read locally and
never sent), and the server verifies what comes back. The server never signs for anyone."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from disgorge.api import Catalog
from disgorge.errors import PolicyDenied, UsageError, VerificationFailed
from disgorge.model.roles import Principal
from disgorge.trust import Signed
from disgorge.trust.statements import FORMAT, parse, payload


def prepare(
    cat: Catalog, who: Principal, kind: str, about: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the page shows for one signature: the statement, and the bytes to sign (base64)."""
    from disgorge.access import roster

    if who.key is None:
        raise PolicyDenied(f"{who.name} has no key on the roster, so cannot sign statements")
    current = roster(cat.store)
    statement = {
        "format": FORMAT,
        "kind": kind,
        "catalog": current.catalog,
        "about": about,
        "principal": who.name,
        "key": who.key,
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "body": {**(body or {}), "roster": current.digest()},
    }
    raw = payload(statement)
    return {
        "kind": kind,
        "statement": json.dumps(statement, sort_keys=True),
        "pretty": json.dumps(statement, indent=2, sort_keys=True),
        "payload": base64.b64encode(raw).decode(),
    }


def received(form: dict[str, Any], who: Principal, kind: str, about: str) -> Signed:
    """The signed statement a form carries, checked for shape and for being the signed-in person's."""
    try:
        doc = json.loads(str(form.get("statement") or ""))
    except ValueError:
        raise UsageError("the form's statement is not JSON", hint="reload the page and sign again") from None
    signature = "".join(str(form.get("signature") or "").split())
    if not signature:
        raise UsageError(
            "no signature was given", hint="pick your identity file and sign, or paste a signature"
        )
    signed = parse({"statement": doc, "signature": signature}, "the signed statement")
    if signed.kind != kind or signed.about != about:
        raise VerificationFailed(f"the statement is not a {kind} of {about[:12]}")
    if signed.principal != who.name:
        raise PolicyDenied(f"signed in as {who.name}, but the statement is {signed.principal}'s")
    return signed

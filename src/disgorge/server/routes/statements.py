"""Signed statements as request bodies: what a client signs with its person's key, checked here for
shape and then by the services exactly as a local command's statements are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StatementIn(BaseModel):
    format: str = Field(max_length=40)
    kind: str = Field(max_length=40)
    catalog: str = Field(max_length=200)
    about: str = Field(max_length=200)
    principal: str = Field(max_length=200)
    key: str = Field(max_length=400)
    at: str = Field(max_length=40)
    body: dict[str, Any]


class SignedIn(BaseModel):
    """``{"statement": …, "signature": base64}``: signed over ``disgorge-statement/1\\n`` and the
    statement's RFC 8785 canonical JSON with the signer's Ed25519 key (``disgorge.trust.sign``)."""

    statement: StatementIn
    signature: str = Field(max_length=200)


class TemplateOut(BaseModel):
    """A statement to sign, less what the signer adds: ``principal``, ``key`` and ``at``."""

    format: str
    kind: str
    catalog: str
    about: str
    body: dict[str, Any]

"""API tokens: a small repository over ``api_tokens``.

Issuing and revoking a token are ledger events (its id, principal and name: never the secret or its
hash), so who could act through the server, and since when, is as tamper-evident as what they did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from disgorge.catalog.schema import ApiToken, utcnow
from disgorge.errors import NotFoundError


class _Store(Protocol):
    def session(self) -> Any: ...

    def _log(self, s: Any, kind: str, body: dict[str, Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    principal: str
    name: str
    secret_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        def at(d: datetime | None) -> str | None:
            return d.isoformat() if d is not None else None

        return {
            "id": self.id,
            "principal": self.principal,
            "name": self.name,
            "created_by": self.created_by,
            "created_at": at(self.created_at),
            "expires_at": at(self.expires_at),
            "revoked_at": at(self.revoked_at),
        }


def _row(t: ApiToken) -> TokenRow:
    return TokenRow(
        t.id, t.principal, t.name, t.secret_hash, t.created_by, t.created_at, t.expires_at, t.revoked_at
    )


class Tokens:
    def __init__(self, store: _Store) -> None:
        self._store = store

    def add(
        self, token_id: str, principal: str, name: str, secret_hash: str, by: str, expires_at: datetime | None
    ) -> TokenRow:
        with self._store.session() as s:
            row = ApiToken(
                id=token_id,
                principal=principal,
                name=name,
                secret_hash=secret_hash,
                created_by=by,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            self._store._log(
                s,
                "token.issued",
                {"token": token_id, "principal": principal, "name": name, "expires": _iso(expires_at)},
            )
            return _row(row)

    def get(self, token_id: str) -> TokenRow | None:
        with self._store.session() as s:
            row = s.get(ApiToken, token_id)
            return _row(row) if row is not None else None

    def list(self, principal: str | None = None) -> list[TokenRow]:
        q = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if principal is not None:
            q = q.where(ApiToken.principal == principal)
        with self._store.session() as s:
            return [_row(t) for t in s.scalars(q)]

    def revoke(self, token_id: str) -> TokenRow:
        with self._store.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token {token_id!r}", hint="disgorge token list shows them")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                self._store._log(s, "token.revoked", {"token": token_id, "principal": row.principal})
            return _row(row)


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None

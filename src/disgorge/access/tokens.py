"""Bearer tokens for the server: issued to a roster member, shown once, kept as argon2 hashes.

A token is ``dgt_<id>_<secret>``: the id names one row, the secret is checked against its argon2id hash.
Argon2 costs tens of milliseconds by design, so a server keeps the verdict for a token it has checked
for a short while (:data:`CACHE_SECONDS`, or ``$DISGORGE_TOKEN_CACHE_SECONDS``); a revocation takes effect
within that time everywhere. After that the token's row and its principal's roster entry are read again,
but argon2 is not run again for a secret this process already matched against the same stored hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from disgorge.catalog import CatalogStore
from disgorge.catalog.tokens import TokenRow
from disgorge.errors import NotFoundError, PolicyDenied, Unauthenticated, UsageError
from disgorge.model.roles import Principal
from disgorge.trust import normalise_name

if TYPE_CHECKING:
    from argon2 import PasswordHasher

PREFIX = "dgt_"
CACHE_SECONDS = 10.0
_TOKEN = re.compile(r"^dgt_([0-9a-f]{16})_([A-Za-z0-9_-]{32,64})$")
_DURATION = re.compile(r"^(\d+)([hdw])$")


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``2w``, an ISO date or time, or ``never``."""
    if text is None:
        text = "90d"
    now = now or datetime.now(UTC)
    if text == "never":
        return None
    m = _DURATION.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n <= 0:
            raise UsageError(f"--expires {text!r} is not in the future")
        return now + {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--expires {text!r} is not a duration or a date", hint="use 30d, 12h, 2w, 2027-01-31 or never"
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at <= now:
        raise UsageError(f"--expires {text!r} is in the past")
    return at


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@dataclass
class TokenService:
    store: CatalogStore
    cache_seconds: float = field(
        default_factory=lambda: float(os.environ.get("DISGORGE_TOKEN_CACHE_SECONDS", CACHE_SECONDS))
    )
    _seen: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    _matched: dict[str, str] = field(default_factory=dict)
    """sha256 of a bearer -> the argon2 hash its secret was verified against (in memory only)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(
        self, by: Principal, name: str, *, principal: str | None = None, expires: str | None = None
    ) -> tuple[TokenRow, str]:
        """A new token for ``principal`` (default: the caller); the secret is returned only here.

        Anyone on the roster may issue tokens for themselves; only an admin for someone else."""
        from disgorge.access import roster

        if not by.name or not by.managed:
            raise PolicyDenied(
                "API tokens act as a roster member, and you act as nobody on this catalog",
                hint="claim the catalog first (disgorge init), or set DISGORGE_IDENTITY to your identity",
            )
        who = normalise_name(principal) if principal else by.name
        if who != by.name and "admin" not in by.roles:
            raise PolicyDenied(f"only an admin may issue a token for {who!r}")
        if roster(self.store).active(who) is None:
            raise NotFoundError(f"{who!r} is not an active member of the roster")
        if not name.strip() or len(name) > 200:
            raise UsageError("--name must be 1 to 200 characters", hint="e.g. --name laptop")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        row = self.store.tokens.add(
            token_id, who, name.strip(), _hasher().hash(secret), by.name, parse_expiry(expires)
        )
        return row, f"{PREFIX}{token_id}_{secret}"

    def revoke(self, by: Principal, token_id: str) -> TokenRow:
        row = self.store.tokens.get(token_id)
        if row is None:
            raise NotFoundError(f"no API token {token_id!r}", hint="disgorge token list shows them")
        if row.principal != by.name and "admin" not in by.roles:
            raise PolicyDenied(f"only an admin may revoke {row.principal!r}'s token")
        with self._lock:
            self._seen.clear()
        return self.store.tokens.revoke(token_id)

    def list(self, by: Principal) -> list[TokenRow]:
        return self.store.tokens.list(None if "admin" in by.roles else by.name)

    def authenticate(self, bearer: str) -> Principal:
        """The principal a token acts as now, within its current roles; 401 if it is not valid."""
        hit = self.cached(bearer)
        if hit is not None:
            return hit
        key, now = hashlib.sha256(bearer.encode("utf-8", "replace")).hexdigest(), time.monotonic()
        principal = self._check(bearer, key)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = (now, principal)
        return principal

    def cached(self, bearer: str) -> Principal | None:
        """The principal of a token checked within the last ``cache_seconds``, else None: no argon2,
        no query (the server answers from here on its event loop, without a worker thread)."""
        key = hashlib.sha256(bearer.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            hit = self._seen.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        return None

    def _check(self, bearer: str, key: str) -> Principal:
        from argon2.exceptions import VerificationError

        from disgorge.access import roster

        m = _TOKEN.match(bearer)
        if m is None:
            raise Unauthenticated(
                "the bearer token is not a Disgorge API token", hint="disgorge token create"
            )
        row = self.store.tokens.get(m.group(1))
        if row is None:
            raise Unauthenticated("the bearer token is unknown", hint="disgorge token create")
        if self._matched.get(key) != row.secret_hash:
            try:
                _hasher().verify(row.secret_hash, m.group(2))
            except VerificationError:
                raise Unauthenticated("the bearer token is unknown", hint="disgorge token create") from None
            with self._lock:
                if len(self._matched) > 10_000:
                    self._matched.clear()
                self._matched[key] = row.secret_hash
        if row.revoked_at is not None:
            raise Unauthenticated(f"token {row.id} was revoked", hint="disgorge token create")
        if row.expires_at is not None and _aware(row.expires_at) <= datetime.now(UTC):
            raise Unauthenticated(f"token {row.id} expired", hint="disgorge token create")
        member = roster(self.store).active(row.principal)
        if member is None:
            raise Unauthenticated(f"{row.principal!r} is no longer on the roster")
        return Principal(member.name, frozenset(member.roles), member.key)


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)

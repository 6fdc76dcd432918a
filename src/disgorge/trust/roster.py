"""The roster: who may act on a catalog, with which key and roles, folded from signed statements.

The roster is never read from a table an insider could edit: it is the fold, in ledger order, of
``roster.*`` statements, each signed by an admin of the roster as it stood just before it. The first is
a self-signed ``roster.genesis`` by the catalog's first admin (the caller of ``disgorge init``). So the
question "could ``bea`` approve at ledger entry 812?" is answered from signatures alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from disgorge.errors import VerificationFailed
from disgorge.hashing.canonical import canonical_json
from disgorge.model.roles import ROLES
from disgorge.trust.names import normalise_name
from disgorge.trust.statements import Signed, verify_signature


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    key: str
    roles: frozenset[str]
    added_by: str
    added_at: int
    """Ledger index of the statement that added (or last changed) the member."""
    revoked_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "roles": sorted(self.roles),
            "added_by": self.added_by,
            "added_at": self.added_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(slots=True)
class Roster:
    catalog: str
    members: dict[str, Member] = field(default_factory=dict)
    history: list[tuple[int, Signed]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """Roster statements in the log that do not verify, set aside (with why): junk an insider writes
    into the ledger changes nobody's roles, and is reported instead of bricking the catalog."""

    def active(self, name: str) -> Member | None:
        m = self.members.get(name)
        return m if m is not None and m.revoked_at is None else None

    def holder_of(self, key: str) -> Member | None:
        return next((m for m in self.members.values() if m.key == key and m.revoked_at is None), None)

    @property
    def empty(self) -> bool:
        return not self.members

    def digest(self) -> str:
        """The roster's state as one hash. Every roster statement names the digest of the roster it
        changes, and every erasure statement the roster it was signed against, so a certificate that
        leaves out a roster statement (a revocation, say) no longer adds up."""
        state = {"catalog": self.catalog, "members": [m.to_json() for _, m in sorted(self.members.items())]}
        return hashlib.sha256(canonical_json(state)).hexdigest()


def _roles(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(r, str) and r in ROLES for r in value):
        raise VerificationFailed(f"{where}: roles must be a non-empty list of {', '.join(ROLES)}")
    return frozenset(value)


def apply(roster: Roster, index: int, signed: Signed) -> None:
    """Fold one roster statement at ledger ``index`` into ``roster``, or raise naming why it is invalid."""
    where = f"roster statement at ledger entry {index} ({signed.kind} by {signed.principal!r})"
    verify_signature(signed, where)
    if signed.statement["catalog"] != roster.catalog:
        raise VerificationFailed(f"{where}: made for another catalog ({signed.statement['catalog'][:16]})")
    body = signed.body
    if body.get("prev") != roster.digest():
        raise VerificationFailed(
            f"{where}: it does not follow the roster it claims to change (a roster statement is missing, "
            "reordered or replayed)"
        )
    if signed.kind == "roster.genesis":
        if not roster.empty:
            raise VerificationFailed(f"{where}: a second genesis (the roster already has members)")
        if signed.about != signed.principal:
            raise VerificationFailed(f"{where}: a genesis must be about its own signer")
        roles = _roles(body.get("roles"), where)
        if "admin" not in roles:
            raise VerificationFailed(f"{where}: the first member must be an admin")
        roster.members[signed.principal] = Member(
            signed.principal, signed.key, roles, signed.principal, index
        )
        roster.history.append((index, signed))
        return
    signer = roster.active(signed.principal)
    if signer is None or signer.key != signed.key or "admin" not in signer.roles:
        raise VerificationFailed(
            f"{where}: {signed.principal!r} is not an admin of the roster with that key at that point "
            "(a roster change by a non-admin, or forged)"
        )
    try:
        name = normalise_name(signed.about)
    except Exception as exc:
        raise VerificationFailed(f"{where}: not a valid name ({exc})") from exc
    if name != signed.about:
        raise VerificationFailed(f"{where}: name {signed.about!r} is not in its normal form")
    current = roster.members.get(name)
    if signed.kind == "roster.add":
        if current is not None:
            raise VerificationFailed(f"{where}: {name!r} is already on the roster (names are unique)")
        twin = next((m.name for m in roster.members.values() if skeleton(m.name) == skeleton(name)), None)
        if twin is not None:
            raise VerificationFailed(f"{where}: {name!r} looks like {twin!r}, who is already on the roster")
        key = body.get("key")
        if not isinstance(key, str):
            raise VerificationFailed(f"{where}: the new member's key is missing")
        holder = roster.holder_of(key)
        if holder is not None:
            raise VerificationFailed(f"{where}: that key already belongs to {holder.name!r}")
        _check_key_name(key, name, where)
        roster.members[name] = Member(name, key, _roles(body.get("roles"), where), signed.principal, index)
    elif signed.kind == "roster.update":
        if current is None or current.revoked_at is not None:
            raise VerificationFailed(f"{where}: {name!r} is not an active member")
        roles = _roles(body.get("roles", sorted(current.roles)), where)
        key = body.get("key", current.key)
        if not isinstance(key, str):
            raise VerificationFailed(f"{where}: key must be a verifier key string")
        _check_key_name(key, name, where)
        if name == signed.principal and "admin" not in roles and _admins(roster) == {name}:
            raise VerificationFailed(f"{where}: the last admin cannot drop the admin role")
        roster.members[name] = replace(
            current, roles=roles, key=key, added_by=signed.principal, added_at=index
        )
    elif signed.kind == "roster.revoke":
        if current is None or current.revoked_at is not None:
            raise VerificationFailed(f"{where}: {name!r} is not an active member")
        if _admins(roster) == {name}:
            raise VerificationFailed(f"{where}: the last admin cannot be revoked")
        roster.members[name] = replace(current, revoked_at=index)
    else:
        raise VerificationFailed(f"{where}: not a roster statement")
    roster.history.append((index, signed))


def _admins(roster: Roster) -> set[str]:
    return {m.name for m in roster.members.values() if m.revoked_at is None and "admin" in m.roles}


def _check_key_name(key: str, name: str, where: str) -> None:
    from disgorge.ledger.note import NoteVerifier

    try:
        v = NoteVerifier.parse(key)
    except Exception as exc:
        raise VerificationFailed(f"{where}: malformed key ({exc})") from exc
    if v.name != name:
        raise VerificationFailed(f"{where}: the key is named {v.name!r}, not {name!r}")


def fold(catalog: str, statements: list[tuple[int, Signed]], *, upto: int | None = None) -> Roster:
    """The roster from its statements (ledger index, statement) in ledger order, up to (not including)
    ledger index ``upto``; statements that do not verify are set aside in ``rejected``."""
    roster = Roster(catalog)
    for index, signed in statements:
        if upto is not None and index >= upto:
            break
        try:
            apply(roster, index, signed)
        except VerificationFailed as exc:
            roster.rejected.append(exc.message)
    return roster


def skeleton(name: str) -> str:
    """What a name looks like, marks dropped (``anń`` looks like ``ann``): two members never share one."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()

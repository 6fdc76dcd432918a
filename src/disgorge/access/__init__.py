"""Who is acting, and may they: the catalog's roster folded from its signed statements, the principal a
caller's identity resolves to, and the checks every service makes before it acts.

Only the surfaces (CLI, server) resolve who the caller is; services receive a :class:`Principal`.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.errors import ConflictError, NotFoundError, PolicyDenied, UsageError
from disgorge.model.roles import ACTIONS, ROLES, Principal, local_user
from disgorge.trust import Identity, Roster, Signed, fold, normalise_name, sign


def roster(store: CatalogStore) -> Roster:
    """The roster as the ledger's signed statements make it (never from a table)."""
    st = store.statements
    statements = st.roster()
    if not statements:  # unmanaged: no signature to check, no need for the crypto libraries
        return Roster(st.catalog_id())
    return fold(st.catalog_id(), statements)


def resolve(store: CatalogStore, identity: Identity | None) -> Principal:
    """The principal an identity acts as on this catalog.

    An unmanaged catalog (empty roster) acts for the local user with every role but no key; on a managed
    one, the identity must be an active member with the same key, or it acts as nobody."""
    r = roster(store)
    if r.empty:
        return local_user(f"local:{getpass.getuser()}")
    if identity is None:
        return Principal("", frozenset(), None)
    member = r.active(identity.name)
    if member is None or member.key != identity.public_key:
        return Principal(identity.name, frozenset(), identity.public_key)
    return Principal(member.name, member.roles, member.key)


def require(principal: Principal, action: str) -> None:
    """Refuse (exit 1, HTTP 403) an action the principal's roles do not allow."""
    if principal.may(action):
        return
    need = ", ".join(sorted(ACTIONS[action]))
    if not principal.name:
        raise PolicyDenied(
            f"this catalog has a roster, and you act as nobody on it ({action} needs: {need})",
            hint="set DISGORGE_IDENTITY to your identity file, or ask an admin to add you "
            "(disgorge principal add NAME --key KEY --role ROLE)",
        )
    if not principal.roles:
        raise PolicyDenied(
            f"{principal.name!r} is not an active member of this catalog's roster with this key",
            hint="ask an admin to add you (disgorge principal add NAME --key KEY --role ROLE)",
        )
    raise PolicyDenied(
        f"{principal.name!r} may not {action} (roles {', '.join(sorted(principal.roles))}; needs: {need})",
        hint="ask an admin for the role (disgorge principal set-roles NAME --role ROLE)",
    )


@dataclass(frozen=True)
class RosterService:
    store: CatalogStore

    def members(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in sorted(roster(self.store).members.values(), key=lambda m: m.name)]

    def genesis(self, identity: Identity) -> bool:
        """Make ``identity`` the catalog's first admin (every role); False if the roster has members."""
        r = roster(self.store)
        if not r.empty:
            return False
        signed = sign(
            identity,
            "roster.genesis",
            catalog=r.catalog,
            about=identity.name,
            body={"roles": list(ROLES), "prev": r.digest()},
        )
        self.store.statements.add(signed)
        return True

    def apply(self, signed: Signed) -> int:
        """Append a roster statement signed by an admin (checked here, and again by every reader)."""
        from disgorge.trust.roster import apply

        r = roster(self.store)
        apply(r, 1 << 62, signed)  # raises VerificationFailed naming what is wrong with it
        return self.store.statements.add(signed)

    def statement(self, identity: Identity, kind: str, name: str, body: dict[str, Any]) -> Signed:
        """An admin's roster statement about ``name`` (validated before it is signed)."""
        t = self.template(kind, name, body)
        return sign(identity, kind, catalog=t["catalog"], about=t["about"], body=t["body"])

    def template(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """The roster statement about ``name`` less what its signer adds (principal, key, time), checked
        first, so a client signs only a change the roster accepts (and follows the roster it read)."""
        if kind not in ("roster.add", "roster.update", "roster.revoke"):
            raise UsageError(
                f"roster statement kind {kind!r} is unknown",
                hint="roster.add, roster.update or roster.revoke",
            )
        r = roster(self.store)
        canonical = normalise_name(name)
        from disgorge.trust.roster import skeleton

        if kind == "roster.add" and canonical in r.members:
            raise ConflictError(f"{canonical!r} is already on the roster", hint="names are unique")
        twin = next((m for m in r.members if skeleton(m) == skeleton(canonical)), None)
        if kind == "roster.add" and twin is not None:
            raise ConflictError(
                f"{canonical!r} looks like {twin!r}, who is already on the roster",
                hint="choose a distinct name",
            )
        if kind != "roster.add" and r.active(canonical) is None:
            raise NotFoundError(f"{canonical!r} is not an active member of the roster")
        for role in body.get("roles", []):
            if role not in ROLES:
                raise UsageError(f"role {role!r} is unknown", hint=f"roles: {', '.join(ROLES)}")
        if kind == "roster.add":
            _check_key(str(body.get("key", "")), canonical)
        from disgorge.trust.statements import FORMAT

        return {
            "format": FORMAT,
            "kind": kind,
            "catalog": r.catalog,
            "about": canonical,
            "body": {**body, "prev": r.digest()},
        }


def _check_key(key: str, name: str) -> None:
    """A new member's key, refused as bad input (before anyone signs) unless it is a verifier key
    carrying their name, as every reader of the roster would refuse it."""
    from disgorge.errors import InputError
    from disgorge.ledger.note import NoteVerifier

    hint = f"their public key, as `disgorge identity show` prints it on their machine (made by `disgorge identity init {name}`)"
    try:
        v = NoteVerifier.parse(key)
    except Exception as exc:
        raise InputError(f"--key {key!r} for {name!r} is not a public key", hint=hint) from exc
    if v.name != name:
        raise InputError(f"--key is the key of {v.name!r}, not of {name!r}", hint=hint)

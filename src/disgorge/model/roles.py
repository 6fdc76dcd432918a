"""Who may do what: the roles of a catalog's roster and the actions each allows.

The matrix is data, so the CLI, the server and a test can all enumerate it. An empty roster (a catalog
nobody has claimed with ``disgorge init`` yet) is unmanaged: its local user may do everything except
what needs a signature of a roster member (approving, executing and resolving erasures).
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "engineer", "requester", "approver", "auditor")
ANY = frozenset(ROLES)

ACTIONS: dict[str, frozenset[str]] = {
    "read": ANY,  # impact, lineage, lookup, scan, show and list commands, ledger verify and prove
    "source.write": frozenset({"admin", "engineer"}),
    "ingest": frozenset({"admin", "engineer"}),
    "dataset.write": frozenset({"admin", "engineer"}),
    "run.write": frozenset({"admin", "engineer"}),
    "lineage.write": frozenset({"admin", "engineer"}),  # OpenLineage events, MLflow imports
    "model.deploy": frozenset({"admin", "engineer"}),
    "deployment.hook": frozenset({"admin"}),
    "check": ANY,
    "export": frozenset({"admin", "engineer"}),
    "consent.import": frozenset({"admin", "requester"}),
    "erase.plan": frozenset({"admin", "requester"}),
    "erase.approve": frozenset({"approver"}),
    "erase.run": frozenset({"admin", "requester"}),
    "erase.verify": frozenset({"admin", "requester", "auditor"}),
    "erase.resolve": frozenset({"approver"}),
    "erase.certificate": frozenset({"admin", "requester", "auditor"}),
    "ledger.checkpoint": ANY,
    "roster.write": frozenset({"admin"}),
    "storage.write": frozenset({"admin"}),
    "recipient.write": frozenset({"admin"}),
    "notice.record": frozenset({"admin", "requester"}),
    "key.manage": frozenset({"admin"}),
    "asset.write": frozenset({"admin", "engineer"}),
    "job.start": frozenset({"admin", "engineer", "requester", "auditor"}),  # then the job kind's own action
    "token.issue": frozenset({"admin"}),  # through a server: a token never mints more (locally, anyone's own)
}
SIGNED = frozenset({"erase.plan", "erase.approve", "erase.run", "erase.resolve"})
"""Actions that are signed statements: they need a roster member's identity, never an unmanaged user."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The person (or, for an unmanaged catalog, the local user) a service acts for."""

    name: str
    roles: frozenset[str]
    key: str | None = None
    """The verifier key of their identity; None for an unmanaged catalog's local user."""
    managed: bool = True

    def may(self, action: str) -> bool:
        return bool(ACTIONS[action] & self.roles)


def local_user(name: str) -> Principal:
    """The local user of an unmanaged catalog: every role, no key (so nothing it does is signed)."""
    return Principal(name, ANY, None, managed=False)

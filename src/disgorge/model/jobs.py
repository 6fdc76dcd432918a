"""Jobs: long work (ingest scans, erasure execution, verification scans) the server runs for a person.

Kinds and states are data, so the routes, the CLI and a test enumerate the same lists."""

from __future__ import annotations

KINDS: dict[str, str] = {
    "ingest": "ingest",
    "erase.execute": "erase.run",
    "erase.verify": "erase.verify",
}
"""Each job kind and the roster action (:data:`disgorge.model.roles.ACTIONS`) it needs."""

STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL = frozenset({"done", "failed", "cancelled"})

"""Effective consent as a fold over time.

A subject's events for a use and a recipient are read in time order; the latest applicable event
decides. A grant of a parent use covers its children (``train_ai_system`` covers nothing else; ``marketing``
covers ``marketing.advertising``); a recipient ``*`` stands for every recipient. At equal timestamps a
withdrawal sorts after a grant, so a withdrawal always wins from its time on, until a later grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from disgorge.policy.taxonomy import covers

Action = Literal["granted", "withdrawn"]
ANY_RECIPIENT = "*"


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    subject: int
    use: str
    recipient: str
    action: Action
    at: datetime
    notice_version: int | None = None

    def applies(self, use: str, recipient: str) -> bool:
        return covers(self.use, use) and self.recipient in (recipient, ANY_RECIPIENT)


def consent_state(events: Iterable[ConsentEvent], use: str, recipient: str, at: datetime) -> Action | None:
    """The subject's effective consent for (use, recipient) at time ``at``; None when no event applies."""
    state: tuple[datetime, int, Action] | None = None
    for e in events:
        if e.at > at or not e.applies(use, recipient):
            continue
        key = (e.at, 1 if e.action == "withdrawn" else 0, e.action)
        if state is None or key[:2] >= state[:2]:
            state = key
    return state[2] if state else None

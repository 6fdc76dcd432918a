"""The fideslang default taxonomy (data categories, uses, subjects), extended where Disgorge needs keys.

Keys are dotted paths; a parent key covers all its descendants (``user.biometric`` covers
``user.biometric.face_template``). Unknown keys are errors, so a typo cannot widen or narrow a decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from disgorge.errors import InputError

EXTRA_CATEGORIES = {
    "user.biometric.face_template": "user.biometric",
}
SENSITIVE_CATEGORIES = (
    "user.biometric",
    "user.authorization.biometric",
    "user.demographic.race_ethnicity",
    "user.demographic.sexual_orientation",
    "user.demographic.religious_belief",
    "user.demographic.political_opinion",
    "user.health_and_medical",
    "user.location.precise",
    "user.childrens",
)
"""Special-category data (GDPR Art. 9, CPRA "sensitive personal information", children's data): a notice
alone never covers it; each use needs an explicit per-subject grant."""


def covers(parent: str, child: str) -> bool:
    return child == parent or child.startswith(parent + ".")


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: frozenset[str]
    uses: frozenset[str]
    subjects: frozenset[str]

    def check(self, kind: str, keys: Iterable[str], where: str) -> None:
        known = {"category": self.categories, "use": self.uses, "subject": self.subjects}[kind]
        for key in keys:
            if key not in known:
                close = sorted(
                    k for k in known if k.split(".")[-1] == key.split(".")[-1] or k.startswith(key)
                )[:3]
                raise InputError(
                    f"{where}: unknown data {kind} {key!r}",
                    hint=f"use a fideslang key{', e.g. ' + ', '.join(close) if close else ''}",
                )

    def sensitive(self, categories: Iterable[str]) -> list[str]:
        return sorted({c for c in categories for s in SENSITIVE_CATEGORIES if covers(s, c)})


@cache
def default_taxonomy() -> Taxonomy:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY  # pydantic models: 0.2 s, only when checked

    cats = {c.fides_key for c in DEFAULT_TAXONOMY.data_category} | set(EXTRA_CATEGORIES)
    uses = {u.fides_key for u in DEFAULT_TAXONOMY.data_use}
    subjects = {s.fides_key for s in DEFAULT_TAXONOMY.data_subject}
    return Taxonomy(frozenset(cats), frozenset(uses), frozenset(subjects))

"""Policies as code: versioned YAML rules in the spirit of ``fides evaluate``, deny by default.

A rule has an ``effect`` (allow or deny) and match clauses over ``data_categories``, ``data_uses``,
``data_subjects`` and ``recipients``, each ``{any: [...]}``, ``{all: [...]}`` or ``{none: [...]}`` with
parent keys covering their children. A request is denied if any deny rule matches, allowed if an allow
rule matches, and denied otherwise. An optional ``approvals`` mapping sets how many people approve an
erasure plan (read by the erasure workflow, signed into each request). The format is documented, with a tested example, in
``docs/policy.md``; anything the format does not define is an error, never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from disgorge.errors import InputError
from disgorge.policy.taxonomy import Taxonomy, covers, default_taxonomy

Mode = Literal["any", "all", "none"]
DIMENSIONS = ("data_categories", "data_uses", "data_subjects", "recipients")
TOP_LEVEL = ("version", "description", "rules", "approvals")
APPROVAL_KEYS = ("required", "approver_not_enrolled_by_requester")
MAX_APPROVERS = 10
RULE_KEYS = ("name", "effect", "description", *DIMENSIONS)
KIND = {"data_categories": "category", "data_uses": "use", "data_subjects": "subject"}


@dataclass(frozen=True, slots=True)
class Clause:
    dimension: str
    mode: Mode
    keys: tuple[str, ...]

    def matches(self, values: Iterable[str]) -> bool:
        vals = list(values)
        exact = self.dimension == "recipients"

        def hit(key: str) -> bool:
            return any((v == key or key == "*") if exact else covers(key, v) for v in vals)

        if self.mode == "any":
            return any(hit(k) for k in self.keys)
        if self.mode == "all":
            return all(hit(k) for k in self.keys)
        return not any(hit(k) for k in self.keys)

    def __str__(self) -> str:
        return f"{self.dimension} {self.mode.upper()} [{', '.join(self.keys)}]"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    effect: Literal["allow", "deny"]
    clauses: tuple[Clause, ...]

    def matches(self, request: Mapping[str, Iterable[str]]) -> bool:
        return all(c.matches(request.get(c.dimension, ())) for c in self.clauses)

    def describe(self) -> str:
        return f"{self.effect} if " + (" and ".join(str(c) for c in self.clauses) or "always")


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    approvals: dict[str, Any] | None = None
    """The erasure approval rule (``required``, ``approver_not_enrolled_by_requester``), complete with
    its defaults, or None when the policy does not set one (one approver)."""

    def evaluate(self, request: Mapping[str, Iterable[str]]) -> tuple[bool, Rule | None]:
        """(allowed, the deciding rule): the first matching deny rule, else the first matching allow rule."""
        materialised = {k: list(v) for k, v in request.items()}
        for rule in self.rules:
            if rule.effect == "deny" and rule.matches(materialised):
                return False, rule
        for rule in self.rules:
            if rule.effect == "allow" and rule.matches(materialised):
                return True, rule
        return False, None


def read_policy_file(path: Path) -> str:
    """A policy file's text, or an input error naming the file (parsed later, where it is stored)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"policy {path}: cannot read it ({exc})") from exc


def parse_policy(text: str, origin: str, taxonomy: Taxonomy | None = None) -> Policy:
    """Parse and validate a policy document; every unknown key, mode or effect is an error."""
    tax = taxonomy or default_taxonomy()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"policy {origin}: not valid YAML ({exc})") from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # PyYAML's own constructors
        raise InputError(f"policy {origin}: not valid YAML ({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict) or "version" not in doc or not isinstance(doc.get("rules"), list):
        raise InputError(
            f"policy {origin}: expected a mapping with 'version' and a list of 'rules'",
            hint="see docs/policy.md for the format",
        )
    if unknown := sorted(map(str, set(doc) - set(TOP_LEVEL))):
        raise InputError(
            f"policy {origin}: unknown top-level key(s) {', '.join(map(repr, unknown))}",
            hint=f"the keys are {', '.join(TOP_LEVEL)} (see docs/policy.md)",
        )
    version = doc["version"]
    if not isinstance(version, str | int) or isinstance(version, bool) or not str(version).strip():
        raise InputError(f"policy {origin}: 'version' must be a non-empty string, e.g. acme-2026-01")
    rules: list[Rule] = []
    names: dict[str, int] = {}
    for n, raw in enumerate(doc["rules"], 1):
        rule = _rule(raw, f"policy {origin}, rule {n}", tax)
        if rule.name in names:
            raise InputError(
                f"policy {origin}: rules {names[rule.name]} and {n} are both named {rule.name!r}",
                hint="a decision names the rule that made it, so names must be unique",
            )
        names[rule.name] = n
        rules.append(rule)
    approvals = _approvals(doc["approvals"], f"policy {origin}") if "approvals" in doc else None
    return Policy(str(version).strip(), tuple(rules), approvals)


def _approvals(raw: Any, where: str) -> dict[str, Any]:
    """The approval rule as the erasure workflow reads it (``disgorge.trust.ApprovalRule.from_json``)."""
    example = "e.g. approvals: {required: 2, approver_not_enrolled_by_requester: true}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: 'approvals' must be a mapping", hint=example)
    if unknown := sorted(map(str, set(raw) - set(APPROVAL_KEYS))):
        raise InputError(
            f"{where}: unknown key(s) in 'approvals': {', '.join(map(repr, unknown))}",
            hint=f"the keys are {', '.join(APPROVAL_KEYS)} (see docs/policy.md)",
        )
    required = raw.get("required", 1)
    if not isinstance(required, int) or isinstance(required, bool) or not 1 <= required <= MAX_APPROVERS:
        raise InputError(
            f"{where}: approvals.required must be a whole number from 1 to {MAX_APPROVERS}, got {required!r}",
            hint="how many distinct approvers, none of them the requester, must sign a plan",
        )
    distinct = raw.get("approver_not_enrolled_by_requester", False)
    if not isinstance(distinct, bool):
        raise InputError(
            f"{where}: approvals.approver_not_enrolled_by_requester must be true or false, got {distinct!r}"
        )
    return {"required": required, "approver_not_enrolled_by_requester": distinct}


def _rule(raw: Any, where: str, tax: Taxonomy) -> Rule:
    if not isinstance(raw, dict) or raw.get("effect") not in ("allow", "deny"):
        raise InputError(f"{where}: needs a 'name' and an 'effect' of allow or deny")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: needs a 'name' (non-empty text) and an 'effect' of allow or deny")
    unknown = sorted(map(str, set(raw) - set(RULE_KEYS)))
    if unknown:
        raise InputError(f"{where}: unknown fields {unknown}", hint=f"match on {', '.join(DIMENSIONS)}")
    clauses = []
    for dim in DIMENSIONS:
        if dim not in raw:
            continue
        spec: Any = raw[dim]
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("any", "all", "none"):
            raise InputError(f"{where}: {dim} must be one of {{any: [...]}}, {{all: [...]}}, {{none: [...]}}")
        mode, keys = next(iter(spec.items()))
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise InputError(f"{where}: {dim}.{mode} must be a list of keys")
        if dim in KIND:
            tax.check(KIND[dim], keys, where)
        clauses.append(Clause(dim, mode, tuple(keys)))
    return Rule(name.strip(), raw["effect"], tuple(clauses))


DEFAULT_POLICY = """\
version: disgorge-default-1
rules:
  - name: no-childrens-data-for-ai-or-sharing
    effect: deny
    data_categories: {any: [user.childrens]}
    data_uses: {any: [train_ai_system, third_party_sharing, marketing]}
  - name: consent-and-notice-decide
    description: Any use is allowed where the notice and the subject's consent cover it.
    effect: allow
    data_uses: {none: []}
"""

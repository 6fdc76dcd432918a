"""Purpose and consent decisions, pure: taxonomy, consent fold, policies as code."""

from disgorge.policy.consent import ConsentEvent, consent_state
from disgorge.policy.decide import Outcome, Provenance, Request, decide
from disgorge.policy.rules import DEFAULT_POLICY, Policy, parse_policy, read_policy_file
from disgorge.policy.taxonomy import SENSITIVE_CATEGORIES, Taxonomy, covers, default_taxonomy

__all__ = [
    "DEFAULT_POLICY",
    "SENSITIVE_CATEGORIES",
    "ConsentEvent",
    "Outcome",
    "Policy",
    "Provenance",
    "Request",
    "Taxonomy",
    "consent_state",
    "covers",
    "decide",
    "default_taxonomy",
    "parse_policy",
    "read_policy_file",
]

"""Enforcement: consent imports, purpose checks over whole datasets, and the gates that use them."""

from disgorge.enforcement.check import CheckReport, Violation, check_members
from disgorge.enforcement.consent_file import parse_consent, read_consent_file
from disgorge.enforcement.export import ExportResult, export_members
from disgorge.enforcement.gate import (
    RunReview,
    check_datasets,
    denial,
    readable,
    review_runs,
    subset_name,
    training_datasets,
)

__all__ = [
    "CheckReport",
    "ExportResult",
    "RunReview",
    "Violation",
    "check_datasets",
    "check_members",
    "denial",
    "export_members",
    "parse_consent",
    "read_consent_file",
    "readable",
    "review_runs",
    "subset_name",
    "training_datasets",
]

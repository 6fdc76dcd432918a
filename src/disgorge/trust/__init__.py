"""People, not names: identities, signed statements, the roster folded from them, the approval rule.

Pure code over keys and JSON (identity files aside): the catalog stores statements in its ledger, and
the executor, ``erase show`` and offline certificate verification all call the same functions here.
"""

from disgorge.trust.approval import ApprovalRule, Authorization, authorize
from disgorge.trust.identity import Identity, default_path, load_default
from disgorge.trust.names import normalise_name
from disgorge.trust.roster import Member, Roster, fold
from disgorge.trust.statements import Signed, parse, sign, verify_signature

__all__ = [
    "ApprovalRule",
    "Authorization",
    "Identity",
    "Member",
    "Roster",
    "Signed",
    "authorize",
    "default_path",
    "fold",
    "load_default",
    "normalise_name",
    "parse",
    "sign",
    "verify_signature",
]

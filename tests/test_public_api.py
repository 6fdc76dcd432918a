from __future__ import annotations

import disgorge


def test_all_is_curated() -> None:
    assert sorted(disgorge.__all__) == [
        "Catalog",
        "ConflictError",
        "DisgorgeError",
        "Home",
        "InputError",
        "NotFoundError",
        "PolicyDenied",
        "RunContext",
        "StoreError",
        "UsageError",
        "VerificationFailed",
        "open",
    ]
    for name in disgorge.__all__:
        assert hasattr(disgorge, name)


def test_errors_share_one_root_with_codes_and_statuses() -> None:
    for cls in (
        disgorge.UsageError,
        disgorge.InputError,
        disgorge.NotFoundError,
        disgorge.ConflictError,
        disgorge.PolicyDenied,
        disgorge.VerificationFailed,
        disgorge.StoreError,
    ):
        assert issubclass(cls, disgorge.DisgorgeError)
        assert cls.code.startswith("disgorge.")
    assert disgorge.PolicyDenied.exit_status == 1 and disgorge.InputError.exit_status == 2
    assert disgorge.PolicyDenied("no").to_json() == {"error": "disgorge.policy_denied", "message": "no"}

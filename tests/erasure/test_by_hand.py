"""A model captured from MLflow (``models:/ID``) is in an erasure's closure but out of every storage
backend's reach: the plan and the dry run say so with the steps to take in MLflow, execution skips it
(never claims it gone, never blocks the other deletions), and the plan completes once an approver
settles it."""

from __future__ import annotations

from pathlib import Path

import disgorge
from disgorge.model.capture import CapturedDataset, CapturedRun
from tests.as_a_person import dg
from tests.conftest import approve, as_


def _captured_model(cat: disgorge.Catalog) -> str:
    """An MLflow run of acme's that read faces@1 and logged model m-abc (as the ``disgorge+`` store
    records it)."""
    uri = "models:/m-abc"
    cat.store.apply_captured_runs(
        [
            CapturedRun(
                uid="0f3c",
                source="mlflow",
                producer="mlflow",
                name="mlflow/train",
                status="finished",
                use="train_ai_system",
                party="acme",
                inputs=(
                    CapturedDataset(
                        namespace="disgorge", name="faces@1", uri="disgorge:faces@1", dataset_ref="faces@1"
                    ),
                ),
                outputs=(
                    CapturedDataset(
                        namespace="mlflow", name="m-abc", uri=uri, is_model=True, model_name="mlflow:m-abc"
                    ),
                ),
            )
        ]
    )
    return uri


def test_an_mlflow_model_is_skipped_with_the_steps_and_settled_by_an_approver(
    world: disgorge.Catalog, tmp_path: Path
) -> None:
    uri = _captured_model(world)
    plan, _ = world.erasures.plan(
        scope=("subject", "alice"), withdrawn=False, reason="request", legal_basis="GDPR Art. 17"
    )
    reach = world.erasures.reachability(plan.id)
    assert reach["count"] == 0  # nothing blocks execution
    assert [(m["kind"], m["uri"]) for m in reach["by_hand"]["examples"]] == [("model_copy", uri)]
    assert "delete_logged_model" in reach["by_hand"]["examples"][0]["how"]
    approve(world, plan.id)
    report = world.erasures.run(plan.id, dry_run=False)
    assert report.status == "incomplete"
    assert not (tmp_path / "models" / "base.bin").exists()  # the reachable model was destroyed
    [problem] = report.problems
    assert (problem["uri"], problem["state"]) == (uri, "skipped")
    assert problem["evidence"].startswith("not deleted: an MLflow model (models:/m-abc)")
    assert [h["phase"] for h in report.held] == ["rebuild and notify", "forget"]
    seq = reach["by_hand"]["examples"][0]["seq"]
    with as_(world, "bea") as bea:
        bea.erasures.resolve(plan.id, seq, "deleted in MLflow and garbage-collected, ticket ML-7")
    assert world.erasures.run(plan.id, dry_run=False).status == "done"
    assert world.erasures.reachability(plan.id)["by_hand"]["count"] == 0


def test_the_dry_run_names_the_mlflow_model_and_what_to_do(world: disgorge.Catalog, tmp_path: Path) -> None:
    _captured_model(world)
    plan, _ = world.erasures.plan(
        scope=("subject", "alice"), withdrawn=False, reason="request", legal_basis="GDPR Art. 17"
    )
    dry = dg(tmp_path, "erase", "run", plan.id[:12], home=str(world.home.path), catalog=world.store.url)
    assert dry.returncode == 0, dry.stderr
    assert "1 targets only their own system can delete" in dry.stderr
    assert "an MLflow model (models:/m-abc)" in dry.stderr and "erase resolve" in dry.stderr
    assert "out of reach of the storage configuration" not in dry.stderr

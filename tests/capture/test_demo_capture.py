"""``disgorge demo --capture`` through the installed entry point: a pipeline whose steps come from the
openlineage-python client, an MLflow run (the ``disgorge+`` store plugin) and a Hugging Face + torch
script, and the impact answer naming the model each of them wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.as_a_person import dg_process

pytest.importorskip("mlflow")
pytest.importorskip("datasets")
pytest.importorskip("openlineage.client")


def test_the_capture_demo_answers_for_all_three_producers(tmp_path: Path) -> None:
    proc = dg_process(
        tmp_path,
        "demo",
        "--home",
        "demo",
        "--subjects",
        "4",
        "--photos",
        "2",
        "--research-subjects",
        "2",
        "--capture",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "openlineage-python (an Airflow task) -> http://127.0.0.1:" in out
    assert "reading datingsite-photos@1 in MLflow run 'match-ranker' refused before any data was read" in out
    models = next(line for line in out.splitlines() if line.strip().startswith("models: "))
    mlflow_model = re.search(r"model (mlflow:m-[0-9a-f]+)", out)
    assert mlflow_model is not None
    for name in ("face-crop-detector", mlflow_model.group(1), "research-embedder", "face-age-mobile-int8"):
        assert name in models.split("models: ")[1].split(", ")
    assert "captured producers in the answer: openlineage, mlflow, hf+torch (3 of 3)" in out
    assert "WARNING" not in proc.stderr and "UserWarning" not in proc.stderr


def test_the_capture_demo_leaves_the_default_demo_alone(tmp_path: Path) -> None:
    proc = dg_process(tmp_path, "demo", "--help")
    assert proc.returncode == 0 and "--capture" in proc.stdout

"""``disgorge coverage`` through the real entry point, from the home's folder, output piped."""

from __future__ import annotations

import json
from pathlib import Path

import disgorge
from disgorge.capture import ingest_batch
from tests.as_a_person import dg, dg_process
from tests.capture.events import airflow_task, dbt_model, ds, new_id


def test_coverage_counts_producers_inputs_and_models(
    sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    from disgorge.ingest import IngestOptions

    cat = sqlite_cat
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    ingest_batch(
        cat.store,
        cat.principal,
        [
            airflow_task(
                new_id(),
                "COMPLETE",
                time="2026-12-01T10:00:00Z",
                inputs=[ds("disgorge", "faces@1")],
                outputs=[ds("file", "/m/a.pt")],
            ),
            dbt_model(
                new_id(),
                "COMPLETE",
                time="2026-12-01T11:00:00Z",
                inputs=[ds("postgres://db:5432", "a.b.c")],
                outputs=[],
            ),
        ],
    )
    (tmp_path / "orphan.bin").write_bytes(b"weights")
    cat.register_artifact(tmp_path / "orphan.bin", kind="model", name="orphan")
    with cat.run("local", use="train_ai_system", party="acme", inputs=["dataset:faces@1"], enforce=False):
        pass
    report = json.loads(dg_process(tmp_path, "coverage", "--json").stdout)
    by = {p["source"]: p for p in report["producers"]}
    assert report["runs"] == 3
    assert report["inputs"] == {"resolved": 2, "unknown": 1}
    assert by["disgorge"]["runs"] == 1
    assert report["models"]["with_training_run"] == 1
    assert report["models"]["untrained"] == ["orphan"]
    window = json.loads(
        dg(
            tmp_path,
            "coverage",
            "--since",
            "2026-12-01T10:30:00Z",
            "--until",
            "2026-12-01T12:00:00Z",
            "--json",
        ).stdout
    )
    assert window["runs"] == 1 and window["inputs"] == {"resolved": 0, "unknown": 1}
    human = dg(tmp_path, "coverage")
    assert human.returncode == 0
    assert "no training run: orphan" in human.stdout + human.stderr
    bad = dg(tmp_path, "coverage", "--since", "yesterday")
    assert bad.returncode == 2 and "--since 'yesterday' is not an ISO 8601 time" in bad.stderr

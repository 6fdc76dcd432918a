"""``disgorge demo --capture``: the dating site's own pipeline, told to the catalog by three producers.

An Airflow-style job reports itself with the real openlineage-python client (``HttpTransport`` to
``/api/v1/lineage`` of a ``disgorge serve`` the CLI starts on loopback), an MLflow run goes through the
``disgorge+`` tracking-store plugin, and a training script reads the photos as a Hugging Face dataset
(torch tensors) through :func:`disgorge.integrations.hf.load`. Each writes a model; the impact answer of
the story then names all three. Needs the extras ``mlflow`` and ``hf`` and openlineage-python.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from disgorge.api import Catalog
from disgorge.errors import InputError

Serve = Callable[[Catalog], AbstractContextManager[str]]
"""Runs the catalog's server while the block runs; gives its base URL (the CLI supplies it)."""
Say = Callable[[str], None]
MISSING = (
    "disgorge demo --capture needs the mlflow and hf extras and openlineage-python "
    "(pip install 'disgorge[mlflow,hf]' openlineage-python)"
)
USE, PARTY = "essential.service", "datingsite"
THIRD_PARTY = "FaceVision Inc."


def check_installed() -> None:
    """InputError (exit 2) before anything is generated, if a producer's library is missing."""
    import importlib.util

    for module in ("openlineage.client", "mlflow", "datasets", "torch"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise InputError(
                f"{MISSING}: {module} is not installed", hint="or run the demo without --capture"
            )


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _file(path: Path, seed: int) -> tuple[Path, str, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = hashlib.sha256(f"demo-weights-{seed}".encode()).digest() * 8192
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


def openlineage_job(cat: Catalog, url: str, photos_dir: Path, models: Path) -> str:
    """An Airflow task that crops faces from the photo folder and trains a detector, as openlineage-python
    reports it (START with the input folder, COMPLETE with the model and its hash)."""
    import attr
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated.base import OutputDatasetFacet, RunFacet
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    from disgorge.access.tokens import TokenService

    @attr.define
    class DisgorgeRun(RunFacet):
        use: str
        party: str

    @attr.define
    class DisgorgeModel(OutputDatasetFacet):
        kind: str
        name: str
        sha256: str
        size: int

    _, token = TokenService(cat.store).issue(cat.principal, "demo-openlineage")
    config = HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": token}), retry={"total": 0})
    client = OpenLineageClient(transport=HttpTransport(config))
    producer = "https://github.com/apache/airflow/tree/providers-openlineage/2.6.0"
    run_id, job = str(uuid.uuid4()), Job(namespace="airflow", name="datingsite.face_crop_detector")
    facets: dict[str, RunFacet] = {"disgorge": DisgorgeRun(use=USE, party=PARTY, producer=producer)}
    now = datetime.now(UTC).isoformat()
    client.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=now,
            run=Run(runId=run_id, facets=facets),
            job=job,
            producer=producer,
            inputs=[InputDataset(namespace="file", name=str(photos_dir))],
        )
    )
    path, sha, size = _file(models / "face-crop-detector.pt", 11)
    name = "face-crop-detector"
    model = DisgorgeModel(kind="model", name=name, sha256=sha, size=size, producer=producer)
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id, facets=facets),
            job=job,
            producer=producer,
            outputs=[OutputDataset(namespace="file", name=str(path), outputFacets={"disgorge": model})],
        )
    )
    return name


def mlflow_run(cat: Catalog, home: Path, identity: Path, ref: str, photos_dir: Path) -> tuple[str, str]:
    """A ranking model trained in MLflow for the third party, through the ``disgorge+sqlite`` store
    plugin: reading the registered dataset is refused; the photo folder named as a plain MLflow dataset
    is recorded as it names itself (and resolves to the registered photos under it)."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.tracking import MlflowClient

    from disgorge.errors import PolicyDenied
    from disgorge.integrations.mlflow import disgorge_dataset

    uri = f"disgorge+sqlite:///{home / 'mlflow.db'}"
    refused = ""
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its "Creating initial tables" lines
    with _env(DISGORGE_HOME=str(home), DISGORGE_IDENTITY=str(identity), GIT_PYTHON_REFRESH="quiet"):
        mlflow.set_tracking_uri(uri)
        try:
            tags = {"disgorge.use": "train_ai_system", "disgorge.party": THIRD_PARTY}
            with mlflow.start_run(run_name="match-ranker", tags=tags) as run:
                try:
                    mlflow.log_input(disgorge_dataset(ref, catalog=cat), context="training")
                except PolicyDenied as exc:
                    refused = exc.message.split(":")[0]
                with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local folder
                    warnings.simplefilter("ignore", UserWarning)
                    source = resolve_dataset_source(str(photos_dir))
                folder = MetaDataset(source=source, name="photos")  # type: ignore[abstract]
                mlflow.log_input(folder, context="training")
                model = MlflowClient().create_logged_model(
                    run.info.experiment_id, name="match-ranker", source_run_id=run.info.run_id
                )
        finally:
            mlflow.set_tracking_uri("")
    return f"mlflow:{model.model_id}", refused


def hf_training(cat: Catalog, ref: str, parent: str, models: Path) -> str:
    """The research lab's training script: its consented photos as a Hugging Face dataset (checked
    before the first example is read) in torch tensors, fine-tuning the captured face detector."""
    from disgorge.integrations.hf import load
    from disgorge.integrations.torch import to_tensor

    name = "research-embedder"
    with cat.run("hf-research-embedder", use="train_ai_system", party="acme-research") as run:
        ds = load(run, ref)
        batch = [to_tensor(ds[i]["image"]) for i in range(min(4, len(ds)))]
        path, _, _ = _file(models / "research-embedder.safetensors", 12 + len(batch))
        run.log_model(path, name=name, parents=[parent])
    return name


def capture_pipeline(
    cat: Catalog,
    serve: Serve,
    home: Path,
    identity: Path,
    photos_dir: Path,
    refs: tuple[str, str],
    say: Say,
) -> dict[str, str]:
    """Runs the three producers (``refs``: the dating site's photos, the research photos); the model
    each wrote, by producer."""
    models = home / "models"
    with serve(cat) as url:
        ol = openlineage_job(cat, url, photos_dir, models)
    say(f"      openlineage-python (an Airflow task) -> {url}/api/v1/lineage: model {ol}")
    ml, refused = mlflow_run(cat, home, identity, refs[0], photos_dir)
    if refused:
        say(f"      MLflow (disgorge+sqlite store plugin): {refused}")
    say(f"      MLflow run reading the photo folder as a plain MLflow dataset: model {ml}")
    hf = hf_training(cat, refs[1], ol, models)
    say(f"      Hugging Face datasets + torch script on {refs[1]}, fine-tuning {ol}: model {hf}")
    return {"openlineage": ol, "mlflow": ml, "hf+torch": hf}


def covered(models: dict[str, str], impact_models: list[dict[str, Any]]) -> list[str]:
    """The producers whose model the impact answer names."""
    names = {m["name"] for m in impact_models}
    return [p for p, m in models.items() if m in names]

"""MLflow against a real SQLite tracking store: the disgorge dataset source, the ``disgorge+`` store
plugin (refusing before MLflow records anything), and ``disgorge import mlflow`` through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import disgorge
from disgorge.catalog.schema import CapturedIO, Decision, Run
from disgorge.errors import PolicyDenied
from tests.as_a_person import dg
from tests.conftest import add_training_datasets

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import LoggedModelInput  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from disgorge.integrations.mlflow import disgorge_dataset  # noqa: E402

ALLOWED = {"disgorge.use": "train_ai_system", "disgorge.party": "acme"}


@pytest.fixture
def home(
    catalog_url: str, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[disgorge.Catalog]:
    """faces (the dating site: operating the service only) and ok (acme may train on it), in a catalog
    on SQLite and on PostgreSQL (``$DISGORGE_CATALOG``, which the plugin's own catalog opens too)."""
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url) as c:
        c.add_source(
            "site",
            notice=b"we operate the service",
            uses=["essential.service"],
            categories=["user.content.self_image"],
        )
        add_training_datasets(c, photos, tmp_path)
        monkeypatch.setenv("DISGORGE_HOME", str(c.home.path))
        monkeypatch.setenv("DISGORGE_CATALOG", catalog_url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"disgorge+sqlite:///{tmp_path / 'mlflow.db'}")
        monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
        yield c
        mlflow.set_tracking_uri(None)


def _inputs(cat: disgorge.Catalog, uid: str) -> dict[str, tuple[str | None, str | None]]:
    with cat.store.session() as s:
        run_id = s.scalar(select(Run.id).where(Run.uid == uid))
        return {
            r.uri: (r.node_kind, r.how)
            for r in s.scalars(
                select(CapturedIO).where(CapturedIO.run_id == run_id, CapturedIO.direction == "input")
            )
        }


def test_log_input_records_the_exact_version_and_refuses_what_policy_forbids(
    home: disgorge.Catalog, tmp_path: Path
) -> None:
    plain = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run(run_name="finetune", tags=ALLOWED) as run:
        ok = disgorge_dataset("ok", catalog=home)
        assert ok.digest == home.store.get_dataset("ok@1").digest[:32]
        mlflow.log_input(ok, context="training")
        with pytest.raises(PolicyDenied, match="reading faces@1 in MLflow run 'finetune' refused"):
            mlflow.log_input(disgorge_dataset("faces@1", catalog=home), context="training")
    uid = run.info.run_id
    assert [d.dataset.name for d in plain.get_run(uid).inputs.dataset_inputs] == ["ok@1"]
    assert _inputs(home, uid) == {"disgorge:ok@1": ("dataset", "manifest_digest")}
    with home.store.session() as s:
        row = s.scalar(select(Run).where(Run.uid == uid))
        assert row is not None and (row.use, row.party, row.status) == ("train_ai_system", "acme", "finished")


def test_a_run_that_declares_no_use_cannot_read_registered_data(home: disgorge.Catalog) -> None:
    with mlflow.start_run(run_name="sneaky"), pytest.raises(PolicyDenied, match="undeclared"):
        mlflow.log_input(disgorge_dataset("ok", catalog=home))


def test_create_run_is_refused_for_declared_inputs_before_mlflow_records_it(
    home: disgorge.Catalog, tmp_path: Path
) -> None:
    """The refusal is a ``PolicyDenied`` with its hint and an ``MlflowException`` (PERMISSION_DENIED)."""
    from mlflow.exceptions import MlflowException

    plain = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(PolicyDenied, match="'pretrain' reading faces@1 refused before any data") as refused:
        mlflow.start_run(run_name="pretrain", tags={**ALLOWED, "disgorge.inputs": "faces@1"})
    assert isinstance(refused.value, MlflowException) and refused.value.error_code == "PERMISSION_DENIED"
    assert refused.value.hint and refused.value.hint.startswith("would be allowed by:")
    assert isinstance(refused.value.__cause__, PolicyDenied)
    assert plain.search_runs(["0"]) == []


def test_a_change_made_elsewhere_reaches_the_very_next_call(home: disgorge.Catalog, tmp_path: Path) -> None:
    """The plugin keeps what its checks read (consent sets, the policy, dataset versions, whole
    decisions) between calls; a withdrawal imported by another process (the CLI), a policy set and an
    erasure mark made through another catalog store, each between two calls, decide the very next one,
    and a grant afterwards allows again."""
    from disgorge.policy import DEFAULT_POLICY

    other = disgorge.open(home.home.path, catalog_url=home.store.url)
    consent = tmp_path / "consent.csv"
    header = "subject_id,use,recipient,action,timestamp,notice_version\n"
    row = "dave,train_ai_system,acme,{},{},1\n"
    ok = disgorge_dataset("ok", catalog=home)
    client = MlflowClient()
    store = client._tracking_client.store
    run = client.create_run("0", run_name="finetune", tags=ALLOWED).info.run_id

    def log() -> None:
        client.log_inputs(run, [mlflow.entities.DatasetInput(ok._to_mlflow_entity())])

    try:
        log()
        log()  # the second is answered from what the first kept
        consent.write_text(header + row.format("withdrawn", "2024-05-01T00:00:00Z"))
        imported = dg(
            tmp_path, "consent", "import", str(consent), home=str(home.home.path), catalog=home.store.url
        )
        assert imported.returncode == 0, imported.stderr
        with pytest.raises(PolicyDenied, match="consent_withdrawn"):
            log()
        consent.write_text(header + row.format("granted", "2024-06-01T00:00:00Z"))
        other.import_consent(consent)
        log()
        strict = tmp_path / "policy.yaml"
        strict.write_text(
            "version: no-training-1\nrules:\n"
            "  - name: no-training\n    effect: deny\n    data_uses: {any: [train_ai_system]}\n"
        )
        other.set_policy(strict)
        with pytest.raises(PolicyDenied, match="no-training"):
            log()
        with pytest.raises(PolicyDenied, match="'again' reading ok@1 refused"):
            client.create_run("0", run_name="again", tags={**ALLOWED, "disgorge.inputs": "ok@1"})
        lenient = tmp_path / "lenient.yaml"
        lenient.write_text(DEFAULT_POLICY)
        other.set_policy(lenient)
        log()
        other.store.mark_erased_members("ok", other.store.members(other.store.get_dataset("ok@1").id))
        with pytest.raises(PolicyDenied, match="ok@1 held members that were since erased"):
            log()
    finally:
        other.close()
        store.flush()
    with home.store.session() as s:
        made = s.execute(
            select(Decision.uid, Decision.denied).where(Decision.kind == "mlflow").order_by(Decision.at)
        ).all()
    # each call its own decision, kept ones too; the erased version is refused before any check
    assert [denied == 0 for _, denied in made] == [True, True, False, True, False, False, True]
    assert len({uid for uid, _ in made}) == len(made)


def test_logged_models_become_models_with_parents(home: disgorge.Catalog) -> None:
    client = MlflowClient()
    with mlflow.start_run(run_name="pretrain", tags=ALLOWED) as pre:
        mlflow.log_input(disgorge_dataset("ok", catalog=home))
        base = client.create_logged_model("0", name="base", source_run_id=pre.info.run_id)
    with mlflow.start_run(run_name="tune", tags=ALLOWED) as tune:
        client.log_inputs(tune.info.run_id, models=[LoggedModelInput(base.model_id)])
        tuned = client.create_logged_model("0", name="tuned", source_run_id=tune.info.run_id)
    bom = home.lineage(f"mlflow:{tuned.model_id}")
    assert [(p["name"], p["relation"]) for p in bom.parents if p["relation"] != "input"] == [
        (f"mlflow:{base.model_id}", "fine_tuned_from")
    ]
    assert [d["ref"] for d in bom.datasets] == ["ok@1"]
    assert home.impact("source", "ok").counts()["models"] == 2


def test_import_mlflow_reads_a_history_idempotently(
    home: disgorge.Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history made without the plugin (a plain SQLite store), imported through the CLI from its folder
    with a relative tracking URI, twice."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    # relative, and named per test: MLflow keeps one store per URI for the process, across parametrised runs
    history = f"sqlite:///history-{tmp_path.name}.db"
    mlflow.set_tracking_uri(history)
    client = MlflowClient()
    with mlflow.start_run(run_name="old-train", tags=ALLOWED) as r1:
        mlflow.log_input(disgorge_dataset("faces@1", catalog=home))
        mlflow.log_input(
            mlflow.data.from_numpy(np.zeros((3, 2)), source="s3://elsewhere/blob.npy", name="blob")
        )
        m = client.create_logged_model("0", name="old", source_run_id=r1.info.run_id)
    client.create_registered_model("face-old")
    client.create_model_version(
        "face-old", source=f"models:/{m.model_id}", run_id=r1.info.run_id, model_id=m.model_id
    )
    mlflow.set_tracking_uri(None)
    first = dg(
        tmp_path,
        "import",
        "mlflow",
        "--tracking-uri",
        history,
        "--json",
        home=str(home.home.path),
        catalog=home.store.url,
    )
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["runs"], report["new_runs"], report["models"]) == (1, 1, 1)
    assert [u["input"] for u in report["unresolved"]] == ["s3://elsewhere/blob.npy"]
    again = json.loads(
        dg(
            tmp_path,
            "import",
            "mlflow",
            "--tracking-uri",
            history,
            "--json",
            home=str(home.home.path),
            catalog=home.store.url,
        ).stdout
    )
    assert (again["runs"], again["new_runs"], again["unresolved"]) == (1, 0, report["unresolved"])
    assert _inputs(home, r1.info.run_id)["disgorge:faces@1"] == ("dataset", "manifest_digest")
    assert r1.info.run_id in {u["uid"] for u in home.unknown_provenance_runs()}
    assert {r.run["uid"] for r in home.review_runs()} == {r1.info.run_id}
    human = dg(
        tmp_path,
        "import",
        "mlflow",
        "--tracking-uri",
        history,
        home=str(home.home.path),
        catalog=home.store.url,
    )
    assert "1 inputs not resolved" in human.stdout + human.stderr


def test_import_mlflow_through_the_server(
    home: disgorge.Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history is read where the command runs and recorded by the server, with the same report;
    an auditor (no lineage.write) is refused before anything is read or sent."""
    from disgorge.access.tokens import TokenService
    from tests.conftest import PEOPLE, claim
    from tests.server.conftest import LiveServer

    monkeypatch.chdir(tmp_path)
    remote = f"sqlite:///remote-{tmp_path.name}.db"  # MLflow keeps one store per URI per process
    mlflow.set_tracking_uri(remote)
    with mlflow.start_run(run_name="remote-train", tags=ALLOWED) as r1:
        mlflow.log_input(disgorge_dataset("ok@1", catalog=home))
    mlflow.set_tracking_uri(None)
    with disgorge.open(home.home.path, catalog_url=home.store.url, identity=PEOPLE["ann"]) as admin:
        claim(admin, PEOPLE)
        service = TokenService(admin.store)
        tokens = {who: service.issue(admin.principal, "t", principal=who)[1] for who in ("eve", "dan")}
    server = LiveServer(tmp_path, home=str(home.home.path), catalog_url=home.store.url)
    try:
        monkeypatch.setenv("DISGORGE_URL", server.url)
        args = ("import", "mlflow", "--tracking-uri", remote, "--json")
        monkeypatch.setenv("DISGORGE_TOKEN", tokens["dan"])
        refused = dg(tmp_path, *args, home="no-home")
        assert refused.returncode == 1 and "lineage.write" in refused.stderr, refused.stderr
        monkeypatch.setenv("DISGORGE_TOKEN", tokens["eve"])
        first = dg(tmp_path, *args, home="no-home")
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert (report["runs"], report["new_runs"], report["unresolved"]) == (1, 1, [])
        again = json.loads(dg(tmp_path, *args, home="no-home").stdout)
        assert (again["runs"], again["new_runs"]) == (1, 0)
    finally:
        server.stop()
    assert _inputs(home, r1.info.run_id)["disgorge:ok@1"] == ("dataset", "manifest_digest")
    assert not (tmp_path / "no-home").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, backend: str) -> Iterator[str]:
    """A real ``mlflow server`` (``backend``, Flask app under gunicorn, one worker) on loopback."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    log = (tmp_path / "mlflow-server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            backend,
            "--default-artifact-root",
            "./artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--gunicorn-opts",
            "--timeout 120",
        ],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "mlflow-server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """MLflow's own SQLite store behind the server."""
    yield from _serve(tmp_path, "sqlite:///server.db")


@pytest.fixture
def guarded_server(home: disgorge.Catalog, tmp_path: Path) -> Iterator[str]:
    """The ``disgorge+sqlite`` store behind the server: the catalog of ``$DISGORGE_HOME`` refuses."""
    yield from _serve(tmp_path, "disgorge+sqlite:///server.db")


def test_the_plugin_in_front_of_a_real_mlflow_server(
    home: disgorge.Catalog, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``disgorge+http://…`` wraps MLflow's REST store: the refusal happens before the server hears of
    the read, and a recorded run is in both the server and the catalog."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"disgorge+{mlflow_server}")
    server = MlflowClient(mlflow_server)
    with pytest.raises(PolicyDenied, match="refused before any data was read"):
        mlflow.start_run(run_name="pretrain", tags={**ALLOWED, "disgorge.inputs": "faces@1"})
    assert server.search_runs(["0"]) == []
    with mlflow.start_run(run_name="finetune", tags=ALLOWED) as run:
        mlflow.log_input(disgorge_dataset("ok", catalog=home), context="training")
        with pytest.raises(PolicyDenied, match="reading faces@1 in MLflow run 'finetune' refused"):
            mlflow.log_input(disgorge_dataset("faces@1", catalog=home), context="training")
    uid = run.info.run_id
    remote = server.get_run(uid)
    assert (remote.info.status, [d.dataset.name for d in remote.inputs.dataset_inputs]) == (
        "FINISHED",
        ["ok@1"],
    )
    assert _inputs(home, uid) == {"disgorge:ok@1": ("dataset", "manifest_digest")}
    with home.store.session() as s:
        row = s.scalar(select(Run).where(Run.uid == uid))
        assert row is not None and (row.name, row.status) == ("mlflow/finetune", "finished")


def test_a_server_whose_store_is_the_plugin_refuses_with_403(
    home: disgorge.Catalog, guarded_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain client of ``mlflow server --backend-store-uri disgorge+sqlite:…``: a refused run or read
    is HTTP 403 ``PERMISSION_DENIED`` naming the inputs and the reason, not an internal error."""
    import urllib.error
    import urllib.request

    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_URI", guarded_server)
    body = json.dumps(
        {
            "experiment_id": "0",
            "run_name": "pretrain",
            "tags": [{"key": k, "value": v} for k, v in {**ALLOWED, "disgorge.inputs": "faces@1"}.items()],
        }
    ).encode()
    request = urllib.request.Request(
        f"{guarded_server}/api/2.0/mlflow/runs/create",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    answer = json.loads(refused.value.read())
    assert answer["error_code"] == "PERMISSION_DENIED"
    assert "MLflow run 'pretrain' reading faces@1 refused before any data was read" in answer["message"]
    assert "may not be used for train_ai_system by acme" in answer["message"]
    client = MlflowClient()
    assert client.search_runs(["0"]) == []
    with mlflow.start_run(run_name="finetune", tags=ALLOWED) as run:
        mlflow.log_input(disgorge_dataset("ok", catalog=home), context="training")
        with pytest.raises(MlflowException, match="reading faces@1 in MLflow run 'finetune' refused") as read:
            mlflow.log_input(disgorge_dataset("faces@1", catalog=home), context="training")
    assert (read.value.error_code, read.value.get_http_status_code()) == ("PERMISSION_DENIED", 403)
    remote = client.get_run(run.info.run_id)
    assert [d.dataset.name for d in remote.inputs.dataset_inputs] == ["ok@1"]

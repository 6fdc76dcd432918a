"""Jobs through a real ``disgorge serve``: ingest, erasure execution and verification as jobs, their
roles, progress and cancellation, and a server killed (SIGKILL) mid-job that, restarted, finishes the
job exactly once."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import disgorge
from disgorge.access import roster
from disgorge.trust import sign
from tests.conftest import PEOPLE, approve

from .conftest import LiveServer, Team

PAUSE = "DISGORGE_FAULT_JOB_UNIT_PAUSE"


def wait_for(c: httpx.Client, job_id: str, until: Any, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, Any] = c.get(f"/api/v1/jobs/{job_id}").json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never got there: {job}")
        time.sleep(0.1)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("done", "failed", "cancelled")


def execute_statement(cat: disgorge.Catalog, plan_id: str, who: str = "ann") -> dict[str, Any]:
    """What the client signs with its own key to start an execution (the server never signs)."""
    current = roster(cat.store)
    return sign(
        PEOPLE[who],
        "erasure.execute",
        catalog=current.catalog,
        about=plan_id,
        body={"roster": current.digest()},
    ).to_json()


def bob_plan(cat: disgorge.Catalog) -> str:
    plan, _ = cat.erasures.plan(
        scope=("subject", "bob"), withdrawn=False, reason="order", legal_basis="GDPR 17"
    )
    approve(cat, plan.id, "bea")
    if not cat.erasures.authorization(plan.id).complete:
        approve(cat, plan.id, "cy")
    return plan.id


def target_attempts(cat: disgorge.Catalog, plan_id: str) -> list[tuple[str, int]]:
    with cat.store.engine.connect() as c:
        rows = c.execute(
            text("SELECT state, attempts FROM erasure_targets WHERE plan_id = :p"), {"p": plan_id}
        ).all()
    return [(str(s), int(a)) for s, a in rows]


def ledger_kinds(cat: disgorge.Catalog, kind: str) -> int:
    with cat.store.engine.connect() as c:
        return int(
            c.execute(text("SELECT count(*) FROM ledger_entries WHERE kind = :k"), {"k": kind}).scalar() or 0
        )


def test_an_ingest_job_registers_files_with_progress(team: Team, photos: Path, tmp_path: Path) -> None:
    team.cat.add_storage_root(photos)
    eve = team.client("eve")
    r = eve.post(
        "/api/v1/jobs",
        json={
            "kind": "ingest",
            "body": {"path": str(photos), "source": "site", "subject_from": "parent-dir"},
        },
    )
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    job = wait_for(eve, r.json()["id"], finished)
    assert job["status"] == "done", job
    assert job["result"]["new_assets"] == 9 and job["owner"] == "eve" and job["attempts"] == 1
    assert job["progress"]["done"] == job["progress"]["total"] == 9
    listed = eve.get("/api/v1/jobs").json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["next"] is None


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"path": "/etc", "source": "site", "no_subject": True}, 403, "outside the catalog's storage roots"),
        ({"path": "HOME", "source": "site", "no_subject": True}, 403, "home"),
        ({"path": "PARENT", "source": "site", "no_subject": True}, 403, "home"),
        ({"path": "photos", "source": "site", "no_subject": True}, 400, "absolute"),
        ({"path": "/tmp/\u0000x", "source": "site", "no_subject": True}, 400, "NUL"),
        ({"path": "s3://bucket/prefix", "source": "site"}, 400, "S3"),
        ({"path": "PHOTOS", "source": "nowhere", "no_subject": True}, 404, "nowhere"),
        ({"path": "PHOTOS", "source": "site", "rm": "-rf"}, 400, "rm"),
    ],
    ids=[
        "outside-roots",
        "the-home",
        "a-folder-holding-the-home",
        "relative",
        "nul",
        "s3",
        "unknown-source",
        "unknown-field",
    ],
)
def test_ingest_jobs_read_only_under_storage_roots(
    team: Team, photos: Path, body: dict[str, Any], status: int, says: str
) -> None:
    team.cat.add_storage_root(photos.parent)
    named = {"PHOTOS": str(photos), "HOME": str(team.cat.home.path), "PARENT": str(photos.parent)}
    body = {k: named.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    r = team.client("eve").post("/api/v1/jobs", json={"kind": "ingest", "body": body})
    assert r.status_code == status, r.text
    assert says in r.json()["message"] and "error" in r.json()
    assert team.client("ann").get("/api/v1/jobs").json()["items"] == []


def test_roles_per_kind_and_who_sees_which_job(team: Team, photos: Path) -> None:
    team.cat.add_storage_root(photos)
    ingest = {"kind": "ingest", "body": {"path": str(photos), "source": "site", "subject_from": "parent-dir"}}
    assert team.client("dan").post("/api/v1/jobs", json=ingest).status_code == 403
    assert team.client("bea").post("/api/v1/jobs", json=ingest).status_code == 403
    execute = {
        "kind": "erase.execute",
        "body": {"plan": "x", "statement": {"statement": {}, "signature": ""}},
    }
    r = team.client("eve").post("/api/v1/jobs", json=execute)
    assert r.status_code == 403 and "erase.run" in r.json()["message"]
    assert (
        team.client("nobody" if False else "eve")
        .post("/api/v1/jobs", json={"kind": "mine", "body": {}})
        .status_code
        == 400
    )
    mine = team.client("eve").post("/api/v1/jobs", json=ingest).json()["id"]
    assert team.client("dan").get(f"/api/v1/jobs/{mine}").status_code == 404
    assert team.client("dan").post(f"/api/v1/jobs/{mine}/cancel").status_code == 404
    assert team.client("dan").get("/api/v1/jobs").json()["items"] == []
    assert [j["id"] for j in team.client("ann").get("/api/v1/jobs").json()["items"]] == [mine]
    assert team.client().get(f"/api/v1/jobs/{mine}").status_code == 401
    wait_for(team.client("eve"), mine, finished)


def test_execute_and_verify_as_jobs_with_the_clients_signature(team: Team, world: disgorge.Catalog) -> None:
    plan = bob_plan(world)
    ann = team.client("ann")
    forged = execute_statement(world, plan)
    forged["signature"] = execute_statement(world, "0" * 64)["signature"]
    r = ann.post(f"/api/v1/erasures/{plan}/run", json={"statement": forged})
    assert r.status_code == 422 and "signature" in r.json()["message"]
    r = ann.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, "0" * 64)})
    assert r.status_code == 422
    r = ann.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan, "bea")})
    assert r.status_code == 403 and "signed by 'bea'" in r.json()["message"]
    r = ann.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)})
    assert r.status_code == 202, r.text
    job = wait_for(ann, r.json()["id"], finished)
    assert job["status"] == "done", job
    assert (
        job["result"]["status"] == "done"
        and job["result"]["executed_statement"]["kind"] == "erasure.executed"
    )
    assert "statement" not in job["request"]
    r = team.client("dan").post(
        f"/api/v1/erasures/{plan}/verify", json={"roots": [str(world.home.path.parent / "photos")]}
    )
    assert r.status_code == 202, r.text
    verified = wait_for(team.client("dan"), r.json()["id"], finished)
    assert verified["status"] == "done" and verified["result"]["clean"] is True, verified


def test_cancel_mid_erasure_leaves_it_resumable(
    cat: disgorge.Catalog, world: disgorge.Catalog, tmp_path: Path
) -> None:
    plan = bob_plan(world)
    server = LiveServer(tmp_path, catalog_url=world.store.url, **{PAUSE: "1.5"})
    team = Team(server, world, _tokens(world))
    try:
        ann = team.client("ann")
        job_id = ann.post(
            f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)}
        ).json()["id"]
        wait_for(ann, job_id, lambda j: j["progress"]["done"] >= 1)
        twice = ann.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)})
        assert twice.status_code == 409 and job_id in twice.json()["message"]
        assert ann.post(f"/api/v1/jobs/{job_id}/cancel").json()["cancel_requested"] is True
        job = wait_for(ann, job_id, finished)
        assert job["status"] == "cancelled", job
        assert job["result"]["resumable"] is True and "resumable" in job["result"]["message"]
        assert world.store.get_plan(plan).status == "incomplete"
        left = [s for s, _ in target_attempts(world, plan) if s != "done"]
        assert left, "cancelled before the end, some targets are still to do"
        again = ann.post(
            f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)}
        ).json()
        assert wait_for(ann, again["id"], finished, 120)["status"] == "done"
        assert all(s == "done" and a == 1 for s, a in target_attempts(world, plan))
    finally:
        for c in team.clients:
            c.close()
        server.stop()


def test_sigkill_mid_job_then_restart_finishes_it_exactly_once(
    cat: disgorge.Catalog,
    world: disgorge.Catalog,
    tmp_path: Path,
) -> None:
    """The restart mid-job test: kill -9 the server while an execution job runs, start it again; the job
    completes, once: every target carried out once, the takedown hook run once, one execution event."""
    plan = bob_plan(world)
    tokens = _tokens(world)
    first = LiveServer(tmp_path, catalog_url=world.store.url, **{PAUSE: "1.5"})
    c = httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=30)
    job_id = c.post(
        f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)}
    ).json()["id"]
    wait_for(c, job_id, lambda j: j["progress"]["done"] >= 1)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    c.close()
    killed = world.store.jobs.get(job_id)
    assert killed.status == "running" and killed.attempt == 1
    assert any(s != "done" for s, _ in target_attempts(world, plan)), "killed mid-job, not after it"

    second = LiveServer(tmp_path, catalog_url=world.store.url)
    c = httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=30)
    try:
        job = wait_for(c, job_id, finished, 120)
        assert job["status"] == "done" and job["attempts"] == 2, job
        assert all(s == "done" and a == 1 for s, a in target_attempts(world, plan))
        assert (tmp_path / "takedown.log").read_text().splitlines() == ["down"]
        assert ledger_kinds(world, "erasure_execution") == 1
        assert second.stop() == 0
    finally:
        c.close()
    third = LiveServer(tmp_path, catalog_url=world.store.url)  # a finished job is never run again
    try:
        from disgorge.jobs import Queue

        with Queue(world) as q:  # even if its id is delivered again
            q.enqueue(job_id)
        time.sleep(2)
        assert world.store.jobs.get(job_id).attempt == 2
        assert ledger_kinds(world, "erasure_execution") == 1
    finally:
        third.stop()
    log = (tmp_path / f"serve-{second.port}.log").read_text()
    assert "Traceback" not in log and json.dumps(job_id)[1:-1] in log


def _tokens(cat: disgorge.Catalog) -> dict[str, str]:
    from disgorge.access.tokens import TokenService

    service = TokenService(cat.store)
    return {name: service.issue(cat.principal, "tests", principal=name)[1] for name in PEOPLE}


def test_of_many_racing_claims_one_wins(cat: disgorge.Catalog) -> None:
    """The claim is one conditional UPDATE: of eight workers racing for a job, exactly one gets it, and a
    worker that lost its lease can write nothing, not even the end."""
    from concurrent.futures import ThreadPoolExecutor

    row = cat.store.jobs.add("race0000race0000", "ingest", "eve", {})
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda n: cat.store.jobs.claim(row.id, f"w{n}", 30), range(8)))
    assert won.count(1) == 1 and won.count(None) == 7
    assert cat.store.jobs.claim(row.id, "late", 30) is None  # held: nobody else may take it
    with cat.store.engine.begin() as conn:  # the lease expires (its worker stopped beating)
        conn.execute(
            text("UPDATE jobs SET lease_until = :t"), {"t": datetime.now(UTC) - timedelta(seconds=1)}
        )
    assert cat.store.jobs.claim(row.id, "late", 30) == 2
    assert cat.store.jobs.beat(row.id, 1, 30) == (False, False)
    assert cat.store.jobs.finish(row.id, 1, "done") is False
    assert cat.store.jobs.finish(row.id, 2, "done") is True
    assert cat.store.jobs.claim(row.id, "again", 30) is None  # a finished job is never run again
    assert cat.store.jobs.get(row.id).status == "done"
    from disgorge.jobs import JOB_KINDS, Runner

    assert Runner(cat, JOB_KINDS).run(row.id) == "skipped"  # delivered again: nothing runs
    assert Runner(cat, JOB_KINDS).run("not-a-job") == "skipped"


def test_a_queued_job_is_cancelled_at_once_and_a_revoked_owner_runs_nothing(team: Team, photos: Path) -> None:
    team.cat.add_storage_root(photos)
    from disgorge.jobs import JobService

    body = {"path": str(photos), "source": "site", "subject_from": "parent-dir"}
    with disgorge.open(team.cat.home.path, catalog_url=team.cat.store.url, identity=PEOPLE["eve"]) as eve:
        queued = JobService(None).submit(eve, "ingest", body)  # recorded, never rung: nobody runs it yet
        doomed = JobService(None).submit(eve, "ingest", body)
    c = team.client("eve")
    assert c.post(f"/api/v1/jobs/{queued.id}/cancel").json()["status"] == "cancelled"
    team.cat.change_roster("roster.update", "eve", roles=["auditor"])
    from disgorge.jobs import Queue

    with Queue(team.cat) as q:
        q.enqueue(doomed.id)
        q.enqueue(queued.id)
    job = wait_for(team.client("ann"), doomed.id, finished)
    assert job["status"] == "failed" and job["error"]["error"] == "disgorge.policy_denied", job
    assert "ingest" in job["error"]["message"]
    assert team.client("ann").get(f"/api/v1/jobs/{queued.id}").json()["attempts"] == 0
    with team.cat.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assets")).scalar() == 0


def _redis() -> bool:
    import os
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        if os.environ.get("DISGORGE_REQUIRE_REDIS"):
            raise
        return False


@pytest.mark.skipif(not _redis(), reason="Redis is not running on 127.0.0.1:6379")
def test_team_mode_on_redis_a_killed_worker_is_taken_over_by_another(
    cat: disgorge.Catalog, world: disgorge.Catalog, tmp_path: Path
) -> None:
    """``serve --job-workers 0`` only queues; two ``disgorge worker`` processes run the jobs. SIGKILL the
    one running an execution: the other takes it over and finishes it, every target carried out once."""
    import os
    import subprocess

    from disgorge.jobs import Queue
    from tests.as_a_person import DISGORGE

    redis_url = "redis://127.0.0.1:6379/0"
    plan = bob_plan(world)
    tokens = _tokens(world)
    env = {
        **os.environ,
        "DISGORGE_HOME": "home",
        "DISGORGE_CATALOG": world.store.url,
        "DISGORGE_JOBS": redis_url,
        "DISGORGE_JOB_SWEEP_SECONDS": "1",
        PAUSE: "1.5",
    }
    server = LiveServer(
        tmp_path, catalog_url=world.store.url, DISGORGE_JOBS=redis_url, DISGORGE_JOB_WORKERS="0"
    )
    logs = [(tmp_path / f"worker{n}.log").open("w") for n in range(2)]
    workers = [
        subprocess.Popen([str(DISGORGE), "worker", "--workers", "1"], cwd=tmp_path, env=env, stderr=log)
        for log in logs
    ]
    c = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=30)
    try:
        r = c.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)})
        job_id = r.json()["id"]
        wait_for(c, job_id, lambda j: j["progress"]["done"] >= 1, 120)
        owner = world.store.jobs.get(job_id).lease_owner
        assert owner is not None
        holder = next(w for w in workers if f":{w.pid}:" in owner)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        job = wait_for(c, job_id, finished, 120)
        assert job["status"] == "done" and job["attempts"] == 2, job
        survivor = next(w for w in workers if w is not holder)
        assert f":{survivor.pid}:" not in owner and survivor.poll() is None
        assert all(s == "done" and a == 1 for s, a in target_attempts(world, plan))
        assert (tmp_path / "takedown.log").read_text().splitlines() == ["down"]
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=20) == 0
    finally:
        c.close()
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        for log in logs:
            log.close()
        server.stop()
        with Queue(world, redis_url) as q:
            q.huey.flush()


def test_sigterm_mid_job_hands_it_back_and_the_next_start_resumes_it(
    cat: disgorge.Catalog, world: disgorge.Catalog, tmp_path: Path
) -> None:
    plan = bob_plan(world)
    tokens = _tokens(world)
    first = LiveServer(tmp_path, catalog_url=world.store.url, **{PAUSE: "1.5"})
    with httpx.Client(
        base_url=first.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=30
    ) as c:
        r = c.post(f"/api/v1/erasures/{plan}/run", json={"statement": execute_statement(world, plan)})
        job_id = r.json()["id"]
        wait_for(c, job_id, lambda j: j["progress"]["done"] >= 1)
    assert first.stop(signal.SIGTERM) == 0
    handed_back = world.store.jobs.get(job_id)
    assert handed_back.status == "queued" and handed_back.lease_owner is None
    second = LiveServer(tmp_path, catalog_url=world.store.url)
    try:
        with httpx.Client(
            base_url=second.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=30
        ) as c:
            job = wait_for(c, job_id, finished, 120)
        assert job["status"] == "done" and job["attempts"] == 2, job
        assert all(s == "done" and a == 1 for s, a in target_attempts(world, plan))
    finally:
        second.stop()


def test_job_commands_as_a_person(tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from disgorge.jobs import JOB_KINDS, JobService, Runner
    from tests.as_a_person import dg
    from tests.conftest import claim

    work = tmp_path / "work"
    with disgorge.open(work / "home", identity=PEOPLE["ann"]) as ann:
        claim(ann, PEOPLE)
        ann.add_source("site", notice=b"n", uses=["essential.service"], categories=[])
        ann.add_storage_root(photos)
    body = {"path": str(photos), "source": "site", "subject_from": "parent-dir"}
    with disgorge.open(work / "home", identity=PEOPLE["eve"]) as eve:
        waiting = JobService(None).submit(eve, "ingest", body)
        failing = JobService(None).submit(eve, "ingest", body)
    with disgorge.open(work / "home", identity=PEOPLE["ann"]) as ann:
        ann.change_roster("roster.update", "eve", roles=["auditor"])
        assert Runner(ann, JOB_KINDS).run(failing.id) == "failed"
    eve_file = tmp_path / "eve.identity"
    PEOPLE["eve"].save(eve_file)
    monkeypatch.setenv("DISGORGE_IDENTITY", str(eve_file))
    listed = json.loads(dg(work, "job", "list", "--json").stdout)
    assert [j["id"] for j in listed] == [waiting.id, failing.id]
    r = dg(work, "job", "show", waiting.id)
    assert r.returncode == 0 and "queued" in r.stdout
    r = dg(work, "job", "show", failing.id)
    assert r.returncode == 1 and "failed" in r.stdout and "ingest" in r.stdout
    r = dg(work, "job", "cancel", waiting.id)
    assert r.returncode == 0 and "cancelled" in r.stdout
    assert dg(work, "job", "show", "nope").returncode == 2
    assert dg(work, "worker", "--workers", "0").returncode == 2
    r = dg(work, "worker", "--jobs", "amqp://127.0.0.1")
    assert r.returncode == 2 and "Redis" in r.stderr
    dan_file = tmp_path / "dan.identity"
    PEOPLE["dan"].save(dan_file)
    monkeypatch.setenv("DISGORGE_IDENTITY", str(dan_file))
    assert dg(work, "job", "show", waiting.id).returncode == 2  # someone else's job does not exist for dan
    assert json.loads(dg(work, "job", "list", "--json").stdout) == []

"""The REST surface as a team uses it, over a real ``disgorge serve``: an engineer's remote ingest
worker and training job, an admin's consent import, a requester's and approvers' signed erasure
statements, and an auditor's proofs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PEOPLE, accept_notices

from .conftest import Team
from .rest import photos, record, refused, signed


def _register(team: Team, tmp_path: Path) -> dict[str, list[Path]]:
    files = {"alice": photos(tmp_path / "w", "alice", 3, 100), "bob": photos(tmp_path / "w", "bob", 2, 200)}
    body = {"source": "site", "records": [record(p, s) for s, ps in files.items() for p in ps]}
    r = team.client("eve").post("/api/v1/assets/records", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["new_assets"] == 5 and r.json()["problems"] == []
    return files


def test_sources_records_and_datasets(team: Team, tmp_path: Path) -> None:
    eve, dan = team.client("eve"), team.client("dan")
    new = {
        "name": "forum",
        "notice": "we run a forum",
        "uses": ["essential.service"],
        "recipients": ["forum"],
    }
    r = eve.post("/api/v1/sources", json=new)
    assert r.status_code == 200 and r.json()["changed"] and r.json()["notice_version"] == 1
    assert eve.post("/api/v1/sources", json=new).json()["changed"] is False
    r = eve.post("/api/v1/sources/forum/notices", json={"notice": "we run a forum, v2"})
    assert r.json()["notice_version"] == 2 and r.json()["uses"] == ["essential.service"]
    assert dan.get("/api/v1/sources/forum").json()["notice_version"] == 2
    refused(dan.post("/api/v1/sources", json=new), 403, "dan", "source.write")
    refused(dan.get("/api/v1/sources/nowhere"), 404, "nowhere")

    files = _register(team, tmp_path)
    again = team.client("eve").post(
        "/api/v1/assets/records", json={"source": "site", "records": [record(files["alice"][0], "bob")]}
    )
    assert again.json()["problems"][0]["code"] == "subject_conflict"
    twice = {"source": "site", "records": [record(files["bob"][0], "bob")] * 2}
    refused(eve.post("/api/v1/assets/records", json=twice), 400, "twice")
    refused(eve.post("/api/v1/assets/records", json={"source": "site", "records": []}), 400, "records")

    r = eve.post("/api/v1/datasets", json={"name": "faces", "source": "site"})
    assert r.status_code == 200 and r.json()["member_count"] == 5 and r.json()["ref"] == "faces@1"
    shas = [record(p, None)["sha256"] for p in files["bob"]]
    r = eve.post("/api/v1/datasets", json={"name": "bobs", "manifest": shas})
    assert r.json()["member_count"] == 2
    refused(
        eve.post("/api/v1/datasets", json={"name": "x", "source": "site", "from": "faces"}),
        400,
        "exactly one",
    )
    assert sorted(d["ref"] for d in dan.get("/api/v1/datasets").json()["items"]) == ["bobs@1", "faces@1"]
    assert dan.get("/api/v1/datasets/faces@1").json()["stats"]["subject_count"] == 2

    impact = dan.get("/api/v1/impact", params={"kind": "subject", "value": "alice"}).json()
    assert impact["counts"]["assets"] == 3 and impact["datasets"][0]["ref"] == "faces@1"


def test_a_gated_run_reports_inputs_and_outputs(team: Team, tmp_path: Path) -> None:
    _register(team, tmp_path)
    eve, ann, dan = team.client("eve"), team.client("ann"), team.client("dan")
    eve.post("/api/v1/datasets", json={"name": "faces", "source": "site"}).raise_for_status()

    r = eve.post(
        "/api/v1/runs",
        json={"name": "ads", "use": "marketing.advertising", "party": "site", "inputs": ["dataset:faces"]},
    )
    body = refused(r, 403, "refused before any data was read")
    assert body["details"]["decision"]["denied"] == 5 and body["details"]["decision"]["violations"]

    run = {"name": "svc", "use": "essential.service", "party": "site", "inputs": ["dataset:faces@1"]}
    r = eve.post("/api/v1/runs", json=run)
    assert r.status_code == 200, r.text
    started = r.json()
    assert (
        started["status"] == "running" and started["decision"]["ok"] and started["decision"]["allowed"] == 5
    )
    uid = started["uid"]
    assert eve.post(f"/api/v1/runs/{uid}/inputs", json={"datasets": ["faces"]}).json()["datasets"] == [
        "faces@1"
    ]
    out = {"kind": "model", "uri": "s3://models/svc.pt", "sha256": "ab" * 32, "size": 10, "name": "svc"}
    r = eve.post(f"/api/v1/runs/{uid}/outputs", json=out)
    assert r.status_code == 200 and r.json()["run_id"] == started["id"], r.text
    refused(eve.post(f"/api/v1/runs/{uid}/outputs", json={**out, "relation": "stolen_from"}), 400, "relation")
    assert eve.post(f"/api/v1/runs/{uid}/finish", json={}).json()["status"] == "finished"
    refused(eve.post(f"/api/v1/runs/{uid}/outputs", json=out), 400, "finished")
    refused(eve.post(f"/api/v1/runs/{uid}/finish", json={}), 400, "already")

    assert [m["name"] for m in dan.get("/api/v1/models").json()["items"]] == ["svc"]
    bom = dan.get("/api/v1/models/svc/lineage").json()
    assert bom["asset_count"] == 5 and bom["subject_count"] == 2
    r = eve.post("/api/v1/models/svc/deployments", json={"target": "prod"})
    assert r.json()["state"] == "live"
    refused(eve.post("/api/v1/models/svc/deployments", json={"target": "x", "hook": "rm -rf /"}), 403, "hook")
    assert (
        ann.post("/api/v1/models/svc/deployments", json={"target": "x", "hook": "true"}).json()["hook"]
        == "true"
    )
    assert len(dan.get("/api/v1/models/svc/deployments").json()["items"]) == 2
    impact = dan.get("/api/v1/impact", params={"kind": "subject", "value": "bob"}).json()
    assert [m["name"] for m in impact["models"]] == ["svc"]

    csv = "subject_id,use,recipient,action,timestamp,notice_version\nalice,essential.service,site,withdrawn,2024-01-01T00:00:00Z,\n"
    r = ann.post("/api/v1/consent", content=csv, headers={"Content-Type": "text/csv"})
    assert r.json() == {"imported": 1, "new_file": True}
    assert (
        ann.post("/api/v1/consent", content=csv, headers={"Content-Type": "text/csv"}).json()["new_file"]
        is False
    )
    refused(ann.post("/api/v1/consent", content="a,b\n1,2\n"), 400, "header")
    refused(eve.post("/api/v1/consent", content=csv), 403, "consent.import")
    check = dan.post(
        "/api/v1/check", json={"datasets": ["faces"], "use": "essential.service", "recipient": "site"}
    )
    assert check.json()["ok"] is False and check.json()["denied"] == 3


def _plan(team: Team, subject: str) -> tuple[str, dict[str, object]]:
    r = team.client("ann").post(
        "/api/v1/erasures",
        json={"scope": "subject", "value": subject, "reason": "art. 17", "legal_basis": "GDPR 17(1)(b)"},
    )
    assert r.status_code == 200, r.text
    return r.json()["plan"]["plan_id"], r.json()["to_sign"]


def test_erasure_statements_are_the_signers_own(team: Team, tmp_path: Path) -> None:
    _register(team, tmp_path)
    ann, bea, cy, eve = (team.client(w) for w in ("ann", "bea", "cy", "eve"))
    plan, to_sign = _plan(team, "alice")
    assert to_sign["kind"] == "erasure.request" and to_sign["about"] == plan
    unsigned = ann.get(f"/api/v1/erasures/{plan}").json()
    assert unsigned["requester"] is None and "no signed request" in unsigned["authorization"]["error"]
    refused(
        ann.post(f"/api/v1/erasures/{plan}/request", json=signed(PEOPLE["eve"], to_sign)),
        403,
        "signed as 'eve'",
    )
    r = ann.post(f"/api/v1/erasures/{plan}/request", json=signed(PEOPLE["ann"], to_sign))
    assert r.status_code == 200 and r.json()["requester"] == "ann", r.text

    template = bea.get(f"/api/v1/erasures/{plan}/statement", params={"kind": "erasure.approve"}).json()
    by_bea = signed(PEOPLE["bea"], template)
    as_bea_by_eve = signed(PEOPLE["eve"], template)
    as_bea_by_eve["statement"]["principal"] = "bea"
    refused(cy.post(f"/api/v1/erasures/{plan}/approvals", json=as_bea_by_eve), 403, "signed as 'bea'", "'cy'")
    refused(bea.post(f"/api/v1/erasures/{plan}/approvals", json=as_bea_by_eve), 403, "signed as 'bea'")
    forged = {**by_bea, "signature": signed(PEOPLE["eve"], template)["signature"]}
    refused(bea.post(f"/api/v1/erasures/{plan}/approvals", json=forged), 403, "does not verify")
    refused(cy.post(f"/api/v1/erasures/{plan}/approvals", json=by_bea), 403, "you act as 'cy'")
    refused(
        eve.post(f"/api/v1/erasures/{plan}/approvals", json=signed(PEOPLE["eve"], template)),
        403,
        "erase.approve",
    )
    own = ann.get(f"/api/v1/erasures/{plan}/statement", params={"kind": "erasure.approve"}).json()
    refused(ann.post(f"/api/v1/erasures/{plan}/approvals", json=signed(PEOPLE["ann"], own)), 403, "requester")
    assert ann.get(f"/api/v1/erasures/{plan}").json()["approvers"] == []

    r = bea.post(f"/api/v1/erasures/{plan}/approvals", json=by_bea)
    assert r.status_code == 200 and r.json()["approvers"] == ["bea"] and r.json()["status"] == "approved", (
        r.text
    )
    assert bea.post(f"/api/v1/erasures/{plan}/approvals", json=by_bea).json()["approvers"] == ["bea"]

    other, other_sign = _plan(team, "bob")
    ann.post(f"/api/v1/erasures/{other}/request", json=signed(PEOPLE["ann"], other_sign)).raise_for_status()
    refused(bea.post(f"/api/v1/erasures/{other}/approvals", json=by_bea), 403, "another plan")
    wrong_kind = signed(PEOPLE["bea"], {**template, "about": other, "kind": "erasure.request"})
    refused(bea.post(f"/api/v1/erasures/{other}/approvals", json=wrong_kind), 400, "erasure.approve")
    assert ann.get(f"/api/v1/erasures/{other}").json()["approvers"] == []
    listed = team.client("dan").get("/api/v1/erasures").json()["items"]
    assert {p["plan_id"] for p in listed} == {plan, other}


def test_certificate_and_ledger_proofs(team: Team, tmp_path: Path) -> None:
    _register(team, tmp_path)
    ann, bea, dan = team.client("ann"), team.client("bea"), team.client("dan")
    plan, to_sign = _plan(team, "bob")
    ann.post(f"/api/v1/erasures/{plan}/request", json=signed(PEOPLE["ann"], to_sign)).raise_for_status()
    template = bea.get(f"/api/v1/erasures/{plan}/statement", params={"kind": "erasure.approve"}).json()
    bea.post(f"/api/v1/erasures/{plan}/approvals", json=signed(PEOPLE["bea"], template)).raise_for_status()
    refused(dan.get(f"/api/v1/erasures/{plan}/certificate"), 400, "is approved")

    # execution and verification are the job runner's; here ann runs them locally, as the CLI would
    team.cat.add_storage_root(tmp_path / "w")
    accept_notices(team.cat, "site")
    team.cat.erasures.run(plan, dry_run=False)
    team.cat.erasures.verify(plan)
    cert = dan.get(f"/api/v1/erasures/{plan}/certificate")
    assert cert.status_code == 200, cert.text
    assert cert.json()["format"].startswith("disgorge-certificate")
    html = dan.get(f"/api/v1/erasures/{plan}/certificate", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    refused(team.client("eve").get(f"/api/v1/erasures/{plan}/certificate"), 403, "erase.certificate")

    first = dan.post("/api/v1/ledger/checkpoints").json()
    assert dan.get("/api/v1/ledger/checkpoint").json()["size"] == first["size"]
    proof = dan.get("/api/v1/ledger/proofs/inclusion", params={"index": 0}).json()
    assert proof["tree_size"] == first["size"] and proof["proof"]
    refused(dan.get("/api/v1/ledger/proofs/inclusion", params={"index": first["size"]}), 400, "not yet")
    ann.post("/api/v1/sources", json={"name": "more", "notice": "n", "uses": ["essential.service"]})
    later = dan.post("/api/v1/ledger/checkpoints").json()
    assert later["size"] > first["size"]
    c = dan.get("/api/v1/ledger/proofs/consistency", params={"old": first["size"]}).json()
    assert c["old_root"] == first["root"] and c["new_root"] == later["root"] and c["proof"]
    _verify_consistency(c)
    refused(dan.get("/api/v1/ledger/proofs/consistency", params={"old": later["size"] + 1}), 400, "sizes")


def _verify_consistency(c: dict[str, object]) -> None:
    import base64

    from disgorge.ledger.merkle import verify_consistency

    proof = [base64.b64decode(p) for p in c["proof"]]  # type: ignore[attr-defined]
    verify_consistency(
        c["old_size"],
        c["new_size"],
        bytes.fromhex(c["old_root"]),
        bytes.fromhex(c["new_root"]),
        proof,  # type: ignore[arg-type]
    )


def test_a_json_body_sent_as_a_form_says_how_to_send_it(team: Team) -> None:
    """``curl -d '{…}'`` labels the body as a form; the answer names the header to send instead."""
    body = '{"name": "site", "notice": "hello", "uses": ["essential.service"]}'
    ann = team.client("ann")
    r = ann.post(
        "/api/v1/sources", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    err = refused(r, 400, "not valid")
    assert "Content-Type: application/json" in err["hint"] and "x-www-form-urlencoded" in err["hint"]
    r = ann.post("/api/v1/sources", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    r = ann.post("/api/v1/sources", json={"name": "site"})
    assert "Content-Type" not in refused(r, 400, "uses")["hint"]

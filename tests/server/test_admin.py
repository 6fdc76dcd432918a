"""An admin's routes as an insider would try them: a roster or channel statement signed by one admin
and sent with another's token, replayed, or a template a server bent before the admin signed it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from disgorge.client.admin import AdminClient
from disgorge.errors import VerificationFailed
from disgorge.model.roles import Principal
from disgorge.trust import Identity
from tests.conftest import PEOPLE

from .conftest import Team
from .rest import refused, signed

ZED = Identity.generate("zed")
FAY = Identity.generate("fay")


def test_a_roster_change_is_signed_by_the_admin_who_sends_it(team: Team) -> None:
    team.cat.change_roster("roster.add", "zed", key=ZED.public_key, roles=["admin"])
    from disgorge.access.tokens import TokenService

    _, team.tokens["zed"] = TokenService(team.cat.store).issue(team.cat.principal, "t", principal="zed")
    ann, zed, eve = team.client("ann"), team.client("zed"), team.client("eve")
    params = {"kind": "roster.add", "name": "fay", "key": FAY.public_key, "role": ["engineer"]}
    refused(eve.get("/api/v1/principals/statement", params=params), 403, "roster.write")
    tpl = ann.get("/api/v1/principals/statement", params=params).json()
    assert tpl["about"] == "fay" and tpl["body"]["roles"] == ["engineer"] and "prev" in tpl["body"]
    by_ann = signed(PEOPLE["ann"], tpl)
    refused(zed.post("/api/v1/principals", json=by_ann), 403, "signed as 'ann'")
    refused(eve.post("/api/v1/principals", json=by_ann), 403)
    r = ann.post("/api/v1/principals", json=by_ann)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["engineer"] and r.json()["added_by"] == "ann"
    refused(ann.post("/api/v1/principals", json=by_ann), 422, "does not follow the roster")
    forged = {**by_ann, "statement": {**by_ann["statement"], "body": {**tpl["body"], "roles": ["admin"]}}}
    refused(ann.post("/api/v1/principals", json=forged), 422)
    members = {m["name"]: m for m in team.client("dan").get("/api/v1/principals").json()}
    assert members["fay"]["roles"] == ["engineer"]


def test_a_recipient_channel_is_signed_by_an_admin(team: Team) -> None:
    ann, eve = team.client("ann"), team.client("eve")
    params = {"party": "acme", "webhook": "https://acme.example/notices"}
    refused(ann.get("/api/v1/recipients/statement", params={"party": "acme"}), 400, "exactly one")
    refused(ann.get("/api/v1/recipients/statement", params={**params, "webhook": "ftp://x"}), 400)
    tpl = ann.get("/api/v1/recipients/statement", params=params).json()
    by_ann = signed(PEOPLE["ann"], tpl)
    refused(eve.post("/api/v1/recipients", json=by_ann), 403)
    r = ann.post("/api/v1/recipients", json=by_ann)
    assert r.status_code == 200, r.text
    listed = team.client("dan").get("/api/v1/recipients").json()
    assert [(b["party"], b["set_by"]) for b in listed["recipients"]] == [("acme", "ann")]


def test_settings_refuse_bad_input_and_keep_what_was_there(team: Team, tmp_path: Path) -> None:
    ann = team.client("ann")
    before = ann.get("/api/v1/policy").json()
    refused(ann.put("/api/v1/policy", json={"text": "uses: [", "origin": "bad"}), 400)
    assert ann.get("/api/v1/policy").json() == before
    refused(team.client("eve").put("/api/v1/policy", json={"text": before["text"]}), 403)
    refused(ann.post("/api/v1/storage/roots", json={"paths": ["photos"]}), 400, "absolute")
    refused(ann.post("/api/v1/storage/roots", json={"paths": [str(tmp_path / "nope")]}), 400, "not a folder")
    got = ann.post("/api/v1/storage/roots", json={"paths": [str(tmp_path)]}).json()
    assert str(tmp_path.resolve()) in got["roots"]
    assert ann.get("/api/v1/storage/roots").json() == got
    refused(ann.post("/api/v1/ledger/witnesses", json={"url": "https://w.example", "key": "garbage"}), 400)
    assert ann.get("/api/v1/ledger/witnesses").json() == {"witnesses": []}


class _BentServer(AdminClient):
    """A server that answers a roster template with a role the admin did not ask for."""

    def __init__(self, bend: dict[str, Any]) -> None:
        self.bend, self.posted = bend, False

    @property
    def principal(self) -> Principal:
        return Principal("ann", frozenset({"admin"}), PEOPLE["ann"].public_key)

    @property
    def identity(self) -> Identity:
        return PEOPLE["ann"]

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":
            self.posted = True
            return {}
        tpl = {
            "format": "disgorge-statement/1",
            "kind": "roster.add",
            "catalog": "c" * 64,
            "about": "fay",
            "body": {"key": FAY.public_key, "roles": ["engineer"], "prev": "0" * 64},
        }
        return {**tpl, **self.bend, "body": {**tpl["body"], **self.bend.get("body", {})}}


@pytest.mark.parametrize(
    "bend",
    [
        {"body": {"roles": ["admin"]}},
        {"body": {"key": ZED.public_key}},
        {"about": "zed"},
        {"kind": "roster.update"},
        {"body": {"prev": None}},
        {"body": {"note": "and one more thing"}},
    ],
    ids=["role", "key", "about", "kind", "no-prev", "extra"],
)
def test_the_client_signs_only_what_was_asked(bend: dict[str, Any]) -> None:
    bent = _BentServer(bend)
    with pytest.raises(VerificationFailed, match="not what was asked"):
        bent.change_roster("roster.add", "fay", key=FAY.public_key, roles=["engineer"])
    assert not bent.posted
    honest = _BentServer({})
    honest.change_roster("roster.add", "fay", key=FAY.public_key, roles=["engineer"])
    assert honest.posted


def test_s3_credentials_travel_only_as_variable_names(team: Team) -> None:
    from disgorge.client import RemoteCatalog
    from disgorge.errors import UsageError

    ann = team.client("ann")
    body = {"endpoint_url": "http://127.0.0.1:9", "secret_access_key": "hunter2"}
    refused(ann.put("/api/v1/storage/s3", json=body), 400, "secret_access_key")
    with RemoteCatalog(team.url, team.tokens["ann"], identity=PEOPLE["ann"]) as remote:
        with pytest.raises(UsageError, match="credentials in clear"):
            remote.set_s3({"endpoint_url": "http://127.0.0.1:9", "secret_access_key": "hunter2"})
        shown = remote.set_s3({"endpoint_url": "http://127.0.0.1:9", "secret_access_key_env": "SK"})
    assert shown == {"endpoint_url": "http://127.0.0.1:9", "secret_access_key_env": "SK"}
    from disgorge.shared import STORAGE

    assert "hunter2" not in str(team.cat.store.settings.get(STORAGE))


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "weird"},
        {"uid": ""},
        {"uid": "u" * 37},
        {"source": "openlineage"},
        {"name": "x" * 201},
        {"use": ""},
        {"inputs": [{"namespace": "n", "name": "n", "uri": "file:///a\x00b"}]},
        {"outputs": [{"namespace": "n", "name": "n", "uri": "s3://b/k", "is_model": True, "size": -1}]},
        {"outputs": [{"namespace": "n", "name": "n", "uri": "s3://b/k", "relation": "stole_from"}]},
        {"extra": 1},
    ],
)
def test_captured_runs_are_checked_against_the_catalog_columns(team: Team, bad: dict[str, Any]) -> None:
    """What ``import mlflow`` sends is refused (400, nothing recorded) unless each field fits where it goes."""
    run = {
        "uid": "0123456789abcdef0123456789abcdef",
        "source": "mlflow",
        "producer": "mlflow",
        "name": "mlflow/train",
        "status": "finished",
        "use": "train_ai_system",
        "party": "acme",
    }
    eve = team.client("eve")
    refused(
        eve.post("/api/v1/capture/runs", json={"origin": "t", "runs": [{**run, **bad}]}), 400, "not valid"
    )
    r = eve.post("/api/v1/capture/runs", json={"origin": "t", "runs": [run]})
    assert r.status_code == 200 and r.json()["new_runs"] == 1, r.text

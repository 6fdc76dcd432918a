"""``disgorge serve`` as a team runs it: tokens, roles, JSON errors, the access log, metrics, shutdown."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

import disgorge
from disgorge.access.tokens import TokenService, parse_expiry
from disgorge.errors import UsageError
from tests.as_a_person import dg
from tests.conftest import PEOPLE, as_, claim

from .conftest import Team


def test_a_token_acts_as_its_principal_with_its_roles(team: Team) -> None:
    body = team.client("eve").get("/api/v1/whoami").json()
    assert body == {"name": "eve", "roles": ["engineer"], "key": PEOPLE["eve"].public_key}
    assert team.client("bea").get("/api/v1/whoami").json()["roles"] == ["approver", "auditor"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Basic YW5uOmFubg==", "Bearer dgt_0123456789abcdef_" + "A" * 43],
    ids=["none", "empty", "garbage", "basic", "unknown-id"],
)
def test_without_a_valid_token_the_answer_is_401_json(team: Team, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = team.client().get("/api/v1/whoami", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "disgorge.unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_forged_secret_for_a_real_token_id_is_refused(team: Team) -> None:
    token_id = team.tokens["eve"].split("_")[1]
    forged = f"dgt_{token_id}_{'x' * 43}"
    r = team.client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_only_a_hash_is_stored_and_the_ledger_never_sees_the_secret(team: Team) -> None:
    secret = team.tokens["eve"].split("_", 2)[2]  # dgt_ID_SECRET; the urlsafe secret may hold "_" itself
    with team.cat.store.engine.connect() as c:
        hashes = [row[0] for row in c.execute(text("SELECT secret_hash FROM api_tokens"))]
        ledger = "\n".join(row[0] for row in c.execute(text("SELECT entry FROM ledger_entries")))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert secret not in "".join(hashes) and secret not in ledger
    assert '"kind":"token.issued"' in ledger


def test_a_revoked_token_and_a_revoked_member_are_refused(team: Team) -> None:
    eve, dan = team.client("eve"), team.client("dan")
    assert eve.get("/api/v1/whoami").status_code == 200
    service = TokenService(team.cat.store)
    eve_token = team.tokens["eve"].split("_")[1]
    service.revoke(team.cat.principal, eve_token)
    assert _eventually(lambda: eve.get("/api/v1/whoami").status_code == 401)
    assert dan.get("/api/v1/whoami").status_code == 200
    team.cat.change_roster("roster.revoke", "dan")
    assert _eventually(lambda: dan.get("/api/v1/whoami").status_code == 401)


def test_an_expired_token_is_refused(team: Team) -> None:
    row, token = TokenService(team.cat.store).issue(
        team.cat.principal, "short", principal="eve", expires="1h"
    )
    with team.cat.store.engine.begin() as c:
        c.execute(
            text("UPDATE api_tokens SET expires_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "i": row.id},
        )
    r = team.client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json()["message"]


def test_bad_input_is_400_with_the_disgorge_error_shape(team: Team) -> None:
    r = team.client("eve").get("/api/v1/impact", params={"kind": "planet", "value": "x"})
    assert r.status_code == 400
    assert r.json()["error"] == "disgorge.usage" and "kind" in r.json()["message"]
    r = team.client("eve").get("/api/v1/sources", params={"cursor": "'; drop table"})
    assert r.status_code == 400
    r = team.client("eve").get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"] == "disgorge.not_found"


def test_lists_paginate(team: Team) -> None:
    for n in range(3):
        team.cat.add_source(
            f"extra{n}",
            notice=f"notice {n}".encode(),
            uses=["essential.service"],
            recipients=[],
            categories=[],
        )
    c = team.client("dan")
    first = c.get("/api/v1/sources", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"]
    names = [s["name"] for s in first["items"]]
    cursor = first["next"]
    while cursor:
        page = c.get("/api/v1/sources", params={"limit": 2, "cursor": cursor}).json()
        names += [s["name"] for s in page["items"]]
        cursor = page["next"]
    assert names == sorted(["site", "extra0", "extra1", "extra2"])


def test_one_json_access_line_per_request_without_secrets_or_values(team: Team) -> None:
    c = team.client("eve")
    c.get("/api/v1/whoami")
    c.get("/api/v1/impact", params={"kind": "subject", "value": "alice-secret-id"})
    team.client().get("/api/v1/whoami")
    assert team.server.stop() == 0
    lines = [json.loads(line) for line in team.server.log_lines() if line.startswith("{")]
    seen = [(x["principal"], x["endpoint"], x["status"]) for x in lines if x["endpoint"] != "/healthz"]
    assert ("eve", "/api/v1/whoami", 200) in seen
    assert (None, "/api/v1/whoami", 401) in seen
    assert any(e == "/api/v1/impact" for _, e, _ in seen)
    assert all({"at", "method", "ms"} <= x.keys() for x in lines)
    logged = team.server.log.read_text()
    assert "alice-secret-id" not in logged and team.tokens["eve"] not in logged


def test_health_metrics_and_openapi_need_no_token(team: Team) -> None:
    c = team.client()
    health = c.get("/healthz").json()
    assert health["status"] == "ok" and health["caches"] in ("warming", "warm")
    deadline = time.monotonic() + 30  # the caches built as the server starts, in the background
    while c.get("/healthz").json()["caches"] != "warm":
        assert time.monotonic() < deadline, "the server's caches were never warm"
        time.sleep(0.05)
    c.get("/api/v1/whoami")
    assert "disgorge_http_requests_total" in c.get("/metrics").text
    spec = c.get("/openapi.json").json()
    assert "/api/v1/whoami" in spec["paths"] and spec["components"]["securitySchemes"]


def test_sigterm_stops_gracefully(team: Team) -> None:
    assert team.server.stop(signal.SIGTERM) == 0


def test_serve_refuses_a_public_address_without_tls(tmp_path: Path) -> None:
    r = dg(tmp_path, "serve", "--host", "0.0.0.0")
    assert r.returncode == 2 and "TLS" in r.stderr and "--insecure" in r.stderr
    r = dg(tmp_path, "serve", "--tls-cert", "nope.pem")
    assert r.returncode == 2 and "together" in r.stderr
    assert dg(tmp_path, "serve", "--port", "0").returncode == 2


def _identity_file(tmp_path: Path, who: str) -> Path:
    path = tmp_path / f"{who}.identity"
    PEOPLE[who].save(path)
    return path


def test_token_commands_as_a_person(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    with disgorge.open(work / "home", identity=PEOPLE["ann"]) as c:
        claim(c, PEOPLE)
    monkeypatch.setenv("DISGORGE_IDENTITY", str(_identity_file(tmp_path, "eve")))
    r = dg(work, "token", "create", "--name", "laptop", "--expires", "30d")
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    assert secret.startswith("dgt_") and "shown once" in r.stderr
    listed = dg(work, "token", "list", "--json")
    assert secret not in listed.stdout and "laptop" in listed.stdout
    r = dg(work, "token", "create", "--name", "x", "--for", "ann")
    assert r.returncode == 1 and "admin" in r.stderr
    r = dg(work, "token", "create", "--name", "x", "--expires", "soon")
    assert r.returncode == 2 and "--expires" in r.stderr
    token_id = secret.split("_")[1]
    assert dg(work, "token", "revoke", token_id).returncode == 0
    assert dg(work, "token", "revoke", "nope").returncode == 2


def test_tokens_need_a_roster_member(tmp_path: Path) -> None:
    r = dg(tmp_path, "token", "create", "--name", "x")
    assert r.returncode == 1 and "disgorge init" in r.stderr


def test_a_second_process_sees_tokens_issued_by_the_first(cat: disgorge.Catalog) -> None:
    _, token = TokenService(cat.store).issue(cat.principal, "ci", principal="dan")
    with as_(cat, "bea") as other:
        assert TokenService(other.store).authenticate(token).name == "dan"


@pytest.mark.parametrize("text_", ["0d", "-1d", "yesterday", "2001-01-01"])
def test_expiry_must_be_in_the_future(text_: str) -> None:
    with pytest.raises(UsageError):
        parse_expiry(text_)


def _eventually(check: object, seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_argon2_runs_once_per_token_and_every_later_check_still_reads_the_row(
    cat: disgorge.Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cache, a known token costs two reads, not argon2; a changed hash, a forged secret and a
    revocation are still caught."""
    from argon2 import PasswordHasher

    from disgorge.access import tokens
    from disgorge.errors import Unauthenticated

    calls = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(tokens, "_hasher", Counting)
    service = TokenService(cat.store, cache_seconds=0)
    row, token = service.issue(cat.principal, "ci", principal="dan")
    for _ in range(3):
        assert service.authenticate(token).name == "dan"
    assert len(calls) == 1
    with pytest.raises(Unauthenticated):
        service.authenticate(f"dgt_{row.id}_{'x' * 43}")
    _, other = service.issue(cat.principal, "other", principal="dan")
    with cat.store.engine.begin() as c:  # someone puts another token's hash on this row
        swapped = c.execute(
            text("SELECT secret_hash FROM api_tokens WHERE id = :i"), {"i": other.split("_")[1]}
        )
        c.execute(
            text("UPDATE api_tokens SET secret_hash = :h WHERE id = :i"),
            {"h": swapped.scalar_one(), "i": row.id},
        )
    with pytest.raises(Unauthenticated, match="unknown"):
        service.authenticate(token)
    assert len(calls) == 3
    assert service.authenticate(other).name == "dan"
    service.revoke(cat.principal, other.split("_")[1])
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate(other)

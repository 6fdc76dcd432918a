"""schemathesis against the live server's ``/openapi.json``, with a token of each role: no 500 and no
response that violates the schema. Bounded (a few examples per operation, fixed seed) to stay quick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import disgorge
from disgorge.access.tokens import TokenService

from .conftest import LiveServer

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ROLE_OF = {"ann": "admin", "eve": "engineer", "bea": "approver", "dan": "auditor"}


@pytest.mark.slow
def test_no_server_error_and_no_schema_violation_for_any_role(cat: disgorge.Catalog, tmp_path: Path) -> None:
    service = TokenService(cat.store)
    tokens = {who: service.issue(cat.principal, "schemathesis", principal=who)[1] for who in ROLE_OF}
    server = LiveServer(tmp_path, catalog_url=cat.store.url, DISGORGE_TOKEN_CACHE_SECONDS="600")
    try:
        failures = _run(server.url, tokens, tmp_path)
    finally:
        server.stop()
    assert not failures, "\n".join(failures)


def _run(url: str, tokens: dict[str, str], tmp_path: Path) -> list[str]:
    failures = []
    for who in ROLE_OF:
        r = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "2",
                "--seed",
                "11",
                "--no-shrink",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--suppress-health-check",
                "all",
                "--exclude-path",
                "/api/v1/lookup",
                "-H",
                f"Authorization: Bearer {tokens[who]}",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        print(f"--- as {who}:", r.stdout[-1500:])
        if "API probing" not in r.stdout and "Fuzzing" not in r.stdout:
            failures.append(f"--- as {who}: schemathesis did not test anything\n{r.stdout[-3000:]}")
        if r.returncode != 0:
            failures.append(
                f"--- as {who} ({ROLE_OF[who]}): exit {r.returncode}\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
            )
    return failures

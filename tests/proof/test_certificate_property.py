"""The certificate builder never produces what its own validator rejects: certificates are issued from
generated catalogs (unnamed models, no recipients, no deployments, Delta rows only, …) and each one is
verified offline with the home's public key."""

from __future__ import annotations

import hashlib
import itertools
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import disgorge
from disgorge.certificate import verify_any
from disgorge.ledger.certificate import dump_certificate
from disgorge.model import AssetRecord
from tests.conftest import PEOPLE, accept_notices, approve, claim

_COUNTER = itertools.count()


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, object]:
    return {
        "assets": draw(st.integers(1, 4)),
        "delta_only": draw(st.booleans()),
        "models": draw(st.lists(st.sampled_from(["named", "unnamed"]), max_size=3)),
        "recipient": draw(st.booleans()),
        "deployed": draw(st.booleans()),
        "artifact": draw(st.booleans()),
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_every_issued_certificate_verifies(tmp_path: Path, world: dict[str, object]) -> None:
    base = tmp_path / f"w{next(_COUNTER)}"
    data, table = base / "data", base / "data" / "table"
    data.mkdir(parents=True)
    records, shas = [], []
    for i in range(int(world["assets"])):  # type: ignore[call-overload]
        body = f"asset {i} of {base.name}".encode()
        sha = hashlib.sha256(body).hexdigest()
        shas.append(sha)
        uris = [(f"delta://{table}#asset_sha256={sha}", 0, 0)]
        if not world["delta_only"]:
            p = data / f"{i}.bin"
            p.write_bytes(body)
            uris.append((p.as_uri(), p.stat().st_mtime_ns, p.stat().st_ino))
        records += [
            AssetRecord(sha, len(body), "application/octet-stream", u, m, n, subject="victim")
            for u, m, n in uris
        ]
    write_deltalake(str(table), pa.table({"asset_sha256": shas}))
    with disgorge.open(base / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        src, _ = cat.add_source("s", notice=b"n", uses=["essential.service"])
        cat.store.register(records, source_id=src.id, notice_id=src.notice_id)
        cat.create_dataset("d", source="s")
        cat.add_storage_root(data)
        party = "acme" if world["recipient"] else "s"
        previous: str | None = None
        for k, naming in enumerate(world["models"]):  # type: ignore[attr-defined]
            weights = data / f"m{k}.bin"
            weights.write_bytes(f"weights {k} {base.name}".encode())
            inputs = ["dataset:d"] if previous is None else [f"model:{previous}"]
            with cat.run(f"r{k}", use="train_ai_system", party=party, inputs=inputs, enforce=False) as run:
                art = run.log_model(
                    weights,
                    name=f"model-{k}" if naming == "named" else None,
                    parents=[] if previous is None else [previous],
                )
                if world["artifact"] and k == 0:
                    emb = data / "emb.npy"
                    emb.write_bytes(b"embedding")
                    run.log_artifact(emb, kind="embedding", derived_from=["dataset:d"])
            previous = art.sha256
        accept_notices(cat, party)
        if world["deployed"] and previous is not None:
            cat.deploy(previous, target="https://x.example/v1", hook=f"{sys.executable} -c pass")
        plan, _ = cat.erasures.plan(scope=("subject", "victim"), withdrawn=False, reason="r", legal_basis="b")
        approve(cat, plan.id)
        assert cat.erasures.run(plan.id, dry_run=False).status == "done"
        assert cat.erasures.verify(plan.id, roots=[str(data)]).clean
        doc = cat.certificate(plan.id)
        check = verify_any(dump_certificate(doc), [cat.proofs.identity.public_key()], require_scan=True)
    assert check.plan_id == plan.id
    assert doc["counts"]["models"] == len(world["models"])  # type: ignore[arg-type]
    assert doc["counts"]["assets"] == world["assets"]

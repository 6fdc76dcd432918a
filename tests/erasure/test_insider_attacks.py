"""Insider attacks on the proof, each a test named after it. The insider has full write access to the
catalog (SQL) and to the home's files and keys (the log key, the pseudonym key), but not to other
people's identities. Every attack ends in a refusal or a failed verification whose message names it,
and nothing is deleted that the signed plan does not list."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

import disgorge
from disgorge.catalog.schema import ErasurePlan, ErasureTarget, LedgerCheckpoint, LedgerEntry
from disgorge.certificate import v2, verify_any
from disgorge.errors import PolicyDenied, VerificationFailed
from disgorge.ledger.certificate import dump_certificate
from disgorge.ledger.merkle import leaf_hash
from disgorge.trust import Identity, sign
from tests.conftest import PEOPLE, approve, as_
from tests.erasure.conftest import tree_digest
from tests.witness.conftest import Server


def plan(cat: disgorge.Catalog, subject: str = "alice") -> str:
    p, _ = cat.erasures.plan(
        scope=("subject", subject), withdrawn=False, reason="request", legal_basis="GDPR 17"
    )
    return p.id


def statement(who: Identity, kind: str, cat: disgorge.Catalog, about: str, **body: object) -> object:
    """A statement signed by ``who``, against the catalog's current roster, appended straight to the
    ledger as an insider with SQL access could (no service checks it on the way in)."""
    from disgorge.access import roster

    r = roster(cat.store)
    signed = sign(
        who, kind, catalog=r.catalog, about=about, body={"roster": r.digest(), "prev": r.digest(), **body}
    )
    cat.store.statements.add(signed)
    return signed


def execute(cat: disgorge.Catalog, pid: str) -> object:
    return cat.erasures.run(pid, dry_run=False)


def nothing_deleted(tmp_path: Path, before: dict[str, str]) -> None:
    assert tree_digest(tmp_path) == before


# --- who approved ------------------------------------------------------------------------------------


def test_forged_approval_by_a_key_not_on_the_roster(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    statement(Identity.generate("bea"), "erasure.approve", world, pid)  # "bea", but not bea's key
    before = tree_digest(tmp_path)
    with pytest.raises(VerificationFailed, match=r"approval by 'bea': not on the roster with that key"):
        execute(world, pid)
    nothing_deleted(tmp_path, before)


def test_self_signed_approval_by_the_requester(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    statement(PEOPLE["ann"], "erasure.approve", world, pid)  # ann holds every role, approver included
    before = tree_digest(tmp_path)
    with pytest.raises(VerificationFailed, match="the requester cannot approve their own plan"):
        execute(world, pid)
    nothing_deleted(tmp_path, before)


def test_approval_replayed_from_another_plan(world: disgorge.Catalog, tmp_path: Path) -> None:
    other = plan(world, "bob")
    approve(world, other)
    real = world.store.statements.of_kinds(("erasure.approve",), about=other)[0][1]
    pid = plan(world)
    entry = {"statement": real.statement, "signature": real.signature}
    with world.store.session() as s:  # the same signed bytes, filed under the other plan
        world.store._log(s, "erasure.approve", {**entry, "statement": {**real.statement, "about": pid}})
    before = tree_digest(tmp_path)
    with pytest.raises(VerificationFailed, match=r"by 'bea': the signature does not verify"):
        execute(world, pid)
    nothing_deleted(tmp_path, before)


def test_approval_replayed_from_another_catalog(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    signed = sign(PEOPLE["bea"], "erasure.approve", catalog="another-catalog", about=pid, body={})
    world.store.statements.add(signed)
    with pytest.raises(VerificationFailed, match="made for another catalog"):
        execute(world, pid)


def test_approval_by_a_principal_without_the_approver_role(world: disgorge.Catalog) -> None:
    pid = plan(world)
    with as_(world, "eve") as eve, pytest.raises(PolicyDenied, match=r"'eve' may not erase\.approve"):
        eve.erasures.approve(pid)
    statement(PEOPLE["eve"], "erasure.approve", world, pid)  # straight into the ledger instead
    with pytest.raises(VerificationFailed, match="did not hold the approver role when signed"):
        execute(world, pid)


def test_approval_by_a_revoked_approver(world: disgorge.Catalog) -> None:
    pid = plan(world)
    world.change_roster("roster.revoke", "bea")
    with pytest.raises(PolicyDenied, match="'bea' is not an active member"):
        approve(world, pid)
    statement(PEOPLE["bea"], "erasure.approve", world, pid)
    with pytest.raises(VerificationFailed, match="not on the roster with that key when signed"):
        execute(world, pid)


def test_status_flipped_to_approved_in_sql(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    with world.store.session() as s:
        s.execute(update(ErasurePlan).where(ErasurePlan.id == pid).values(status="approved"))
    before = tree_digest(tmp_path)
    with pytest.raises(VerificationFailed, match="is not authorised: 0 of 1 required approvals"):
        execute(world, pid)
    nothing_deleted(tmp_path, before)
    assert world.erasures.show(pid)["approvers"] == []


def test_order_edited_in_sql_after_the_request(world: disgorge.Catalog) -> None:
    pid = plan(world)
    approve(world, pid)
    with world.store.session() as s:
        s.execute(update(ErasurePlan).where(ErasurePlan.id == pid).values(reason="routine cleanup"))
    with pytest.raises(VerificationFailed, match="differs from the one its requester signed"):
        execute(world, pid)


def test_targets_added_in_sql_after_approval(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    approve(world, pid)
    victim = tmp_path / "photos" / "bob" / "p0.jpg"
    with world.store.session() as s:
        s.execute(
            update(ErasureTarget)
            .where(ErasureTarget.plan_id == pid, ErasureTarget.seq == 3)
            .values(uri=victim.as_uri())
        )
    with pytest.raises(VerificationFailed, match="stored targets do not match its id"):
        execute(world, pid)
    assert victim.exists()


# --- the roster ---------------------------------------------------------------------------------------


def test_roster_change_by_a_non_admin(world: disgorge.Catalog) -> None:
    with as_(world, "eve") as eve, pytest.raises(PolicyDenied, match=r"'eve' may not roster\.write"):
        eve.change_roster(
            "roster.add", "mallory", key=Identity.generate("mallory").public_key, roles=["approver"]
        )
    mallory = Identity.generate("mallory")
    pid = plan(world)
    statement(PEOPLE["eve"], "roster.add", world, "mallory", key=mallory.public_key, roles=["approver"])
    statement(mallory, "erasure.approve", world, pid)
    with pytest.raises(VerificationFailed, match="is not an admin of the roster with that key"):
        execute(world, pid)


def test_roster_member_inserted_in_sql_with_a_forged_admin_key(world: disgorge.Catalog) -> None:
    fake_admin = Identity.generate("ann")  # the admin's name, another key
    mallory = Identity.generate("mallory")
    pid = plan(world)
    statement(fake_admin, "roster.add", world, "mallory", key=mallory.public_key, roles=["approver"])
    statement(mallory, "erasure.approve", world, pid)
    with pytest.raises(
        VerificationFailed, match=r"set aside: roster statement .* by 'ann'.* is not an admin"
    ):
        execute(world, pid)


def test_revocation_left_out_of_a_certificate(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    approve(world, pid)
    execute(world, pid)
    world.erasures.verify(pid, roots=[str(tmp_path / "photos")])
    doc = world.certificate(pid)
    key = world.proofs.identity
    entries = doc["ledger"]["entries"]
    roster_entries = [e for e in entries if e["role"] == "roster"]
    forged = {
        **doc,
        "ledger": {**doc["ledger"], "entries": [e for e in entries if e is not roster_entries[-1]]},
    }
    resigned = v2.sign(forged, key.private_key(), key.name)  # even re-signed with the home's own key
    with pytest.raises(
        VerificationFailed, match=r"roster statement is missing, reordered or replayed|another roster"
    ):
        verify_any(dump_certificate(resigned), [key.public_key()])


@pytest.mark.parametrize(
    ("lookalike", "why"),
    [
        ("Ann", "already on the roster"),
        ("ann ", "already on the roster"),
        ("ANN", "already on the roster"),
        ("ann\u0301", "looks like 'ann'"),
        ("ann\u200b", "invisible"),
        ("\u0430nn", "mixes scripts"),
    ],
)
def test_lookalike_names(world: disgorge.Catalog, lookalike: str, why: str) -> None:
    """Each is the name ann after normalisation, or refused: never a second person who looks like her."""
    with pytest.raises((disgorge.ConflictError, disgorge.InputError), match=why):
        world.change_roster(
            "roster.add", lookalike, key=Identity.generate("mallory").public_key, roles=["approver"]
        )


# --- the log and the certificate ---------------------------------------------------------------------


def _certify(world: disgorge.Catalog, tmp_path: Path, **kw: object) -> tuple[str, dict[str, object]]:
    pid = plan(world)
    approve(world, pid)
    execute(world, pid)
    world.erasures.verify(pid, roots=[str(tmp_path / "photos")])
    return pid, world.certificate(pid, **kw)


def test_certificate_assembled_from_another_plans_statements(world: disgorge.Catalog, tmp_path: Path) -> None:
    _, mine = _certify(world, tmp_path)
    other = plan(world, "bob")
    approve(world, other)
    execute(world, other)
    world.erasures.verify(other, roots=[str(tmp_path / "photos")])
    theirs = world.certificate(other)
    swapped = {
        **theirs,
        "ledger": {
            **theirs["ledger"],
            "entries": sorted(  # type: ignore[index]
                (
                    e
                    if e["role"] != "approval"
                    else next(x for x in mine["ledger"]["entries"] if x["role"] == "approval")  # type: ignore[index]
                    for e in theirs["ledger"]["entries"]  # type: ignore[index]
                ),
                key=lambda e: e["index"],
            ),
        },
    }
    key = world.proofs.identity
    with pytest.raises(VerificationFailed, match=r"taken from another plan|not proven"):
        verify_any(dump_certificate(v2.sign(swapped, key.private_key(), key.name)), [key.public_key()])


def test_journal_edited_after_the_execution(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    approve(world, pid)
    with world.store.session() as s:  # a target the run could not do is made to look done
        t = s.scalars(
            select(ErasureTarget).where(ErasureTarget.plan_id == pid, ErasureTarget.kind == "deployment")
        ).one()
        t.identity = {**t.identity, "hook": None}
    # (the identity edit alone already breaks the plan id)
    with pytest.raises(VerificationFailed, match="stored targets do not match its id"):
        execute(world, pid)


def test_certificate_with_a_flipped_journal(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid, _ = _certify(world, tmp_path)
    with world.store.session() as s:
        s.execute(
            update(ErasureTarget)
            .where(ErasureTarget.plan_id == pid, ErasureTarget.seq == 0)
            .values(state="skipped")
        )
    with pytest.raises(VerificationFailed, match="journal differs from the one its executor signed"):
        world.certificate(pid)


def test_ledger_rewritten_without_the_log_key(world: disgorge.Catalog, tmp_path: Path) -> None:
    world.proofs.checkpoint()
    with world.store.session() as s:
        e = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "roster.add")).first()
        assert e is not None
        e.entry = e.entry.replace('"approver"', '"admin"')
    with pytest.raises(VerificationFailed, match="stored leaf hash does not match"):
        world.proofs.verify()


def test_ledger_rewritten_with_the_log_key_is_caught_by_the_witness(
    world: disgorge.Catalog, tmp_path: Path
) -> None:
    key_file = tmp_path / "witness.key"
    assert (
        os.system(
            f"{Path(os.sys.executable).parent / 'disgorge'} witness init --key {key_file} w.example/w1 >/dev/null"
        )
        == 0
    )  # type: ignore[attr-defined]
    vkey = (tmp_path / "witness.key.vkey").read_text().strip()
    ident = world.proofs.identity
    server = Server(tmp_path, str(key_file), [f"{ident.origin}={ident.public_key()}"])
    try:
        from disgorge.witness.client import cosigner

        cosign = cosigner([(server.url, vkey)])
        _, cert = _certify(world, tmp_path, cosigner=cosign)
        assert verify_any(dump_certificate(cert), [ident.public_key()], witness_keys=[vkey]).witnesses
        with world.store.session() as s:  # the insider rewrites history and re-signs it with the home's key
            e = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "erasure.request")).one()
            e.entry = e.entry.replace('"GDPR 17"', '"none"')
            e.leaf = leaf_hash(e.entry.encode())
            s.execute(delete(LedgerCheckpoint))
        world.proofs.checkpoint()  # and signs a fresh checkpoint with the home's key
        assert world.proofs.verify()["ok"]  # locally, the rewrite is consistent...
        with pytest.raises(
            VerificationFailed, match=r"rollback or a fork|rolled back or rewritten|inconsistent"
        ):
            world.proofs.checkpoint(cosigner=cosign)  # ...but the witness remembers what it cosigned
        forged = json.loads(json.dumps(cert))
        forged["ledger"]["checkpoint"] = world.proofs.checkpoint()["checkpoint"]  # signed, not cosigned
        resigned = v2.sign(forged, ident.private_key(), ident.name)
        with pytest.raises(VerificationFailed, match="cosigned by 0 trusted witness"):
            verify_any(dump_certificate(resigned), [ident.public_key()], witness_keys=[vkey])
    finally:
        server.stop()


def test_certificate_without_a_residual_scan_says_so(world: disgorge.Catalog, tmp_path: Path) -> None:
    pid = plan(world)
    approve(world, pid)
    execute(world, pid)
    world.erasures.verify(pid)  # no --scan
    cert = world.certificate(pid)
    key = world.proofs.identity.public_key()
    check = verify_any(dump_certificate(cert), [key])
    assert not check.residual_scan and any("NO residual scan ran" in c for c in check.checks)
    with pytest.raises(VerificationFailed, match="no residual scan ran"):
        verify_any(dump_certificate(cert), [key], require_scan=True)


def test_verification_clean_only_after_rescanning_where_residues_were(
    world: disgorge.Catalog, tmp_path: Path, photos: Path
) -> None:
    import shutil

    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy(photos / "alice" / "p0.jpg", backup / "b.jpg")
    pid = plan(world)
    approve(world, pid)
    execute(world, pid)
    assert not world.erasures.verify(pid, roots=[str(backup)]).clean
    again = world.erasures.verify(pid)  # the insider re-verifies without the scan that found residues
    assert not again.clean and again.unscanned_residue_roots == [str(backup)]
    with pytest.raises(disgorge.InputError, match="no clean verification"):
        world.certificate(pid)

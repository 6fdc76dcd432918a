"""What a certificate says about recipients, attacked by an insider who holds the home's log key and
can write to the catalog: they may re-sign any certificate and append any entry to the ledger, but
not sign as an admin or as a recipient. Each forged claim must fail ``certificate verify`` naming it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from disgorge.access import roster
from disgorge.certificate import v2
from disgorge.errors import VerificationFailed
from disgorge.ledger.certificate import dump_certificate
from disgorge.ledger.note import Checkpoint
from disgorge.notices import Records, record_ack
from disgorge.proof.service import _tree
from disgorge.trust import Identity, sign
from disgorge.trust.notices import acknowledge, binding_body, binding_digest, parse_notice
from tests.conftest import PEOPLE, approve
from tests.notices.conftest import Shop


@dataclass
class Forgery:
    shop: Shop
    doc: dict[str, Any]
    """plan A's genuine certificate: acme and beta delivered, nobody acknowledged."""
    acme_notice: str
    forged: dict[str, int]
    """Ledger indices of what the insider appended before the certificate was issued."""

    def entry(self, role: str, index: int) -> dict[str, Any]:
        size = Checkpoint.parse(self.doc["ledger"]["checkpoint"].split("\n\n", 1)[0] + "\n").size
        tree, _ = _tree(self.shop.cat.store)
        text = self.shop.cat.store.ledger_entry(index)[0]
        return {
            "role": role,
            "index": index,
            "entry": text,
            "proof": [h.hex() for h in tree.inclusion_proof(index, size)],
        }

    def forge(self, change: Callable[[dict[str, Any]], None]) -> bytes:
        doc = copy.deepcopy(self.doc)
        change(doc)
        doc["ledger"]["entries"].sort(key=lambda e: e["index"])
        ident = self.shop.cat.proofs.identity
        return dump_certificate(v2.sign(doc, ident.private_key(), ident.name))

    def verify(self, data: bytes) -> v2.CertificateCheck:
        return v2.verify(data, [self.shop.home_key])


def _acme(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["recipients"] if r["party"] == "acme")


@pytest.fixture
def forgery(sqlite_shop: Shop) -> Forgery:
    shop = sqlite_shop
    cat = shop.cat
    inbox = shop.cwd / "acme-inbox.json"
    cat.recipients.set_channel("acme", command=f"sh -c 'cat > {inbox}'", key=shop.acme.public_key)
    cat.recipients.set_channel("beta", command="true")
    assert cat.erasures.run(shop.plan, dry_run=False).status == "done"
    acme_notice = parse_notice(inbox.read_bytes())
    assert cat.erasures.verify(shop.plan, roots=[str(shop.cwd / "photos")]).clean
    # plan B (bob), which acme acknowledges for real
    b, _ = cat.erasures.plan(
        scope=("subject", "bob"), withdrawn=False, reason="request", legal_basis="GDPR 17"
    )
    approve(cat, b.id)
    assert cat.erasures.run(b.id, dry_run=False).status == "done"
    other_ack = record_ack(cat.store, acknowledge(shop.acme, parse_notice(inbox.read_bytes())))
    st = cat.store.statements
    forged: dict[str, int] = {"other_plan_ack": other_ack["ledger_index"]}
    # mallory (calling herself acme) acknowledges plan A's notice to acme
    mallory = Identity.generate("acme")
    body = {"plan_id": shop.plan, "party": "acme"}
    forged["mallory_ack"] = st.add(
        sign(mallory, "notice.ack", catalog=acme_notice.catalog, about=acme_notice.notice_id, body=body)
    )
    # eve (an engineer) binds acme to her own key, logs a delivery under it, and acknowledges it
    eve = PEOPLE["eve"]
    channel = {"kind": "command", "command": "true"}
    eve_binding = sign(
        eve,
        "recipient.set",
        catalog=st.catalog_id(),
        about="acme",
        body=binding_body(channel, eve.public_key, roster(cat.store).digest()),
    )
    forged["eve_binding"] = st.add(eve_binding)
    fake = {**acme_notice.notice, "channel": binding_digest(eve_binding), "ack_key": eve.public_key}
    from disgorge.trust.notices import notice_id

    event = Records(cat.store).deliveries(shop.plan)[0][1]
    forged["eve_delivery"] = cat.store.log_event(
        "notice_delivered",
        {
            **{k: event[k] for k in ("plan_id", "channel", "answer", "written_at", "delivered_at")},
            "party": "acme",
            "notice_id": notice_id(fake),
            "notice": fake,
        },
    )
    forged["eve_ack"] = st.add(
        sign(eve, "notice.ack", catalog=st.catalog_id(), about=notice_id(fake), body=body)
    )
    doc = cat.certificate(shop.plan)
    assert _acme(doc)["acknowledged_at"] is None, "the issuer ignores acknowledgements that do not verify"
    return Forgery(shop, doc, acme_notice.notice_id, forged)


def test_genuine_certificate_verifies(forgery: Forgery) -> None:
    check = forgery.verify(dump_certificate(forgery.doc))
    assert any("acme delivered by command, not acknowledged" in c for c in check.checks)


def test_certificate_claiming_an_ack_without_one_fails_verification(forgery: Forgery) -> None:
    def claim(doc: dict[str, Any]) -> None:
        _acme(doc).update(acknowledged_at="2030-01-01T00:00:00Z", acknowledged_by="acme")

    (forgery.shop.cwd / "forged.json").write_bytes(forgery.forge(claim))
    r = forgery.shop.run("certificate", "verify", "forged.json", "--key", "key.pub")
    assert r.returncode == 1
    assert "listed as acknowledged, but the certificate carries no acknowledgement" in r.stderr
    assert "an acknowledgement claimed without one" in r.stderr


def test_certificate_with_an_ack_by_another_key_fails(forgery: Forgery) -> None:
    i = forgery.forged["mallory_ack"]

    def add(doc: dict[str, Any]) -> None:
        doc["ledger"]["entries"].append(forgery.entry("ack", i))
        ack = json.loads(forgery.shop.cat.store.ledger_entry(i)[0])["statement"]
        _acme(doc).update(acknowledged_at=ack["at"], acknowledged_by="acme")

    with pytest.raises(
        VerificationFailed, match=r"not with the key an admin bound to 'acme'.*signed by another key"
    ):
        forgery.verify(forgery.forge(add))


def test_certificate_with_an_ack_for_another_notice_fails(forgery: Forgery) -> None:
    i = forgery.forged["other_plan_ack"]

    def add(doc: dict[str, Any]) -> None:
        doc["ledger"]["entries"].append(forgery.entry("ack", i))
        ack = json.loads(forgery.shop.cat.store.ledger_entry(i)[0])["statement"]
        _acme(doc).update(acknowledged_at=ack["at"], acknowledged_by="acme")

    with pytest.raises(VerificationFailed, match="an acknowledgement for another notice"):
        forgery.verify(forgery.forge(add))


def test_certificate_with_a_channel_bound_by_a_non_admin_fails(forgery: Forgery) -> None:
    f = forgery.forged

    def swap(doc: dict[str, Any]) -> None:
        entries = doc["ledger"]["entries"]
        acme_channel = next(e for e in entries if e["role"] == "channel" and '"about":"acme"' in e["entry"])
        acme_delivery = next(e for e in entries if e["role"] == "delivery" and '"party":"acme"' in e["entry"])
        entries.remove(acme_channel)
        entries.remove(acme_delivery)
        entries += [forgery.entry("channel", f["eve_binding"]), forgery.entry("delivery", f["eve_delivery"])]
        entries.append(forgery.entry("ack", f["eve_ack"]))
        delivery = json.loads(forgery.shop.cat.store.ledger_entry(f["eve_delivery"])[0])
        ack = json.loads(forgery.shop.cat.store.ledger_entry(f["eve_ack"])[0])["statement"]
        _acme(doc).update(notice_id=delivery["notice_id"], acknowledged_at=ack["at"], acknowledged_by="eve")

    with pytest.raises(VerificationFailed, match="a channel set by a non-admin, or forged"):
        forgery.verify(forgery.forge(swap))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["counts"].update(recipients_notified=3), "recipients_notified is 3, but 2 deliveries"),
        (
            lambda d: d["ledger"]["entries"].remove(
                next(e for e in d["ledger"]["entries"] if e["role"] == "delivery")
            ),
            "carries no logged delivery",
        ),
        (
            lambda d: d["ledger"]["entries"].remove(
                next(e for e in d["ledger"]["entries"] if e["role"] == "channel")
            ),
            "does not carry the admin-signed channel binding",
        ),
        (lambda d: _acme(d).update(delivered_at="2031-01-01T00:00:00Z"), "differs from the logged one"),
        (lambda d: _acme(d).update(channel="webhook"), "differs from the logged one"),
        (
            lambda d: (
                _acme(d).update(delivered_at=None, channel=None),
                d["counts"].update(recipients_notified=1),
            ),
            "deliveries or channel bindings of recipients it does not list",
        ),
    ],
    ids=[
        "inflated-count",
        "delivery-removed",
        "binding-removed",
        "delivery-time-edited",
        "channel-edited",
        "delivery-hidden",
    ],
)
def test_certificate_recipient_claims_must_match_their_entries(
    forgery: Forgery, change: Callable[[dict[str, Any]], object], reason: str
) -> None:
    with pytest.raises(VerificationFailed, match=reason):
        forgery.verify(forgery.forge(lambda d: change(d) and None))

"""Acknowledgements: the recipient signs with its own key, offline; the catalog records an ack only if
it is signed by the key an admin bound to the party, about a notice this catalog delivered; and only
an admin's signed binding decides that key, not a table or a ledger row edited in SQL."""

from __future__ import annotations

import json

from sqlalchemy import text

from disgorge.hashing.canonical import canonical_json
from disgorge.ledger.merkle import leaf_hash
from disgorge.trust import Identity, sign
from disgorge.trust.notices import parse_notice
from tests.conftest import PEOPLE
from tests.notices.conftest import Inbox, Shop


def _deliver(shop: Shop) -> None:
    """acme by a command channel into acme/inbox.json, bound to acme's key; beta accepts anything."""
    (shop.cwd / "acme").mkdir(exist_ok=True)
    shop.ok("recipient", "set", "acme", "--command", "sh -c 'cat > acme/inbox.json'", "--key", "acme.pub")
    shop.ok("recipient", "set", "beta", "--command", "true")
    shop.ok("erase", "run", shop.plan, "--execute")


def _acme_acks(shop: Shop) -> str:
    """acme, in its own folder with no catalog: checks its notice came from this catalog, and signs."""
    return shop.ok(
        "notice",
        "ack",
        "inbox.json",
        "--identity",
        "../acme.identity",
        "--key",
        "../key.pub",
        "-o",
        "ack.json",
        cwd=shop.cwd / "acme",
        catalog=False,
    )


def _ack_as(shop: Shop, who: Identity, about: str, out: str, **body: str) -> None:
    notice = parse_notice((shop.cwd / "acme" / "inbox.json").read_bytes())
    signed = sign(
        who,
        "notice.ack",
        catalog=notice.catalog,
        about=about,
        body=body or {"plan_id": shop.plan, "party": "acme"},
    )
    (shop.cwd / out).write_bytes(canonical_json(signed.to_json()))


def test_ack_from_the_right_key_is_recorded_and_certified(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    _deliver(shop)
    # the recipient, in its own folder, with no catalog: checks the notice came from this catalog, signs
    (shop.cwd / "key.pub").write_text(shop.ok("key", "export-public"))  # what the catalog gives acme
    out = _acme_acks(shop)
    assert "acknowledged notice" in out and "signed by the catalog's key" in out
    recorded = json.loads(shop.ok("notice", "record-ack", "acme/ack.json", "--json"))
    assert recorded["recorded"] and recorded["party"] == "acme" and recorded["acknowledged_by"] == "acme"
    again = shop.ok("notice", "record-ack", "acme/ack.json")
    assert "already recorded" in again
    shop.ok("erase", "verify", shop.plan, "--scan", "photos")
    shop.ok("erase", "certificate", shop.plan, "-o", "cert.json", "--html", "cert.html")
    cert = json.loads((shop.cwd / "cert.json").read_text())
    acme, beta = cert["recipients"]
    assert (acme["party"], acme["channel"], acme["acknowledged_by"]) == ("acme", "command", "acme")
    assert acme["written_at"] <= acme["delivered_at"] and acme["acknowledged_at"]
    assert beta["delivered_at"] and beta["acknowledged_at"] is None
    assert cert["counts"]["recipients_notified"] == 2
    assert sorted(
        e["role"] for e in cert["ledger"]["entries"] if e["role"] in ("channel", "delivery", "ack")
    ) == [
        "ack",
        "channel",
        "channel",
        "delivery",
        "delivery",
    ]
    verified = shop.ok("certificate", "verify", "cert.json", "--key", "key.pub")
    assert (
        "acme delivered by command, acknowledged by acme; beta delivered by command, not acknowledged"
        in verified
    )
    assert "acknowledged" in (shop.cwd / "cert.html").read_text()


def test_ack_signed_by_another_key_is_refused(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    _deliver(shop)
    mallory = Identity.generate("acme")  # same name, another key
    mallory.save(shop.cwd / "mallory.identity")
    r = shop.run(
        "notice", "ack", "acme/inbox.json", "--identity", "mallory.identity", "-o", "m.json", catalog=False
    )
    assert r.returncode == 2 and "is to be acknowledged by" in r.stderr
    notice = parse_notice((shop.cwd / "acme" / "inbox.json").read_bytes())
    _ack_as(shop, mallory, notice.notice_id, "forged.json")
    r = shop.run("notice", "record-ack", "forged.json")
    assert r.returncode == 1
    assert "not with the key an admin bound to 'acme'" in r.stderr and "signed by another key" in r.stderr
    eve = PEOPLE["eve"]  # on the roster, but not the party's key
    _ack_as(shop, eve, notice.notice_id, "eve.json")
    r = shop.run("notice", "record-ack", "eve.json")
    assert r.returncode == 1 and "signed by another key" in r.stderr
    assert shop.cat.store.statements.of_kinds(("notice.ack",)) == []


def test_ack_for_another_notice_is_refused(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    _deliver(shop)
    beta_notice = parse_notice(shop.notice_file("beta").read_bytes())
    for about, what in (
        (beta_notice.notice_id, "beta's notice"),  # delivered, but to another party under another binding
        ("ab" * 32, "a notice this catalog never delivered"),
    ):
        _ack_as(shop, shop.acme, about, "other.json")
        r = shop.run("notice", "record-ack", "other.json")
        assert r.returncode == 1, what
        assert "another notice" in r.stderr or "not delivered under" in r.stderr, (what, r.stderr)
    notice = parse_notice((shop.cwd / "acme" / "inbox.json").read_bytes())
    signed = sign(
        shop.acme,
        "notice.ack",
        catalog="f" * 32,
        about=notice.notice_id,
        body={"plan_id": shop.plan, "party": "acme"},
    )
    (shop.cwd / "replayed.json").write_bytes(canonical_json(signed.to_json()))
    r = shop.run("notice", "record-ack", "replayed.json")
    assert r.returncode == 1 and "another catalog" in r.stderr
    assert shop.cat.store.statements.of_kinds(("notice.ack",)) == []


def test_channel_set_by_non_admin_is_refused(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    with Inbox(shop.home_key) as evil:
        r = shop.run(
            "recipient", "set", "acme", "--webhook", evil.url, "--key", "acme.pub", identity="eve.identity"
        )
        assert r.returncode == 1 and "'eve' may not recipient.write" in r.stderr
        # eve appends a binding signed with her own key anyway (she has write access to the catalog)
        catalog = shop.cat.store.statements.catalog_id()
        from disgorge.access import roster

        body = {
            "channel": {"kind": "webhook", "url": evil.url},
            "key": PEOPLE["eve"].public_key,
            "roster": roster(shop.cat.store).digest(),
        }
        shop.cat.store.statements.add(
            sign(PEOPLE["eve"], "recipient.set", catalog=catalog, about="acme", body=body)
        )
        shop.ok("recipient", "set", "beta", "--command", "true")
        r = shop.run("erase", "run", shop.plan, "--execute")
        assert r.returncode == 1
        assert (
            "failed recipient party:acme" in r.stderr
            and "a channel set by a non-admin, or forged" in r.stderr
        )
        assert evil.received == [], "nothing was sent where a non-admin pointed"
    listed = shop.run("recipient", "list")
    assert "set aside" in listed.stderr and "non-admin" in listed.stderr


def test_channel_row_edited_in_sql_does_not_change_who_may_ack(shop: Shop) -> None:
    _deliver(shop)
    mallory = Identity.generate("acme")
    store = shop.cat.store
    with store.session() as s:  # an insider swaps the bound key, and even recomputes the leaf
        rows = s.execute(text("SELECT seq, entry FROM ledger_entries WHERE kind = 'recipient.set'")).all()
        for seq, entry in rows:
            edited = entry.replace(shop.acme.public_key, mallory.public_key)
            s.execute(
                text("UPDATE ledger_entries SET entry = :e, leaf = :l WHERE seq = :s"),
                {"e": edited, "l": leaf_hash(edited.encode()), "s": seq},
            )
    notice = parse_notice((shop.cwd / "acme" / "inbox.json").read_bytes())
    _ack_as(shop, mallory, notice.notice_id, "mallory.json")
    r = shop.run("notice", "record-ack", "mallory.json")
    assert r.returncode == 1
    assert "no longer in the ledger as it was signed" in r.stderr or "signed by another key" in r.stderr
    listed = json.loads(shop.ok("recipient", "list", "--json"))
    assert [b["party"] for b in listed["recipients"]] == ["beta"]
    assert any("acme" in p and "altered or forged" in p for p in listed["set_aside"])
    assert store.statements.of_kinds(("notice.ack",)) == []


def test_channels_and_acks_through_the_server(sqlite_shop: Shop) -> None:
    """ann binds acme's channel and key through ``disgorge serve`` (signed on her side), the erasure
    runs there, and acme's acknowledgement is recorded through it; a forged one is refused the same."""
    from disgorge.access.tokens import TokenService
    from tests.server.conftest import LiveServer

    shop = sqlite_shop
    _, token = TokenService(shop.cat.store).issue(shop.cat.principal, "t", principal="ann")
    server = LiveServer(shop.cwd, home="home", catalog_url=shop.cat.store.url)
    env = {"DISGORGE_URL": server.url, "DISGORGE_TOKEN": token, "DISGORGE_HOME": "no-home-here"}
    try:
        (shop.cwd / "acme").mkdir()
        remote = {"server": env}
        shop.ok(
            "recipient",
            "set",
            "acme",
            "--command",
            "sh -c 'cat > acme/inbox.json'",
            "--key",
            "acme.pub",
            **remote,
        )
        shop.ok("recipient", "set", "beta", "--command", "true", **remote)
        listed = json.loads(shop.ok("recipient", "list", "--json", **remote))
        assert [(b["party"], b["set_by"]) for b in listed["recipients"]] == [("acme", "ann"), ("beta", "ann")]
        shop.ok("erase", "run", shop.plan, "--execute", **remote)
        out = _acme_acks(shop)
        assert "signed by the catalog's key" in out
        recorded = json.loads(shop.ok("notice", "record-ack", "acme/ack.json", "--json", **remote))
        assert recorded["recorded"] and recorded["acknowledged_by"] == "acme"
        _ack_as(
            shop,
            PEOPLE["eve"],
            parse_notice((shop.cwd / "acme" / "inbox.json").read_bytes()).notice_id,
            "eve.json",
        )
        r = shop.run("notice", "record-ack", "eve.json", **remote)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    finally:
        server.stop()

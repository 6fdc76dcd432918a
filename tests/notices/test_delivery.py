"""Delivering notices: a target is done only when the party's channel accepted its notice (HTTP 2xx,
exit 0); without a channel it is skipped and the plan stays incomplete; a failing channel is retried
by the next run. Through the real CLI, against a real HTTP receiver and real commands."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from disgorge.trust.notices import parse_notice
from tests.notices.conftest import Inbox, Shop


def _journal(shop: Shop) -> dict[str, dict[str, int]]:
    return json.loads(shop.ok("erase", "show", shop.plan, "--json"))["journal"]  # type: ignore[no-any-return]


def test_webhook_and_command_deliver_the_signed_notice(shop: Shop, photos: Path) -> None:
    alices = [hashlib.sha256(p.read_bytes()).digest() for p in (photos / "alice").iterdir()]
    with Inbox(shop.home_key) as inbox:
        shop.ok("recipient", "set", "acme", "--webhook", inbox.url, "--key", "acme.pub")
        shop.ok(
            "recipient",
            "set",
            "beta",
            "--command",
            "sh -c 'cat > beta-inbox.json && printf %s \"$DISGORGE_NOTICE_ID $DISGORGE_PARTY\" > beta-env.txt'",
        )
        out = shop.ok("erase", "run", shop.plan, "--execute")
    assert f"plan {shop.plan[:12]}: done" in out
    (headers, body, valid), *more = inbox.received
    assert valid and not more, "the receiver checked the notice's signature against the catalog's key"
    notice = parse_notice(body)
    assert headers["Content-Type"] == "application/json" and headers["Disgorge-Notice-Id"] == notice.notice_id
    assert notice.party == "acme" and notice.plan_id == shop.plan and notice.ack_key == shop.acme.public_key
    assert notice.notice["runs"] == ["train"] and len(notice.notice["delete"]["artifacts"]) == 1
    # the recipient finds its copies of alice's photos by the keyed hashes, with the salt it was given
    salt = bytes.fromhex(notice.notice["delete"]["salt"])
    mine = {hmac.new(salt, sha, hashlib.sha256).hexdigest() for sha in alices}
    assert len(mine) == 3 and mine == set(notice.content)
    assert b"alice" not in body
    beta = (shop.cwd / "beta-inbox.json").read_bytes()
    beta_notice = parse_notice(beta)
    assert (
        beta_notice.party == "beta"
        and beta_notice.ack_key is None
        and beta == shop.notice_file("beta").read_bytes()
    )
    assert (shop.cwd / "beta-env.txt").read_text() == f"{beta_notice.notice_id} beta"
    assert shop.notice_file("acme").stat().st_mode & 0o777 == 0o600
    assert _journal(shop)["recipient"] == {"done": 2}
    listed = json.loads(shop.ok("recipient", "list", "--json"))
    assert [(r["party"], r["channel"]["kind"], r["set_by"]) for r in listed["recipients"]] == [
        ("acme", "webhook", "ann"),
        ("beta", "command", "ann"),
    ]


def test_failing_channel_fails_the_target_and_is_retried(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    shop.ok("recipient", "set", "beta", "--command", "true")
    with Inbox(shop.home_key, answers=[503]) as inbox:
        shop.ok("recipient", "set", "acme", "--webhook", inbox.url)
        first = shop.run("erase", "run", shop.plan, "--execute")
        assert first.returncode == 1
        assert "failed recipient party:acme" in first.stderr and "HTTP 503" in first.stderr
        assert "retried on the next run" in first.stderr
        assert _journal(shop)["recipient"] == {"done": 1, "failed": 1}
        assert _journal(shop)["catalog"] == {"pending": 1}, "the catalog does not forget before delivery"
        again = shop.run("erase", "run", shop.plan, "--execute")
    assert again.returncode == 0, again.stderr
    assert [valid for _, _, valid in inbox.received] == [True, True]
    ids = {h["Disgorge-Notice-Id"] for h, _, _ in inbox.received}
    assert len(ids) == 1, "a retry delivers the same notice"
    assert _journal(shop)["recipient"] == {"done": 2}


def test_command_that_fails_is_a_failure_with_its_reason(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    shop.ok("recipient", "set", "acme", "--command", "sh -c 'echo inbox full >&2; exit 4'")
    shop.ok("recipient", "set", "beta", "--command", "no-such-command-here")
    r = shop.run("erase", "run", shop.plan, "--execute")
    assert r.returncode == 1
    assert (
        "the command exited 4: inbox full" in r.stderr
        and "command not found: no-such-command-here" in r.stderr
    )
    assert _journal(shop)["recipient"] == {"failed": 2}


def test_no_channel_skips_and_the_plan_stays_incomplete(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    shop.ok("recipient", "set", "acme", "--command", "true")
    r = shop.run("erase", "run", shop.plan, "--execute")
    assert r.returncode == 1
    assert (
        "no delivery channel for beta: disgorge recipient set beta (--webhook https://URL | --command CMD)"
        in r.stderr
    )
    show = json.loads(shop.ok("erase", "show", shop.plan, "--json"))
    assert show["status"] == "incomplete" and show["journal"]["recipient"] == {"done": 1, "skipped": 1}
    states = {r["party"]: r for r in show["recipients"]}
    assert (
        states["acme"]["delivered_at"] and states["beta"]["written_at"] and not states["beta"]["delivered_at"]
    )
    human = shop.ok("erase", "show", shop.plan)
    assert "recipient beta: notice written" in human and "NOT delivered" in human
    assert "recipient acme: notice delivered" in human
    assert parse_notice(shop.notice_file("beta").read_bytes()).party == "beta", "the notice is written"
    refused = shop.run("erase", "certificate", shop.plan, "-o", "cert.json")
    assert refused.returncode == 2 and "incomplete" in refused.stderr
    shop.ok("recipient", "set", "beta", "--command", "true")
    shop.ok("erase", "run", shop.plan, "--execute")
    assert json.loads(shop.ok("erase", "show", shop.plan, "--json"))["status"] == "done"


def test_plain_http_and_bad_channels_are_refused(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    for args, why in (
        (("--webhook", "http://notices.example/in"), "plain HTTP to notices.example"),
        (("--webhook", "https://user:secret@notices.example/in"), "may not carry credentials"),
        (("--webhook", "ftp://notices.example/in"), "is not an https:// URL"),
        (
            ("--webhook", "https://a.example", "--command", "true"),
            "exactly one of --webhook URL or --command CMD",
        ),
        ((), "exactly one of --webhook URL or --command CMD"),
        (("--command", "true", "--key", "nonsense"), "malformed verifier key"),
        (("--command", "true", "--key", "acme+deadbeef+AAAA"), "is not an Ed25519 key"),
    ):
        r = shop.run("recipient", "set", "acme", *args)
        assert r.returncode == 2 and why in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert json.loads(shop.ok("recipient", "list", "--json"))["recipients"] == []

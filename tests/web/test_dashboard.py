"""The dashboard as its people use it, in Debian's Chromium: sign-in per role, the erasure workflow
signed in the browser with each person's own key, refusals by role, and the data subject's page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from disgorge.catalog.schema import Asset, Subject
from tests.conftest import write_photo
from tests.web.world import World

Page = Any  # playwright.sync_api.Page


def sign_in(browser: Any, world: World, who: str, **ctx: Any) -> Page:
    page = browser.new_context(accept_downloads=True, **ctx).new_page()
    page.goto(world.url + "/signin")
    page.fill("#token", world.tokens[who])
    page.click("button[type=submit]")
    page.wait_for_url(world.url + "/")
    return page


def csrf_of(page: Page) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def post_as(page: Page, world: World, path: str, form: dict[str, str]) -> int:
    """A POST made with the page's own session (its cookie and CSRF token), bypassing what it offers."""
    return int(page.request.post(world.url + path, form=form, max_redirects=0).status)


@pytest.mark.parametrize("who", ["ann", "bea", "cy", "eve", "dan"])
def test_each_role_signs_in_and_is_offered_only_what_the_role_allows(
    browser: Any, world: World, who: str
) -> None:
    page = sign_in(browser, world, who)
    assert who in page.locator("header").inner_text()
    assert page.locator("h1").inner_text() == "Overview"
    assert "site" in page.locator("table").first.inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "disgorge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert world.tokens[who] not in json.dumps(page.context.cookies())
    page.goto(world.url + "/erasures")
    offered = page.locator("a[href='/erasures/new']").count() == 1
    assert offered == (who == "ann")
    page.goto(world.url + "/erasures/new")
    assert (page.locator("h1").inner_text() == "Not allowed") == (who != "ann")
    page.context.close()


def test_without_a_session_pages_send_to_sign_in_and_a_bad_token_is_refused(
    browser: Any, world: World
) -> None:
    page = browser.new_context().new_page()
    page.goto(world.url + "/ledger")
    assert page.url.startswith(world.url + "/signin")
    page.fill("#token", "dgt_0123456789abcdef_" + "A" * 43)
    page.click("button[type=submit]")
    assert "unknown" in page.locator("#problem").inner_text()
    page.goto(world.url + "/signin?next=//evil.example/")
    page.fill("#token", world.tokens["dan"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == world.url + "/"  # never an open redirect
    page.context.close()


def test_a_post_without_the_session_csrf_token_is_refused(world: World) -> None:
    with httpx.Client(base_url=world.url) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/signin").text).group(1)  # type: ignore[union-attr]
        r = c.post("/signin", data={"csrf": csrf, "token": world.tokens["ann"]})
        assert r.status_code == 303
        assert (
            c.post(
                "/erasures", data={"kind": "source", "value": "site", "reason": "x", "legal_basis": "y"}
            ).status_code
            == 403
        )
        assert (
            c.post("/erasures", data={"csrf": "forged", "kind": "source", "value": "site"}).status_code == 403
        )
    with httpx.Client(base_url=world.url) as other:  # another browser's CSRF token is not this session's
        other.get("/signin")
        assert other.post("/signout", data={"csrf": csrf}).status_code == 403


def _sign(page: Page, world: World, who: str, button: str) -> None:
    page.locator("input[data-sign-key]").first.set_input_files(str(world.identities[who]))
    # the click starts WebCrypto signing, and the form is submitted when it resolves: wait for that page
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def test_officer_plans_approver_approves_execution_finishes_certificate_verifies(
    browser: Any, world: World, tmp_path: Path
) -> None:
    ann = sign_in(browser, world, "ann")
    ann.goto(world.url + "/erasures/new?kind=subject")
    ann.fill("#value", "alice")
    ann.fill("#reason", "the subject asked us to erase their photos")
    ann.fill("#legal_basis", "GDPR Art. 17(1)(b)")
    ann.get_by_role("button", name="Freeze the plan").click()
    ann.wait_for_url(re.compile(r".*/erasures/[0-9a-f]{64}$"))
    plan_url = ann.url
    plan_id = plan_url.rsplit("/", 1)[1]
    assert "alice" not in ann.content()  # the subject's id is not shown back
    assert "request not yet signed" in ann.locator("main").inner_text()
    targets = ann.locator("#h-targets + table").inner_text()
    assert "copy" in targets and "model copy" in targets and "deployment" in targets
    _sign(ann, world, "ann", "Sign and submit the request")
    assert "Requested by ann" in ann.locator("main").inner_text()
    assert ann.locator("#plan-status").inner_text() == "planned"

    # ann requested it: she is offered no approval, and a forged one (validly signed by her) is refused
    assert ann.get_by_role("button", name="Sign and approve").count() == 0
    statement = ann.locator("form[data-sign-form] input[name=statement]")
    assert statement.count() == 0
    from disgorge.access import roster
    from disgorge.trust import sign
    from tests.conftest import PEOPLE

    current = roster(world.cat.store)
    forged = sign(
        PEOPLE["ann"],
        "erasure.approve",
        catalog=current.catalog,
        about=plan_id,
        body={"roster": current.digest()},
    )
    form = {"csrf": csrf_of(ann), "statement": json.dumps(forged.statement), "signature": forged.signature}
    assert post_as(ann, world, f"/erasures/{plan_id}/approve", form) == 403

    bea = sign_in(browser, world, "bea")
    bea.goto(plan_url)
    _sign(bea, world, "bea", "Sign and approve")
    assert bea.locator("#plan-status").inner_text() == "approved"
    assert "bea" in bea.locator("main").inner_text()

    ann.goto(plan_url)
    _sign(ann, world, "ann", "Sign and start")
    ann.wait_for_selector("#progress[data-state=finished]", timeout=60_000)
    assert "Finished: done" in ann.locator("#progress-text").inner_text(), ann.locator("main").inner_text()
    _sign(ann, world, "ann", "Sign the journal")
    with ann.expect_navigation():
        ann.get_by_role("button", name="Verify now").click()
    assert "clean" in ann.locator("#verification").inner_text()
    with ann.expect_download() as dl:
        ann.get_by_role("link", name="Download the certificate (JSON)").click()
    cert = tmp_path / "cert.json"
    dl.value.save_as(cert)
    assert json.loads(cert.read_text())["format"].startswith("disgorge-certificate/")
    with ann.expect_download() as dl_html:
        ann.get_by_role("link", name="Download it as a page (HTML)").click()
    assert "<html" in Path(dl_html.value.path()).read_text().lower()

    ann.goto(world.url + "/erasures")
    ann.set_input_files("#certificate", str(cert))
    ann.get_by_role("button", name="Verify").click()
    assert ann.locator("#verdict").inner_text().startswith(f"valid: certificate of plan {plan_id[:12]}")
    tampered = tmp_path / "tampered.json"
    tampered.write_text(cert.read_text().replace("the subject asked", "nobody asked"))
    ann.goto(world.url + "/erasures")
    ann.set_input_files("#certificate", str(tampered))
    ann.get_by_role("button", name="Verify").click()
    assert ann.locator("#verdict").inner_text().startswith("not valid")

    dan = sign_in(browser, world, "dan")  # the auditor reads everything, changes nothing
    dan.goto(plan_url)
    assert dan.locator("form[data-sign-form]").count() == 0  # re-verifying is the one thing an auditor does
    assert dan.locator("form[method=post]").count() == 2
    assert dan.locator("a[href$='certificate.json']").count() == 1
    csrf = csrf_of(dan)
    for path in (
        "/erasures",
        f"/erasures/{plan_id}/request",
        f"/erasures/{plan_id}/execute",
        f"/erasures/{plan_id}/approve",
    ):
        assert (
            post_as(
                dan,
                world,
                path,
                {"csrf": csrf, "kind": "source", "value": "site", "reason": "r", "legal_basis": "b"},
            )
            == 403
        )
    for p in (ann, bea, dan):
        p.context.close()


def test_a_subject_finds_their_resized_photo_and_learns_nothing_of_others(
    browser: Any, world: World, tmp_path: Path
) -> None:
    resized = tmp_path / "me-small.jpg"
    with Image.open(world.photo("bob", 1)) as im:
        im.resize((160, 120)).save(resized, "JPEG", quality=70)
    stranger = write_photo(tmp_path / "stranger.jpg", "zed-nobody", 4242)
    page = browser.new_context().new_page()
    page.goto(world.url + "/lookup")
    page.set_input_files("#photo", str(resized))
    page.get_by_role("button", name="Look it up").click()
    assert page.locator("#verdict").inner_text() == "Used"
    uses = page.locator("#uses").inner_text()
    assert "faces@1" in uses and "base" in uses and "acme" in uses
    text = page.content()
    for word in ("alice", "carol", "bob", "p0.jpg", "p1.jpg", "photos/"):
        assert word not in text
    with world.cat.store.session() as s:
        shas = list(s.scalars(select(Asset.sha256)))
        pseudonyms = list(s.scalars(select(Subject.pseudonym)))
    for secret in shas + pseudonyms:
        assert secret[:12] not in text

    page.fill("#contact", "bob@example.org")
    page.get_by_role("button", name="Request erasure of this photo").click()
    assert "filed" in page.locator("h1").inner_text()

    page.goto(world.url + "/lookup")
    page.set_input_files("#photo", str(stranger))
    page.get_by_role("button", name="Look it up").click()
    assert page.locator("#verdict").inner_text() == "Not used"
    page.context.close()

    ann = sign_in(browser, world, "ann")
    ann.goto(world.url + "/erasures")
    assert "bob@example.org" in ann.locator("#h-req + table").inner_text()
    ann.context.close()


def test_the_lookup_page_is_rate_limited_per_address(world: World, tmp_path: Path) -> None:
    """From another loopback address, so this test's spending is its own."""
    photo = world.photo("carol", 0)
    transport = httpx.HTTPTransport(local_address="127.0.0.9")
    with httpx.Client(base_url=world.url, transport=transport) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/lookup").text).group(1)  # type: ignore[union-attr]
        codes = []
        for _ in range(8):
            with photo.open("rb") as f:
                codes.append(
                    c.post(
                        "/lookup", data={"csrf": csrf}, files={"photo": ("x.jpg", f, "image/jpeg")}
                    ).status_code
                )
    assert codes[0] == 200 and 429 in codes, codes


def _http_sign_in(world: World, token: str) -> httpx.Client:
    c = httpx.Client(base_url=world.url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/signin").text).group(1)  # type: ignore[union-attr]
    assert c.post("/signin", data={"csrf": csrf, "token": token}).status_code == 303
    return c


def test_a_revoked_token_signs_its_browser_out(world: World) -> None:
    import time

    from disgorge.access.tokens import TokenService

    service = TokenService(world.cat.store)
    row, token = service.issue(world.cat.principal, "short-lived", principal="dan")
    c = _http_sign_in(world, token)
    try:
        assert c.get("/ledger").status_code == 200
        service.revoke(world.cat.principal, row.id)
        time.sleep(0.5)  # the server's token cache time in these tests
        r = c.get("/ledger")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    finally:
        c.close()


def test_an_erasure_request_needs_a_token_from_a_real_lookup(world: World) -> None:
    with httpx.Client(base_url=world.url) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/lookup").text).group(1)  # type: ignore[union-attr]
        before = len(list((world.root / "home" / "subject-requests").glob("*.json")))
        for forged in ("", "W10.forged", '["' + "0" * 64 + '"]'):
            r = c.post("/lookup/request", data={"csrf": csrf, "token": forged})
            assert r.status_code == 400 and "lookup" in r.text
        after = len(list((world.root / "home" / "subject-requests").glob("*.json")))
        assert after == before


def test_a_subjects_impact_is_posted_and_their_id_never_enters_a_url(browser: Any, world: World) -> None:
    # bob: the one subject no other test of the shared world erases
    page = sign_in(browser, world, "bea")
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(world.url + "/impact")
    page.select_option("#kind", "subject")
    page.fill("#value", "bob")
    with page.expect_navigation():
        page.get_by_role("button", name="Show impact").click()
    assert "photo" in page.locator("#headline").inner_text()
    assert "bob" not in page.url and not any("bob" in u for u in seen)
    assert "bob" not in page.content()
    # a source is bookmarkable: the post redirects to its page
    page.goto(world.url + "/impact")
    page.select_option("#kind", "source")
    page.fill("#value", "site")
    with page.expect_navigation():
        page.get_by_role("button", name="Show impact").click()
    assert page.url == world.url + "/impact?kind=source&value=site"
    # a URL naming a subject, from a link or a hand, is refused rather than answered
    assert page.goto(world.url + "/impact?kind=subject&value=alice").status == 400  # type: ignore[union-attr]
    page.context.close()


def test_an_approver_resolves_a_skipped_takedown_in_the_browser_and_the_plan_completes(
    browser: Any, tmp_path: Path
) -> None:
    from disgorge.catalog.schema import Deployment
    from tests.conftest import approve
    from tests.web.world import build

    own = build(tmp_path)  # its own catalog: this plan must not touch the shared world's
    try:
        with own.cat.store.session() as s:  # a deployment nobody can take down automatically
            for d in s.scalars(select(Deployment)):
                d.hook = None
        plan, _ = own.cat.erasures.plan(
            scope=("subject", "bob"), withdrawn=False, reason="asked to", legal_basis="GDPR Art. 17"
        )
        approve(own.cat, plan.id)
        assert own.cat.erasures.run(plan.id, dry_run=False).status == "incomplete"

        eve = sign_in(browser, own, "eve")  # an engineer is offered no resolution
        eve.goto(f"{own.url}/erasures/{plan.id}")
        assert eve.get_by_role("button", name=re.compile("Resolve target")).count() == 0
        eve.context.close()

        from tests.web.test_accessibility import violations

        bea = sign_in(browser, own, "bea", bypass_csp=True)
        bea.goto(f"{own.url}/erasures/{plan.id}")
        assert violations(bea) == []
        button = bea.get_by_role("button", name=re.compile(r"Resolve target #\d+"))
        assert button.count() == 1
        bea.get_by_label(re.compile("How target #")).fill("taken down by hand, ticket OPS-12")
        with bea.expect_navigation():
            button.click()
        assert bea.locator("#reason").inner_text() == "taken down by hand, ticket OPS-12"
        assert "OPS-12" in (bea.locator("section.sign pre").first.text_content() or "")  # what is signed
        assert violations(bea) == []
        _sign(bea, own, "bea", "Sign and resolve")
        assert bea.url == f"{own.url}/erasures/{plan.id}"
        assert bea.get_by_role("button", name=re.compile("Resolve target")).count() == 0
        assert own.cat.erasures.run(plan.id, dry_run=False).status == "done"
        assert not (own.root / "models" / "ft.bin").exists()
        bea.context.close()
    finally:
        own.close()


def test_the_plan_page_warns_of_lineage_that_could_not_be_folded(browser: Any, tmp_path: Path) -> None:
    """A producer reported a run reading bob's folder that the catalog could not fold: the plan the
    approver reviews says that it cannot include that run, and names it."""
    from disgorge.capture import accept_event
    from tests.capture.events import airflow_task, ds, new_id
    from tests.web.test_accessibility import violations
    from tests.web.world import build

    own = build(tmp_path)
    try:
        rid = new_id()
        doc = airflow_task(
            rid,
            "START",
            time="2026-12-01T10:00:00Z",
            inputs=[ds("file", str(own.root / "photos" / "bob"))],
            outputs=[],
        )
        accept_event(own.cat.store, own.cat.principal, doc)
        ids = [i for i, _, _ in own.cat.store.pending_lineage_events(10)]
        own.cat.store.settle_pending_lineage(ids, "injected: cannot apply")
        plan, _ = own.cat.erasures.plan(
            scope=("subject", "bob"), withdrawn=False, reason="asked to", legal_basis="GDPR Art. 17"
        )
        bea = sign_in(browser, own, "bea", bypass_csp=True)
        bea.goto(f"{own.url}/erasures/{plan.id}")
        warnings = bea.locator("ul.warnings").inner_text()
        assert "The OpenLineage events of 1 captured runs could not be folded" in warnings
        assert f"run {rid}: injected: cannot apply" in warnings
        assert violations(bea) == []
        bea.context.close()
    finally:
        own.close()

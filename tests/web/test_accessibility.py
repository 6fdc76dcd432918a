"""Every page passes axe-core's checks and works from the keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import AXE
from tests.web.test_dashboard import sign_in
from tests.web.world import World


def violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


@pytest.fixture(scope="module")
def plan_id(world: World) -> str:
    """A plan requested by ann (signed with her key), awaiting approval."""
    plan, _ = world.cat.erasures.plan(
        scope=("subject", "carol"), withdrawn=False, reason="asked to", legal_basis="GDPR Art. 17"
    )
    return plan.id


PAGES = [
    ("bea", "/"),
    ("bea", "/impact"),
    ("bea", "/impact?kind=source&value=site"),
    ("bea", "/impact?kind=model&value=ft"),
    ("bea", "/impact?node=dataset:1"),
    ("bea", "/impact/bom?model=ft"),
    ("ann", "/erasures"),
    ("ann", "/erasures/new"),
    ("bea", "/erasures/{plan}"),
    ("dan", "/ledger?entry=1"),
    ("eve", "/erasures/new"),  # the refusal page
    (None, "/signin"),
    (None, "/lookup"),
]


@pytest.mark.parametrize(("who", "path"), PAGES, ids=[f"{w}:{p}" for w, p in PAGES])
def test_every_page_passes_axe(browser: Any, world: World, plan_id: str, who: str | None, path: str) -> None:
    if who is None:
        page = browser.new_context(bypass_csp=True).new_page()
    else:
        page = sign_in(browser, world, who, bypass_csp=True)
    page.goto(world.url + path.format(plan=plan_id))
    assert violations(page) == []
    page.context.close()


def test_the_lookup_answer_passes_axe(browser: Any, world: World) -> None:
    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(world.url + "/lookup")
    page.set_input_files("#photo", str(world.photo("carol", 2)))
    page.get_by_role("button", name="Look it up").click()
    page.wait_for_selector("#verdict")
    assert violations(page) == []
    page.context.close()


def _tab_to(page: Any, test: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return {test}; }}"):
            return
    raise AssertionError(f"no focusable element where {test} within {limit} tabs")


def test_keyboard_only_sign_in_navigation_and_explorer(browser: Any, world: World) -> None:
    page = browser.new_context().new_page()
    page.goto(world.url + "/signin")
    # the token field has focus on arrival; Chromium applies autofocus after the load event, so wait for it
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'token'")
    page.keyboard.type(world.tokens["bea"])
    page.keyboard.press("Enter")
    page.wait_for_url(world.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    page.goto(world.url + "/")
    _tab_to(page, "e.textContent === 'Impact'")
    page.keyboard.press("Enter")
    page.wait_for_url(world.url + "/impact")
    _tab_to(page, "e.id === 'kind'")
    page.keyboard.press("Tab")
    page.keyboard.type("site")
    page.keyboard.press("Enter")
    page.wait_for_selector("#headline")
    assert "photo" in page.locator("#headline").inner_text()

    _tab_to(page, "e.tagName === 'SUMMARY'")  # a dataset of the first hop: open it from the keyboard
    page.keyboard.press("Enter")
    page.wait_for_selector("details[open] .kids h3")
    assert "Read by runs" in page.locator("details[open] .kids").first.inner_text()
    _tab_to(page, "e.tagName === 'SUMMARY' && e.textContent.includes('pretrain')")
    page.keyboard.press("Enter")
    page.wait_for_selector("details[open] details[open] .kids h3")
    assert "base" in page.locator("details[open] details[open] .kids").first.inner_text()
    page.context.close()

"""``make screenshots``: each dashboard page of a small generated catalog, as PNGs into a folder.

Usage: python -m tests.web.screenshots docs/screenshots"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.web.conftest import ARGS, CHROMIUM
from tests.web.world import build


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="disgorge-shots-") as tmp:
        world = build(Path(tmp), photos_per_subject=4)
        try:
            plan, _ = world.cat.erasures.plan(
                scope=("subject", "carol"), withdrawn=False, reason="carol asked", legal_basis="GDPR Art. 17"
            )
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                shots = {
                    "overview": ("ann", "/", None),
                    "impact": ("ann", "/impact?kind=source&value=site", "summary"),
                    "bill-of-materials": ("ann", "/impact?kind=model&value=base", "bom"),
                    "erasures": ("ann", "/erasures", None),
                    "approve": ("bea", f"/erasures/{plan.id}", None),
                    "ledger": ("dan", "/ledger?entry=2", None),
                    "lookup": (None, "/lookup", "lookup"),
                }
                for name, (who, path, action) in shots.items():
                    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                    if who:
                        page.goto(world.url + "/signin")
                        page.fill("#token", world.tokens[who])
                        page.click("button[type=submit]")
                        page.wait_for_url(world.url + "/")
                    page.goto(world.url + path)
                    if action == "summary":
                        page.locator("summary").first.click()
                        page.wait_for_selector("details[open] .kids h3")
                        page.locator("details[open] .kids summary").first.click()
                        page.wait_for_selector("details[open] details[open] .kids h3")
                    elif action == "bom":
                        page.locator("details[data-bom] summary").click()
                        page.wait_for_selector("details[data-bom] .kids table")
                    elif action == "lookup":
                        page.set_input_files("#photo", str(world.photo("bob", 1)))
                        page.get_by_role("button", name="Look it up").click()
                        page.wait_for_selector("#verdict")
                    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    page.context.close()
                    print(f"wrote {out / name}.png")
                browser.close()
        finally:
            world.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))

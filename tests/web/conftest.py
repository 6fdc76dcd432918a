"""Browser tests: Playwright from PyPI driving Debian's Chromium (``make browser``), one browser per
session, axe-core (``make axe``) injected into each page for the accessibility check."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.world import World, build

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("DISGORGE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""As root (CI), and without the background connections this machine's closed network refuses."""


def _need(path: str | Path, how: str) -> None:
    if not Path(path).exists() and shutil.which(str(path)) is None:
        if os.environ.get("CI") or os.environ.get("DISGORGE_REQUIRE_BROWSER") == "1":
            raise AssertionError(f"{path} is missing: {how}")
        pytest.skip(f"{path} is missing: {how}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _need(CHROMIUM, "make browser")
    _need(AXE, "make axe")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build(tmp_path_factory.mktemp("web"))
    try:
        yield w
    finally:
        w.close()

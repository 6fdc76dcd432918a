"""Storage fixtures: a storage root with a sentinel outside it, and a real SeaweedFS (``seaweed``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from disgorge.storage import LocalStorage
from tests.storage.seaweed import seaweed  # noqa: F401  (session fixture, reusable elsewhere)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def local(root: Path) -> LocalStorage:
    return LocalStorage([root])

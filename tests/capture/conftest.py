from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import disgorge
from disgorge.ingest import IngestOptions
from disgorge.trust import Identity
from tests.capture.events import SPEC
from tests.conftest import claim


@pytest.fixture(autouse=True)
def _spec_present() -> None:
    if not SPEC.exists():
        pytest.skip("the OpenLineage spec (../shared/openlineage/spec) is not beside the repository")


@pytest.fixture
def lcat(
    tmp_path: Path, catalog_url: str, people: dict[str, Identity], photos: Path
) -> Iterator[disgorge.Catalog]:
    """A claimed catalog (ann admin, eve engineer) with the photos registered as dataset faces@1 from a
    source whose notice allows operating the service only."""
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url, identity=people["ann"]) as c:
        claim(c, people)
        c.add_source(
            "site",
            notice=b"we operate the service",
            uses=["essential.service"],
            recipients=["site"],
            categories=["user.content.self_image"],
        )
        c.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        c.create_dataset("faces", source="site")
        yield c

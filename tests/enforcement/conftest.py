"""The enforcement tests' world: a dating site under a contract and a consented research set."""

from __future__ import annotations

from pathlib import Path

import pytest

import disgorge
from disgorge.ingest import IngestOptions

HEADER = "subject_id,use,recipient,action,timestamp,notice_version\n"


@pytest.fixture
def world(cat: disgorge.Catalog, photos: Path) -> disgorge.Catalog:
    """The dating site ('site', contract, notice: operate the service) and a consented research set."""
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    cat.add_source(
        "research",
        notice=b"consent to train",
        uses=["train_ai_system"],
        recipients=["acme"],
        categories=["user.content.self_image"],
        legal_basis="consent",
    )
    research = photos.parent / "research"
    for s in ("alice", "bob"):
        (research / s).mkdir(parents=True)
        for p in (photos / s).iterdir():
            (research / s / p.name).write_bytes(
                p.read_bytes() + b"\0research"
            )  # distinct content, same person
    cat.ingest(
        research,
        IngestOptions(source="research", subject_from="parent-dir", workers=1, allow_non_images=True),
    )
    cat.create_dataset("research", source="research")
    return cat


def consent_file(tmp_path: Path, rows: str) -> Path:
    p = tmp_path / f"consent-{abs(hash(rows))}.csv"
    p.write_text(HEADER + rows)
    return p

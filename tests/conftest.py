"""Shared fixtures: catalogs on SQLite and PostgreSQL, homes, and generated photos.

``DISGORGE_TEST_PG`` is a PostgreSQL server URL (default: the local server); each test gets a fresh
database on it. Without a reachable server the PostgreSQL cases skip, unless ``DISGORGE_REQUIRE_PG=1``
(as in CI), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from PIL import Image

import disgorge
from disgorge.demo.corpus import face_image
from disgorge.trust import Identity

PG_URL = os.environ.get("DISGORGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_admin_dsn() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with psycopg.connect(_pg_admin_dsn(), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        if os.environ.get("DISGORGE_REQUIRE_PG") == "1":
            raise
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip("PostgreSQL is not reachable (set DISGORGE_TEST_PG)")
    with fresh_pg_database() as url:
        yield url


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database's URL, dropped afterwards."""
    name = f"dg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _no_personal_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up the developer's own ~/.config/disgorge/identity."""
    monkeypatch.delenv("DISGORGE_IDENTITY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))


PEOPLE = {name: Identity.generate(name) for name in ("ann", "bea", "cy", "eve", "dan")}
"""ann (the admin, who requests), bea and cy (approvers), eve (an engineer), dan (an auditor)."""


@pytest.fixture(scope="session")
def people() -> dict[str, Identity]:
    return PEOPLE


ROLES = {"bea": ["approver", "auditor"], "cy": ["approver"], "eve": ["engineer"], "dan": ["auditor"]}


def claim(c: disgorge.Catalog, people: dict[str, Identity]) -> None:
    """Make ann the catalog's admin and put the others on its roster (each change signed by ann)."""
    c.init()
    for name, roles in ROLES.items():
        c.change_roster("roster.add", name, key=people[name].public_key, roles=roles)


def as_(c: disgorge.Catalog, who: Identity | str) -> disgorge.Catalog:
    """The same catalog, opened by another person with their own identity."""
    identity = PEOPLE[who] if isinstance(who, str) else who
    return disgorge.open(c.home.path, catalog_url=c.store.url, identity=identity)


ACCEPTS = "sh -c 'cat > /dev/null'"
"""A delivery channel (a command) that accepts every notice."""


def accept_notices(c: disgorge.Catalog, *parties: str) -> None:
    """Give each party a channel that accepts its notices (set by ann, the admin), so plans complete."""
    for party in parties:
        c.recipients.set_channel(party, command=ACCEPTS)


def approve(c: disgorge.Catalog, plan_id: str, who: str = "bea") -> object:
    """``who`` approves the plan with their own key, in their own session."""
    with as_(c, who) as theirs:
        return theirs.erasures.approve(plan_id)


@pytest.fixture
def cat(tmp_path: Path, catalog_url: str, people: dict[str, Identity]) -> Iterator[disgorge.Catalog]:
    """A catalog on each backend, opened by its admin ann (bea approves, eve engineers), with one source
    whose notice allows operating the service only."""
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url, identity=people["ann"]) as c:
        claim(c, people)
        c.add_source(
            "site",
            notice=b"we operate the service",
            uses=["essential.service"],
            recipients=["site"],
            categories=["user.content.self_image"],
            legal_basis="contract",
        )
        yield c


@pytest.fixture
def sqlite_cat(tmp_path: Path) -> Iterator[disgorge.Catalog]:
    with disgorge.open(tmp_path / "home") as c:
        c.add_source(
            "site",
            notice=b"we operate the service",
            uses=["essential.service"],
            categories=["user.content.self_image"],
        )
        yield c


def write_photo(
    path: Path, subject: str, seed: int, size: tuple[int, int] = (320, 240), fmt: str = "JPEG"
) -> Path:
    """A real face-like JPEG (or PNG) for a subject; the same arguments give the same bytes."""
    from disgorge.demo.corpus import hash_seed

    path.parent.mkdir(parents=True, exist_ok=True)
    im: Image.Image = face_image(hash_seed(subject), seed, size)
    im.save(path, fmt, quality=90) if fmt == "JPEG" else im.save(path, fmt)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three subjects with three photos each, one folder per subject."""
    root = tmp_path / "photos"
    for s in ("alice", "bob", "carol"):
        for k in range(3):
            write_photo(root / s / f"p{k}.jpg", s, sum(map(ord, s)) * 10 + k)
    return root


ASSETS = Path(__file__).parent / "assets"


def use_s3(home: Path, seaweed: object) -> None:
    """Point a home's storage settings at a test SeaweedFS (``tests.storage.seaweed.Seaweed``)."""
    from disgorge.settings import save_s3_config

    cfg = seaweed.config()  # type: ignore[attr-defined]
    save_s3_config(
        home / "storage.json",
        {
            "endpoint_url": cfg.endpoint_url,
            "access_key_id": cfg.access_key_id,
            "secret_access_key": cfg.secret_access_key,
            "weed_master": cfg.weed_master,
            "weed_binary": cfg.weed_binary,
        },
    )


def add_training_datasets(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    """``faces``: the dating site's photos (operating the service only); ``ok``: another subject's
    photos, from a source whose notice lets acme train on them."""
    from disgorge.ingest import IngestOptions

    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    cat.add_source(
        "ok",
        notice=b"train",
        uses=["train_ai_system"],
        recipients=["acme"],
        categories=["user.content.self_image"],
    )
    mine = tmp_path / "mine" / "dave"
    mine.mkdir(parents=True)
    for p in sorted((photos / "carol").iterdir()):
        (mine / p.name).write_bytes(p.read_bytes() + b"\0")
    cat.ingest(
        mine.parent, IngestOptions(source="ok", subject_from="parent-dir", workers=1, allow_non_images=True)
    )
    cat.create_dataset("ok", source="ok")

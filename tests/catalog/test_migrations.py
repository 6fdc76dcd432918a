"""The Alembic migrations must produce exactly the ORM's schema, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from disgorge.catalog.engine import make_engine, upgrade
from disgorge.catalog.schema import Base


def test_migrations_equal_orm_schema(catalog_url: str) -> None:
    engine = make_engine(catalog_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_catalog_uses_wal(tmp_path: object) -> None:
    from pathlib import Path

    engine = make_engine(f"sqlite:///{Path(str(tmp_path)) / 'c.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_head_constant_is_alembics_head() -> None:
    """`catalog.engine.HEAD` lets a current catalog open without Alembic; it must name the real head."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from disgorge.catalog.engine import HEAD, MIGRATIONS, alembic_config

    cfg = alembic_config(create_engine("sqlite://"))
    assert MIGRATIONS.is_dir()
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD

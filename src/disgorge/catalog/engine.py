"""Engines by URL scheme (SQLite with WAL, PostgreSQL through psycopg 3) and Alembic migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from disgorge.errors import UsageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0016"
"""The newest migration's revision (a test checks it against Alembic's own head): a catalog already at
it is opened without importing Alembic, which costs a command a fifth of a second."""


def make_engine(url: str, *, busy_timeout: float = 60) -> Engine:
    """Create an engine; ``sqlite://`` (no path) is the in-memory catalog used by tests and examples.
    ``busy_timeout``: how long a SQLite statement waits for another writer's lock, in seconds."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            _private_file(Path(str(parsed.database)))
        kwargs: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-200000")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise UsageError(
                f"catalog URL {parsed.render_as_string()!r}: driver {parsed.get_driver_name()!r} is not supported",
                hint="use postgresql+psycopg://USER@HOST/DB",
            )
        return create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    raise UsageError(
        f"catalog URL {url!r}: unknown scheme {parsed.drivername!r}",
        hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
    )


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only; SQLite gives its -wal and -shm files the same
    mode. The catalog holds pseudonyms, hashes and paths: nobody else on the machine should read it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot create the catalog file {path}: {exc.strerror}") from exc


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the catalog's schema to the newest migration (idempotent)."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")

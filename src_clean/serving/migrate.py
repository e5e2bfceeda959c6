"""Alembic migrations shipped inside the package (``migrations/``), run without alembic.ini.

``upgrade(url)`` brings a database to the newest revision; the service runs it on start
(``SP500_MIGRATE_ON_START``) and ``serve --migrate`` runs it alone. On Postgres the
upgrade holds an advisory lock, so replicas starting together migrate one at a time.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from src_clean.serving.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# any constant: "sp500pre" as a 64-bit integer, the key of pg_advisory_lock
ADVISORY_LOCK_KEY = 0x7370353030707265


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged scripts (``alembic -c`` is not needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (one replica at a time on Postgres)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
                connection.commit()
            try:
                run_upgrade(connection, url, revision)
            finally:
                if postgres:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY}
                    )
                    connection.commit()
    finally:
        engine.dispose()


def run_upgrade(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    connection.commit()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

"""The migration check: one head, and upgrade on an empty database equals the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from supervision.config import PROJECT_DIR

from ..support.databases import fresh_database


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(database_url, tmp_path) as url:
        yield url


def test_the_migrations_have_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads


def test_upgrading_an_empty_database_gives_exactly_the_models(empty_database: str) -> None:
    cfg = alembic_config(empty_database)
    command.upgrade(cfg, "head")
    # alembic check raises when autogenerate would find any difference.
    command.check(cfg)


def test_principals_issued_before_revocation_existed_stay_valid_after_the_upgrade(
        empty_database: str) -> None:
    cfg = alembic_config(empty_database)
    command.upgrade(cfg, "8a938a51eb7e")  # the initial schema: no revoked_at, no expires_at
    engine = create_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO principals (role, name, token_hash, created_at) "
                              "VALUES ('regulator', '旧账号', :h, :at)"),
                         {"h": "a" * 64, "at": "2026-11-30 08:00:00"})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT name, revoked_at, expires_at FROM principals")).one()
            sessions = conn.execute(text("SELECT count(*) FROM console_sessions")).scalar()
    finally:
        engine.dispose()
    assert tuple(row) == ("旧账号", None, None)
    assert sessions == 0

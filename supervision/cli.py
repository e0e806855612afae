"""The command line: flask --app wsgi <group> <command>. Parse, call one service, print."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import db
from .config import PROJECT_DIR
from .errors import DomainError

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
principals_cli = AppGroup("principals", help="Issue API tokens.")
demo_cli = AppGroup("demo", help="The Wuxi demo data set.")


def unit_of_work(**info: Any) -> Any:
    """One transaction per command: commit on success, roll back on any error."""
    info.setdefault("settings", current_app.config["SUPERVISION"])
    return db.transaction(current_app.extensions["supervision.sessionmaker"], **info)


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_DIR / "migrations"))
    # Date-prefixed revision files sort in the order they were written.
    cfg.set_main_option("file_template",
                        "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url",
                        (url or current_app.config["SUPERVISION"]["DATABASE_URL"])
                        .replace("%", "%%"))
    return cfg


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema."""
    from alembic import command

    command.upgrade(alembic_config(), revision)
    click.echo(f"database at {revision}")


@principals_cli.command("create")
@click.option("--role", required=True, type=click.Choice(["regulator", "institution", "parent"]))
@click.option("--name", required=True)
@click.option("--institution", "institution_id", type=int, default=None)
@click.option("--district", "district_code", default=None)
def principals_create(role: str, name: str, institution_id: int | None,
                      district_code: str | None) -> None:
    """Issue a token; the token alone is the last line printed."""
    from .principals import create_principal

    try:
        with unit_of_work() as session:
            principal, token = create_principal(session, role=role, name=name,
                                                institution_id=institution_id,
                                                district_code=district_code)
            click.echo(f"principal {principal.id} ({role}) {principal.name}")
    except DomainError as exc:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(detail or exc.message) from exc
    click.echo(token)


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the Wuxi demo data set (idempotent) and print the demo tokens."""
    from .demo import seed_demo

    with unit_of_work() as session:
        result = seed_demo(session)
    if result.created:
        click.echo("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    else:
        click.echo("demo data already present; nothing added")
    click.echo("demo tokens (Authorization: Bearer <token>):")
    for role, name, token in result.tokens:
        click.echo(f"  {role:<12} {name:<24} {token}")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(principals_cli)
    app.cli.add_command(demo_cli)

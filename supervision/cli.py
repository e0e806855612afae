"""The command line: flask --app wsgi <group> <command>. Parse, call one service, print."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from . import db
from .clock import SHANGHAI
from .config import PROJECT_DIR
from .errors import DomainError

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
principals_cli = AppGroup("principals", help="Issue, list and revoke API tokens.")
demo_cli = AppGroup("demo", help="The Wuxi demo data set.")
trustee_cli = AppGroup("trustee", help="The trustee: sandbox, statements, deliveries.")
compliance_cli = AppGroup("compliance", help="The compliance engine.")


def unit_of_work(**info: Any) -> Any:
    """One unit of work per command: commit on success, roll back on any error (the
    trustee and statement commands are workers: several short units of work of their own)."""
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
                        (url or current_app.config["SUPERVISION"].database_url)
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
@click.option("--expires-days", "expires_days", type=int, default=None,
              help="The token stops working after this many days (default: never).")
def principals_create(role: str, name: str, institution_id: int | None,
                      district_code: str | None, expires_days: int | None) -> None:
    """Issue a token; the token alone is the last line printed."""
    from .access.principals import create_principal

    try:
        with unit_of_work() as session:
            principal, token = create_principal(session, role=role, name=name,
                                                institution_id=institution_id,
                                                district_code=district_code,
                                                expires_in_days=expires_days)
            click.echo(f"principal {principal.id} ({role}) {principal.name}")
            if principal.expires_at is not None:
                click.echo(f"expires {_local(principal.expires_at)}")
    except DomainError as exc:
        raise _click_error(exc) from exc
    click.echo(token)


def _click_error(exc: DomainError) -> click.ClickException:
    detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
    return click.ClickException(detail or exc.message)


def _local(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(SHANGHAI).isoformat(timespec="minutes")


@principals_cli.command("list")
def principals_list() -> None:
    """List principals, tab-separated: never their tokens or token hashes."""
    from .access.principals import list_principals

    with unit_of_work() as session:
        rows = [(str(p.id), p.role, p.name, str(p.institution_id or "-"),
                 p.district_code or "-", _local(p.created_at), _local(p.expires_at),
                 _local(p.revoked_at)) for p in list_principals(session)]
    click.echo("\t".join(("id", "role", "name", "institution", "district", "created",
                          "expires", "revoked")))
    for row in rows:
        click.echo("\t".join(row))


@principals_cli.command("revoke")
@click.option("--id", "principal_id", required=True, type=int)
def principals_revoke(principal_id: int) -> None:
    """Revoke a principal: its token gets 401 at once and its console sessions end."""
    from .access.principals import revoke_principal

    try:
        with unit_of_work() as session:
            principal, changed = revoke_principal(session, principal_id)
            label = f"principal {principal.id} ({principal.role}) {principal.name}"
            revoked_at = _local(principal.revoked_at)
    except DomainError as exc:
        raise _click_error(exc) from exc
    if changed:
        click.echo(f"{label} revoked at {revoked_at}; its console sessions are ended")
    else:
        click.echo(f"{label} was already revoked at {revoked_at}; nothing changed")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the Wuxi demo data set (idempotent) and print the demo tokens."""
    from .devtools.demo import seed_demo

    with unit_of_work() as session:
        result = seed_demo(session)
    if result.created:
        click.echo("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    else:
        click.echo("demo data already present; nothing added")
    click.echo("demo tokens (Authorization: Bearer <token>):")
    for role, name, token in result.tokens:
        click.echo(f"  {role:<12} {name:<24} {token}")


@trustee_cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--callback-url", default="http://127.0.0.1:5000/api/v1/trustee/events",
              show_default=True, help="Where the sandbox posts its signed events.")
@click.option("--delay", default=1.0, show_default=True, type=float,
              help="Seconds before an accepted instruction is executed.")
def trustee_sandbox(host: str, port: int, callback_url: str, delay: float) -> None:
    """A local stand-in trustee (foreground): accepts instructions, executes them, calls back."""
    from .devtools.trustee_sandbox import run as run_sandbox

    click.echo(f"trustee sandbox on http://{host}:{port} → events to {callback_url}")
    run_sandbox(host=host, port=port, secret=current_app.config["SUPERVISION"].trustee_secret,
                callback_url=callback_url, delay=delay)



@trustee_cli.command("pull-statements")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The statement date (default: yesterday, Asia/Shanghai).")
def trustee_pull_statements(day: Any) -> None:
    """Fetch and reconcile the trustee's statements of every account with custody activity."""
    from .workers.statements import pull_statements

    app = current_app
    count = pull_statements(app.extensions["supervision.sessionmaker"],
                            app.config["SUPERVISION"], day.date() if day else None)
    click.echo(f"{count} statement(s) imported")


@trustee_cli.command("deliver-pending")
def trustee_deliver_pending() -> None:
    """Send every pending instruction to the trustee now (what the retry job does)."""
    from .workers.trustee import deliver_pending

    app = current_app
    count = deliver_pending(app.extensions["supervision.sessionmaker"], app.config["SUPERVISION"])
    click.echo(f"{count} instruction(s) accepted by the trustee")


@compliance_cli.command("run")
@click.option("--as-of", "as_of", default=None,
              help="ISO 8601 with an offset, e.g. 2026-12-07T19:00:00+08:00 (default: now).")
@click.option("--horizon-days", default=30, show_default=True, type=click.IntRange(0, 366))
@click.option("--lookback-days", default=7, show_default=True, type=click.IntRange(0, 366))
def compliance_run(as_of: str | None, horizon_days: int, lookback_days: int) -> None:
    """One compliance run; prints its summary."""
    from .access.scope import SYSTEM
    from .compliance.runs import parse_as_of, run_compliance, summary_lines

    try:
        moment = parse_as_of(as_of)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from exc
    with unit_of_work(actor=SYSTEM) as session:
        run = run_compliance(session, SYSTEM, as_of=moment, horizon_days=horizon_days,
                             lookback_days=lookback_days)
        lines = summary_lines(run)
    click.echo("\n".join(lines))


@click.command("scheduler")
@with_appcontext
@click.option("--list", "list_jobs", is_flag=True, help="Print the timetable and exit.")
@click.option("--run", "run_once", default=None, metavar="JOB_ID",
              help="Run one job now (for its current period) and exit.")
def scheduler_command(list_jobs: bool, run_once: str | None) -> None:
    """The one scheduler process (blocks). Start exactly one per deployment; two are safe."""
    from . import scheduler

    if list_jobs:
        for job in scheduler.JOBS:
            click.echo(f"{job.id:<28} {job.trigger!s:<32} {job.description}")
        return
    if run_once is not None:
        if run_once not in scheduler.JOBS_BY_ID:
            raise click.BadParameter(f"unknown job {run_once}", param_hint="--run")
        outcome = scheduler.run_job(current_app._get_current_object(),  # type: ignore[attr-defined]
                                    run_once)
        click.echo(f"{outcome.job_id} {outcome.period_key}: "
                   f"{outcome.detail if outcome.ran else 'skipped, ' + outcome.detail}")
        return
    click.echo(f"scheduler: {len(scheduler.JOBS)} jobs, Asia/Shanghai; Ctrl-C stops")
    scheduler.build_scheduler(current_app._get_current_object()).start()  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(principals_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(trustee_cli)
    app.cli.add_command(compliance_cli)
    app.cli.add_command(scheduler_command)

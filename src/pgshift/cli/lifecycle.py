"""The lifecycle commands: ``wait``, ``db create``, ``db drop``, ``drift``, ``import`` and
``squash``. Thin: they resolve the settings, call :mod:`pgshift.lifecycle` and print;
errors reach the one catch site."""

from __future__ import annotations

from pathlib import Path

import click

from pgshift.cli.context import (
    checked_scratch_url,
    database_url,
    migrator_for,
    offline_migrator,
    settings_for,
)
from pgshift.cli.options import global_options, global_opts
from pgshift.cli.output import confirm


def _echo_result(ctx: click.Context, text: str, document: dict[str, object]) -> None:
    from pgshift.render import results as render

    opts = global_opts(ctx)
    if opts.get("as_json"):
        click.echo(render.to_json(document))
    elif not opts.get("quiet"):
        click.echo(text)


@click.command()
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="Give up (exit 1) after SECONDS.")
@click.option("--for-current", is_flag=True,
              help="Wait until no migration is pending (for application replicas starting "
              "beside a migration job).")
@global_options
@click.pass_context
def wait(ctx: click.Context, timeout: float, for_current: bool) -> None:
    """Wait until the server accepts connections (exit 0), or give up at the timeout
    (exit 1). A refused login is reported at once: waiting would not help."""
    from pgshift.lifecycle.wait import wait as wait_for
    from pgshift.render import lifecycle as render

    migrator = migrator_for(ctx) if for_current else None
    url = migrator.database_url if migrator is not None else database_url(ctx, settings_for(ctx))
    opts = global_opts(ctx)
    said: list[str] = []

    def on_attempt(reason: str) -> None:
        if opts.get("quiet") or opts.get("as_json"):
            return
        if opts.get("verbose") or not said:
            click.echo(f"waiting (up to {timeout:g} s): {reason}", err=True)
        said.append(reason)

    result = wait_for(url, timeout=timeout, migrator=migrator, on_attempt=on_attempt)
    _echo_result(ctx, render.wait_text(result), render.wait_json(result))


@click.group()
def db() -> None:
    """Create or drop the database named by the URL (through the postgres maintenance
    database, else template1)."""


@db.command("create")
@global_options
@click.pass_context
def db_create(ctx: click.Context) -> None:
    """Create the database of the URL; exit 0 saying so when it exists already."""
    from pgshift.lifecycle.database import create_database
    from pgshift.render import lifecycle as render

    result = create_database(database_url(ctx, settings_for(ctx)))
    _echo_result(ctx, render.database_text(result), render.database_json(result))


@db.command("drop")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True,
              help="End the other sessions connected to the database first "
              "(PostgreSQL 13 and later).")
@global_options
@click.pass_context
def db_drop(ctx: click.Context, yes: bool, force: bool) -> None:
    """Drop the database of the URL and everything in it (destructive; asks on a
    terminal, refuses without one unless --yes)."""
    from pgshift.db.connect import describe_target
    from pgshift.lifecycle.database import drop_database, target_database
    from pgshift.render import lifecycle as render

    conninfo = database_url(ctx, settings_for(ctx))
    name = target_database(conninfo)
    server = describe_target(conninfo).rsplit("/", 1)[0]
    confirm(f"db drop deletes the database {name!r} on {server} with everything in it", yes)
    result = drop_database(conninfo, force=force)
    _echo_result(ctx, render.database_text(result), render.database_json(result))


@click.command()
@click.option("--scratch-url", metavar="URL", default=None,
              help="Server to replay the migrations on (default: the embedded server in "
              "./.pgshift). Never the target database.")
@global_options
@click.pass_context
def drift(ctx: click.Context, scratch_url: str | None) -> None:
    """Replay the recorded migrations on a scratch database and compare its schema with
    the database's (read-only): every object missing, extra or different. Exit 1 when
    anything differs."""
    from pgshift.lifecycle.drift import drift as find_drift
    from pgshift.render import lifecycle as render

    opts = global_opts(ctx)
    report = find_drift(migrator_for(ctx), scratch_url=checked_scratch_url(ctx, scratch_url),
                        embedded_dir=settings_for(ctx).embedded_dir)
    if opts.get("as_json"):
        _echo_result(ctx, "", render.drift_json(report))
    else:
        if not opts.get("quiet"):
            for warning in report.warnings:
                click.echo(f"warning: {warning}", err=True)
        if not opts.get("quiet") or not report.ok:
            click.echo(render.drift_text(report))
    if not report.ok:
        ctx.exit(1)


@click.command("import")
@click.option("--from", "tool", required=True,
              type=click.Choice(["dbmate", "goose", "golang-migrate", "flyway"]),
              help="The tool whose migrations to adopt.")
@click.argument("source_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be written and recorded.")
@global_options
@click.pass_context
def import_(ctx: click.Context, tool: str, source_dir: Path, dry_run: bool) -> None:
    """Convert another tool's SQL migrations in SOURCE_DIR into pgshift files in --dir, and
    record in batch 0 those its history table lists as applied (never changing that table)."""
    from pgshift.lifecycle.importing import TOOLS, import_migrations
    from pgshift.render import lifecycle as render

    chosen = next(t for t in TOOLS if t == tool)
    result = import_migrations(migrator_for(ctx), chosen, source_dir, dry_run=dry_run)
    opts = global_opts(ctx)
    if not opts.get("quiet") and not opts.get("as_json"):
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    _echo_result(ctx, render.import_text(result), render.import_json(result))


@click.command()
@click.option("--to", "to", required=True, metavar="NAME",
              help="The last migration to squash (it and every one before it).")
@click.option("--keep", is_flag=True, help="Move the replaced files to DIR/squashed/ "
              "instead of removing them.")
@click.option("--dry-run", is_flag=True, help="Build and prove the squash file; write "
              "nothing.")
@click.option("--scratch-url", metavar="URL", default=None,
              help="Server for the scratch databases (default: the embedded server in "
              "./.pgshift).")
@global_options
@click.pass_context
def squash(ctx: click.Context, to: str, keep: bool, dry_run: bool,
           scratch_url: str | None) -> None:
    """Replace the migrations up to NAME by one file, DIR/<NAME's number>_squashed.sql,
    holding the schema and rows they build — proven equal on scratch databases before
    anything is written (exit 1 with the differences otherwise). Databases that applied
    every replaced migration adopt it; empty ones run it."""
    from pgshift.lifecycle.squash import squash as squash_files
    from pgshift.render import lifecycle as render

    settings = settings_for(ctx)
    report = squash_files(offline_migrator(settings), to, keep=keep, dry_run=dry_run,
                          scratch_url=checked_scratch_url(ctx, scratch_url),
                          embedded_dir=settings.embedded_dir)
    opts = global_opts(ctx)
    if opts.get("as_json"):
        _echo_result(ctx, "", render.squash_json(report))
    elif not opts.get("quiet") or not report.ok:
        click.echo(render.squash_text(report))
    if not report.ok:
        ctx.exit(1)

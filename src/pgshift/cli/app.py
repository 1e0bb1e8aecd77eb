"""The ``pgshift`` command: parse arguments, call :class:`pgshift.Migrator`, render.

This is the one place that turns a :class:`PgshiftError` into a message and an exit
code. Heavy modules (psycopg, pglast, rich) are imported only by the commands that need
them, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pgshift.cli.options import (
    _confirm,
    _conninfo,
    _migrator,
    _opts,
    _print_result,
    _settings,
    atomic_option,
    global_options,
    run_options,
    strict_option,
)
from pgshift.errors import PgshiftError, Terminated

__all__ = ["_conninfo", "_opts", "_settings", "global_options", "main"]

ALIASES = {
    "migrate:status": "status",
    "migrate:rollback": "rollback",
    "migrate:reset": "reset",
    "migrate:refresh": "refresh",
    "migrate:create": "create",
    "migrate:up": "migrate",
}


class PgshiftGroup(click.Group):
    """Knows the colon aliases and maps pgshift's errors to exit codes."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command else name), command, rest

    def invoke(self, ctx: click.Context) -> Any:
        with _signals_as_exceptions():
            try:
                return super().invoke(ctx)
            except PgshiftError as error:
                _report(ctx, error)
                ctx.exit(error.exit_code)
            except KeyboardInterrupt as interrupt:
                number = int(getattr(interrupt, "signal_number", signal.SIGINT))
                click.echo("interrupted", err=True)
                ctx.exit(128 + number)


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C: the running transaction is rolled back."""

    def on_term(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(ctx: click.Context, error: PgshiftError) -> None:
    from pgshift.config import redact
    from pgshift.render import results as render

    opts = _opts(ctx)
    secrets = ctx.find_root().meta.get("pgshift.secrets", ())
    if opts.get("verbose"):
        import traceback

        click.echo(redact(traceback.format_exc(), tuple(secrets)), err=True)
    click.echo(render.error_text(error, secrets), err=True)
    if opts.get("as_json"):
        click.echo(render.to_json(render.error_json(error), secrets))


@click.group(cls=PgshiftGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Colon aliases: migrate:status, migrate:rollback, migrate:reset, "
             "migrate:refresh, migrate:create.")
@global_options
def main() -> None:
    """Schema migrations for PostgreSQL: .sql files with -- UP and -- DOWN sections,
    applied in order, recorded in a tracking table, grouped into batches."""


# --- commands -----------------------------------------------------------------------


@main.command()
@strict_option
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Apply only the next N pending migrations.")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Apply pending migrations up to and including NAME.")
@click.option("--dry-run", is_flag=True, help="Show what would run (same as pgshift plan).")
@click.option("--dump-schema", metavar="FILE", default=None,
              help="After migrating, write the schema (pg_dump --schema-only) to FILE.")
@atomic_option
@run_options
@global_options
@click.pass_context
def migrate(ctx: click.Context, strict: bool | None, step: int | None, to: str | None,
            dry_run: bool, dump_schema: str | None, atomic: bool | None,
            lock_wait: float | None, lock_timeout: float | None,
            lock_retries: int | None) -> None:
    """Apply every pending migration, in order, as one new batch."""
    migrator = _migrator(ctx, strict=strict, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries, atomic=atomic)
    if dry_run:
        return _review_hook(ctx, "plan_migrate", migrator, step=step, to=to)
    _print_result(ctx, migrator.migrate(step=step, to=to))
    if dump_schema:
        _review_hook(ctx, "dump_after_migrate", migrator, path=dump_schema)
    return None


def _review_hook(ctx: click.Context, name: str, migrator: Any, **options: Any) -> None:
    """Dry runs and schema dumps are rendered by the review commands' module."""

    getattr(cli_review, name)(ctx, migrator, **options)


@main.command()
@global_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """List every migration with its state, batch and time; then a summary."""
    from pgshift.render import results as render

    report = _migrator(ctx).status()
    opts = _opts(ctx)
    if not opts.get("as_json") and not opts.get("quiet"):
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
    if opts.get("as_json"):
        click.echo(render.to_json(render.status_json(report)))
    elif sys.stdout.isatty():
        render.print_status_table(report, verbose=bool(opts.get("verbose")),
                                  color="NO_COLOR" not in os.environ)
    else:
        click.echo(render.status_text(report, verbose=bool(opts.get("verbose"))))


@main.command()
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Roll back the last N migrations, whatever their batches.")
@click.option("--batch", type=int, default=None, metavar="N",
              help="Roll back batch N (only if it is the latest).")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Roll back everything applied after NAME (NAME stays applied).")
@click.option("--dry-run", is_flag=True, help="Show what would be rolled back.")
@atomic_option
@run_options
@global_options
@click.pass_context
def rollback(ctx: click.Context, step: int | None, batch: int | None, to: str | None,
             dry_run: bool, atomic: bool | None, lock_wait: float | None,
             lock_timeout: float | None, lock_retries: int | None) -> None:
    """Roll back the last batch, newest migration first."""
    migrator = _migrator(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries, atomic=atomic)
    if dry_run:
        return _review_hook(ctx, "plan_rollback", migrator, step=step, batch=batch, to=to,
                            everything=False)
    _print_result(ctx, migrator.rollback(step=step, batch=batch, to=to))
    return None


@main.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be rolled back.")
@atomic_option
@run_options
@global_options
@click.pass_context
def reset(ctx: click.Context, yes: bool, dry_run: bool, atomic: bool | None,
          lock_wait: float | None, lock_timeout: float | None,
          lock_retries: int | None) -> None:
    """Roll back every batch, newest first (destructive)."""
    if dry_run:
        migrator = _migrator(ctx, lock_wait=lock_wait)
        return _review_hook(ctx, "plan_rollback", migrator, step=None, batch=None, to=None,
                            everything=True)
    _confirm("reset rolls back EVERY applied migration", yes)
    migrator = _migrator(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries, atomic=atomic)
    _print_result(ctx, migrator.reset())
    return None


@main.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@strict_option
@atomic_option
@run_options
@global_options
@click.pass_context
def refresh(ctx: click.Context, yes: bool, strict: bool | None, atomic: bool | None,
            lock_wait: float | None, lock_timeout: float | None,
            lock_retries: int | None) -> None:
    """Reset, then migrate everything again as batch 1 (destructive)."""
    _confirm("refresh rolls back EVERY applied migration, then applies them again", yes)
    migrator = _migrator(ctx, strict=strict, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries, atomic=atomic)
    _print_result(ctx, migrator.refresh())


@main.command()
@strict_option
@atomic_option
@run_options
@global_options
@click.pass_context
def redo(ctx: click.Context, strict: bool | None, atomic: bool | None,
         lock_wait: float | None, lock_timeout: float | None,
         lock_retries: int | None) -> None:
    """Roll back the last batch and apply it again (tests its DOWN sections)."""
    migrator = _migrator(ctx, strict=strict, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries, atomic=atomic)
    _print_result(ctx, migrator.redo())


@main.command()
@click.argument("name", nargs=-1, required=True)
@global_options
@click.pass_context
def create(ctx: click.Context, name: tuple[str, ...]) -> None:
    """Write DIR/<next number>_<NAME>.sql from the template and print its path.

    NAME is lowercased; spaces and '-' become '_' (several words are joined)."""
    from pgshift.engine.migrator import create_migration

    path = create_migration(_settings(ctx).directory, " ".join(name))
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    if _opts(ctx).get("as_json"):
        from pgshift.render import results as render

        click.echo(render.to_json({"path": str(shown)}))
    else:
        click.echo(str(shown))


# Registers the remaining commands on `main` (kept in their own modules by concern).
from pgshift.cli import ops as cli_ops  # noqa: E402, F401
from pgshift.cli import review as cli_review  # noqa: E402

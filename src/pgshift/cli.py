"""The ``pgshift`` command: parse arguments, call :class:`pgshift.Migrator`, render.

This is the one place that turns a :class:`PgshiftError` into a message and an exit
code. Heavy modules (psycopg, pglast, rich) are imported only by the commands that need
them, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pgshift._version import __version__
from pgshift.errors import PgshiftError, Terminated, UsageRefused

if TYPE_CHECKING:
    from pgshift.config import Settings
    from pgshift.migrator import Migrator
    from pgshift.results import Event

F = TypeVar("F", bound=Callable[..., Any])
ALIASES = {
    "migrate:status": "status",
    "migrate:rollback": "rollback",
    "migrate:reset": "reset",
    "migrate:refresh": "refresh",
    "migrate:create": "create",
    "migrate:up": "migrate",
}
_META = "pgshift.options"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Global options may stand before or after the command: the last one given wins."""
    if value is not None and value is not False and param.name:
        ctx.find_root().meta.setdefault(_META, {})[param.name] = value
    return value


def global_options(f: F) -> F:
    options = [
        click.option("--database-url", metavar="URL", expose_value=False, callback=_store,
                     help="PostgreSQL URL or key=value string (default: $DATABASE_URL, "
                     "else the embedded server in ./.pgshift)."),
        click.option("--dir", "directory", metavar="DIR", expose_value=False, callback=_store,
                     help="Migrations directory (default: [tool.pgshift] dir, else ./migrations)."),
        click.option("--table", metavar="NAME", expose_value=False, callback=_store,
                     help="Tracking table, optionally schema-qualified (default: _migrations)."),
        click.option("--env-file", metavar="PATH", expose_value=False, callback=_store,
                     help="Read variables from this file instead of ./.env."),
        click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_store,
                     help="Print one JSON document on stdout."),
        click.option("--verbose", "-v", is_flag=True, expose_value=False, callback=_store,
                     help="More detail; tracebacks on errors."),
        click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=_store,
                     help="Print only errors (and status's table)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _opts(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.find_root().meta.get(_META, {}))


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
    from pgshift import render
    from pgshift.config import redact

    opts = _opts(ctx)
    secrets = ctx.find_root().meta.get("pgshift.secrets", ())
    if opts.get("verbose"):
        click.echo(redact(traceback.format_exc(), tuple(secrets)), err=True)
    click.echo(render.error_text(error, secrets), err=True)
    if opts.get("as_json"):
        click.echo(render.to_json(render.error_json(error), secrets))


@click.group(cls=PgshiftGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Colon aliases: migrate:status, migrate:rollback, migrate:reset, "
             "migrate:refresh, migrate:create.")
@click.version_option(__version__, "--version", prog_name="pgshift")
@global_options
def main() -> None:
    """Schema migrations for PostgreSQL: .sql files with -- UP and -- DOWN sections,
    applied in order, recorded in a tracking table, grouped into batches."""


# --- shared plumbing ------------------------------------------------------------------


def _settings(ctx: click.Context) -> Settings:
    from pgshift.config import CliValues, resolve

    opts = _opts(ctx)
    settings = resolve(
        CliValues(opts.get("database_url"), opts.get("directory"), opts.get("table"),
                  opts.get("env_file")),
        os.environ,
        Path.cwd(),
    )
    ctx.find_root().meta["pgshift.secrets"] = settings.secrets
    return settings


def _conninfo(ctx: click.Context, settings: Settings) -> str:
    if settings.conninfo is not None:
        return settings.conninfo
    from pgshift import embedded
    from pgshift.errors import ConnectionFailed

    try:
        server, started = embedded.ensure_running(settings.embedded_dir)
    except embedded.EmbeddedError as error:
        raise ConnectionFailed(f"the embedded PostgreSQL could not be started: {error}",
                               hint="set DATABASE_URL to use another server") from None
    if not _opts(ctx).get("quiet"):
        verb = "started" if started else "using"
        click.echo(f"pgshift: no DATABASE_URL: {verb} the embedded PostgreSQL {server.version} "
                   f"in ./{settings.embedded_dir.name} ({server.url})", err=True)
    return server.url


def _migrator(ctx: click.Context, **options: Any) -> Migrator:
    from pgshift.migrator import Migrator

    settings = _settings(ctx)
    conninfo = _conninfo(ctx, settings)
    quiet, verbose = _opts(ctx).get("quiet"), _opts(ctx).get("verbose")
    parts = [p for p in (settings.table_schema, settings.table_name) if p is not None]
    table = ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    def on_event(event: Event) -> None:
        if quiet:
            return
        if event.kind in ("warning", "notice", "lock-wait", "retry"):
            click.echo(f"{event.kind.replace('-', ' ')}: {event.message}", err=True)
        elif verbose and event.kind in ("applied", "reverted"):
            click.echo(f"  {event.message} ({event.duration_ms} ms)", err=True)

    return Migrator(conninfo, settings.directory, table=table,
                    on_event=on_event, **options)


def _print_result(ctx: click.Context, result: Any) -> None:
    from pgshift import render

    opts = _opts(ctx)
    if opts.get("as_json"):
        click.echo(render.to_json(render.run_json(result)))
    elif not opts.get("quiet"):
        click.echo(render.run_text(result))


def run_options(f: F) -> F:
    options = [
        click.option("--lock-wait", type=click.FloatRange(min=0), metavar="SECONDS",
                     default=None, help="Give up (exit 1) if the migration lock is not "
                     "obtained within SECONDS (default: wait, reporting every 10 s)."),
        click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                     default=5.0, show_default=True, help="PostgreSQL lock_timeout for the "
                     "statements of transactional migrations (0: off); retried with backoff."),
        click.option("--lock-retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Retries of a migration whose statements hit the lock_timeout."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _confirm(command: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageRefused(
            f"{command} is destructive (it rolls back every migration) and there is no "
            "terminal to confirm on: pass --yes to proceed"
        )
    if not click.confirm(f"{command} rolls back EVERY applied migration. Continue?", err=True):
        raise UsageRefused(f"{command} cancelled: nothing was changed")


# --- commands -----------------------------------------------------------------------


@main.command()
@click.option("--strict", is_flag=True, help="Refuse on drift; fail on 'already exists'.")
@run_options
@global_options
@click.pass_context
def migrate(ctx: click.Context, strict: bool, lock_wait: float | None, lock_timeout: float,
            lock_retries: int) -> None:
    """Apply every pending migration, in order, as one new batch."""
    migrator = _migrator(ctx, strict=strict, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries)
    _print_result(ctx, migrator.migrate())


@main.command()
@global_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """List every migration with its state, batch and time; then a summary."""
    from pgshift import render

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
@run_options
@global_options
@click.pass_context
def rollback(ctx: click.Context, lock_wait: float | None, lock_timeout: float,
             lock_retries: int) -> None:
    """Roll back the last batch, newest migration first."""
    migrator = _migrator(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries)
    _print_result(ctx, migrator.rollback())


@main.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@run_options
@global_options
@click.pass_context
def reset(ctx: click.Context, yes: bool, lock_wait: float | None, lock_timeout: float,
          lock_retries: int) -> None:
    """Roll back every batch, newest first (destructive)."""
    _confirm("reset", yes)
    migrator = _migrator(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries)
    _print_result(ctx, migrator.reset())


@main.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--strict", is_flag=True, help="Refuse on drift; fail on 'already exists'.")
@run_options
@global_options
@click.pass_context
def refresh(ctx: click.Context, yes: bool, strict: bool, lock_wait: float | None,
            lock_timeout: float, lock_retries: int) -> None:
    """Reset, then migrate everything again as batch 1 (destructive)."""
    _confirm("refresh", yes)
    migrator = _migrator(ctx, strict=strict, lock_wait=lock_wait, lock_timeout=lock_timeout,
                         lock_retries=lock_retries)
    _print_result(ctx, migrator.refresh())


@main.command()
@click.argument("name", nargs=-1, required=True)
@global_options
@click.pass_context
def create(ctx: click.Context, name: tuple[str, ...]) -> None:
    """Write DIR/<next number>_<NAME>.sql from the template and print its path.

    NAME is lowercased; spaces and '-' become '_' (several words are joined)."""
    from pgshift.migrator import create_migration

    path = create_migration(_settings(ctx).directory, " ".join(name))
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    if _opts(ctx).get("as_json"):
        from pgshift import render

        click.echo(render.to_json({"path": str(shown)}))
    else:
        click.echo(str(shown))


@main.group()
def embedded() -> None:
    """The local PostgreSQL kept in ./.pgshift (used when no database is configured)."""


@embedded.command("url")
@global_options
@click.pass_context
def embedded_url(ctx: click.Context) -> None:
    """Start the embedded server if needed and print a URL psql can use."""
    from pgshift import embedded as emb
    from pgshift.errors import ConnectionFailed

    try:
        server, _ = emb.ensure_running(_settings(ctx).embedded_dir)
    except emb.EmbeddedError as error:
        raise ConnectionFailed(f"the embedded PostgreSQL could not be started: {error}") from None
    click.echo(server.url)


@embedded.command("stop")
@global_options
@click.pass_context
def embedded_stop(ctx: click.Context) -> None:
    """Stop the embedded server (its data stays in ./.pgshift)."""
    from pgshift import embedded as emb

    stopped = emb.stop(_settings(ctx).embedded_dir)
    click.echo("stopped" if stopped else "not running", err=True)

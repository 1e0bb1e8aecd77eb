"""Plumbing shared by the ``pgshift`` commands: global options, settings, the embedded
fallback, building a :class:`Migrator`, printing results, confirmation, progress.

Only the click command modules (``cli``, ``cli_ops``, ``cli_review``) use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pgshift._version import __version__
from pgshift.errors import ConfigError, UsageRefused

if TYPE_CHECKING:
    from pgshift.config import Settings
    from pgshift.engine.migrator import Migrator
    from pgshift.results import Event

F = TypeVar("F", bound=Callable[..., Any])
_META = "pgshift.options"
_PROGRESS_AFTER_SECONDS = 1.0
_PROGRESS_AT_ONCE_FROM = 4


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
        click.version_option(__version__, "--version", prog_name="pgshift"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _opts(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.find_root().meta.get(_META, {}))


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
    from pgshift.embedded import server as embedded
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


def _project_option(settings: Settings, key: str, value: Any, kind: type) -> Any:
    """A command-line value, else ``[tool.pgshift] key``, checked for its type."""
    if value is not None:
        return value
    found = settings.project.get(key)
    if found is None:
        return None
    if kind is float and isinstance(found, int) and not isinstance(found, bool):
        found = float(found)
    if not isinstance(found, kind) or (kind is not bool and isinstance(found, bool)):
        raise ConfigError(f"[tool.pgshift] {key} = {found!r} must be a {kind.__name__}")
    return found


def _migrator(ctx: click.Context, **options: Any) -> Migrator:
    """A Migrator for the resolved settings; ``None`` options fall back to
    ``[tool.pgshift]`` and then to the library defaults."""
    from pgshift.engine.migrator import Migrator

    settings = _settings(ctx)
    kinds = {"strict": bool, "atomic": bool, "lock_wait": float, "lock_timeout": float}
    for key, kind in kinds.items():
        if key in options:
            options[key] = _project_option(settings, key, options[key], kind)
    options = {k: v for k, v in options.items() if v is not None}
    conninfo = _conninfo(ctx, settings)
    parts = [p for p in (settings.table_schema, settings.table_name) if p is not None]
    table = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
    from pgshift.engine.cache import FactsCache, default_path

    cache = FactsCache(default_path(settings.directory, os.environ))
    ctx.call_on_close(cache.save)
    return Migrator(conninfo, settings.directory, table=table, on_event=_reporter(ctx),
                    facts=cache.facts, **options)


def _reporter(ctx: click.Context) -> Callable[[Event], None]:
    """Events → stderr lines, and a progress bar on a terminal for long runs."""
    opts = _opts(ctx)
    quiet, verbose = opts.get("quiet"), opts.get("verbose")
    bar = None if quiet or opts.get("as_json") or not sys.stderr.isatty() else _ProgressBar()

    def on_event(event: Event) -> None:
        if quiet:
            return
        if bar is not None:
            bar.update(event)
        if event.kind in ("warning", "notice", "lock-wait", "retry", "lint"):
            click.echo(f"{event.kind.replace('-', ' ')}: {event.message}", err=True)
        elif verbose and event.kind in ("applied", "reverted"):
            click.echo(f"  {event.message} ({event.duration_ms} ms)", err=True)

    return on_event


class _ProgressBar:
    """A transient rich progress bar on stderr: shown at once for a run of several
    migrations, or when a single one takes longer than a second."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._timer: Any = None

    def update(self, event: Event) -> None:
        if event.kind == "batch-start" and event.total:
            self._create(event.total, event.message)
            if event.total >= _PROGRESS_AT_ONCE_FROM:
                self._progress.start()
            else:
                import threading

                self._timer = threading.Timer(_PROGRESS_AFTER_SECONDS, self._progress.start)
                self._timer.daemon = True
                self._timer.start()
        elif self._progress is not None and event.kind in ("applying", "reverting"):
            self._progress.update(self._task, description=event.message)
        elif self._progress is not None and event.kind in ("applied", "reverted"):
            self._progress.advance(self._task)
        elif event.kind == "batch-end":
            self.close()

    def _create(self, total: int, description: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.close()
        self._progress = Progress(
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True, no_color="NO_COLOR" in os.environ), transient=True,
        )
        self._task = self._progress.add_task(description, total=total)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._progress is not None:
            self._progress.stop()
        self._progress = None


def _print_result(ctx: click.Context, result: Any) -> None:
    from pgshift.render import results as render

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
                     default=None, help="PostgreSQL lock_timeout for the statements of "
                     "transactional migrations (default 5; 0: off); retried with backoff."),
        click.option("--lock-retries", type=click.IntRange(min=0), default=None,
                     help="Retries of a migration whose statements hit the lock_timeout "
                     "(default 3)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def strict_option(f: F) -> F:
    return click.option(
        "--strict", is_flag=True, default=None,
        help="Refuse on drift and on lint warnings or errors; fail on 'already exists' "
        "(default: [tool.pgshift] strict, else off).",
    )(f)


def atomic_option(f: F) -> F:
    return click.option(
        "--atomic/--no-atomic", default=None,
        help="All migrations of the run in one transaction: all applied or none "
        "(default: [tool.pgshift] atomic, else off).",
    )(f)


def _confirm(what: str, yes: bool) -> None:
    """Ask on a terminal; refuse (exit 2) without one unless ``yes``."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageRefused(
            f"{what} and there is no terminal to confirm on: pass --yes to proceed"
        )
    if not click.confirm(f"{what}. Continue?", err=True):
        raise UsageRefused("cancelled: nothing was changed")

"""The options of the ``pgshift`` commands: the global options (accepted before or after
the command name), the run options, ``--strict`` and ``--atomic``; and
:func:`global_opts`, the global options' values for a command.

Only the command modules of :mod:`pgshift.cli` use it; it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pgshift._version import __version__

F = TypeVar("F", bound=Callable[..., Any])
_META = "pgshift.options"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Global options may stand before or after the command: the last one given wins."""
    if value is not None and value is not False and value != () and param.name:
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
        click.option("--var", "variables", metavar="NAME=VALUE", multiple=True,
                     expose_value=False, callback=_store,
                     help="Value of the placeholder ${NAME} (repeatable; before "
                     "PGSHIFT_VAR_NAME and [tool.pgshift.vars])."),
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


def global_opts(ctx: click.Context) -> dict[str, Any]:
    """The global options given anywhere on the command line (``None`` or absent when
    not given): ``database_url``, ``directory``, ``table``, ``env_file``, ``variables``,
    ``as_json``, ``verbose``, ``quiet``."""
    return dict(ctx.find_root().meta.get(_META, {}))


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

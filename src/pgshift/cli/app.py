"""The ``pgshift`` command group: the colon aliases, the commands of each family added
with ``main.add_command``, and the one place that turns a :class:`PgshiftError` into a
message and an exit code (and Ctrl-C/SIGTERM into 130/143).

The command modules (:mod:`~pgshift.cli.migrations`, :mod:`~pgshift.cli.record`,
:mod:`~pgshift.cli.embedded`, :mod:`~pgshift.cli.review`) never import this module. Heavy
modules (psycopg, pglast, rich) are imported only inside the commands that need them, so
``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import gc
import importlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from pgshift.cli.context import known_secrets
from pgshift.cli.options import global_options, global_opts
from pgshift.errors import PgshiftError, Terminated

__all__ = ["main", "run"]

ALIASES = {
    "migrate:status": "status",
    "migrate:rollback": "rollback",
    "migrate:reset": "reset",
    "migrate:refresh": "refresh",
    "migrate:create": "create",
    "migrate:up": "migrate",
}


# Each command's module and attribute: a command's module (and what it imports) is loaded
# only when that command runs, or when ``--help`` lists them all.
COMMANDS = {
    "status": ("migrations", "status"), "create": ("migrations", "create"),
    "migrate": ("migrations", "migrate"), "rollback": ("migrations", "rollback"),
    "reset": ("migrations", "reset"), "refresh": ("migrations", "refresh"),
    "redo": ("migrations", "redo"),
    "baseline": ("record", "baseline"), "mark": ("record", "mark"),
    "unmark": ("record", "unmark"),
    "embedded": ("embedded", "embedded"),
    "plan": ("review", "plan"), "verify": ("review", "verify"), "lint": ("review", "lint"),
    "check": ("review", "check"), "renumber": ("review", "renumber"),
    "dump": ("review", "dump"),
    "wait": ("lifecycle", "wait"), "db": ("lifecycle", "db"), "drift": ("lifecycle", "drift"),
    "import": ("lifecycle", "import_"), "squash": ("lifecycle", "squash"),
    "fleet": ("fleet", "fleet"),
}


class PgshiftGroup(click.Group):
    """Knows the colon aliases, loads each command's module when it is needed, and maps
    pgshift's errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name]
            command = getattr(importlib.import_module(f"pgshift.cli.{module}"), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, name)
        return super().get_command(ctx, name)

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
            finally:
                _Program.finished = True


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

    opts = global_opts(ctx)
    secrets = known_secrets(ctx)
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


class _Program:
    """Whether the command of this process has finished (its outcome reported)."""

    finished = False


def run() -> None:
    """The ``pgshift`` program. A Ctrl-C or SIGTERM before the command has finished stops
    it as usual (exit 130 or 143, the running transaction rolled back); one that arrives
    after it finished and reported changes nothing: the exit code stays the command's
    (without this the default handlers, restored by then, made the process die of the
    signal while it exited, after it had said what it did)."""

    def on_signal(signum: int, frame: object) -> None:
        if _Program.finished:
            return
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt

    _Program.finished = False
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        main()
    finally:
        if _Program.finished and hasattr(signal, "pthread_sigmask"):
            # Python's own exit puts the default handlers back before the process ends:
            # blocked from here, a late signal is never delivered.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        _skip_exit_collection()


def _skip_exit_collection() -> None:
    """Spare the interpreter's exit its garbage collection over every object the imports
    made (about 20 ms of a ``status`` once psycopg is loaded, a tenth of the command).
    Nothing pgshift leaves needs that collection: connections and files are closed by
    their ``with`` blocks, temporary files by ``atexit``, which still runs; objects are
    still freed as their last reference goes."""
    gc.freeze()

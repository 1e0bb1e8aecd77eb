"""What the commands show: results on stdout (text, or one JSON document with
``--json``), warnings and events on stderr, a progress bar on a terminal, and the
confirmation question of destructive commands.

Only the command modules of :mod:`pgshift.cli` use it. The rendering itself is
:mod:`pgshift.render`'s; rich is imported only when a progress bar is shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

from pgshift.cli.options import global_opts
from pgshift.errors import UsageRefused

if TYPE_CHECKING:
    from pgshift.results import Event

_PROGRESS_AFTER_SECONDS = 1.0
_PROGRESS_AT_ONCE_FROM = 4


def echo_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout."""
    from pgshift.render import results as render

    click.echo(render.to_json(document))


def print_result(ctx: click.Context, result: Any) -> None:
    """A run's result: JSON with ``--json``, else text unless ``--quiet``."""
    from pgshift.render import results as render

    opts = global_opts(ctx)
    if opts.get("as_json"):
        click.echo(render.to_json(render.run_json(result)))
    elif not opts.get("quiet"):
        click.echo(render.run_text(result))


def warn(ctx: click.Context, warnings: Iterable[str]) -> None:
    """``warning: …`` lines on stderr unless ``--quiet``."""
    if not global_opts(ctx).get("quiet"):
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)


def confirm(what: str, yes: bool) -> None:
    """Ask on a terminal; refuse (exit 2) without one unless ``yes``."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageRefused(
            f"{what} and there is no terminal to confirm on: pass --yes to proceed"
        )
    if not click.confirm(f"{what}. Continue?", err=True):
        raise UsageRefused("cancelled: nothing was changed")


def event_reporter(ctx: click.Context) -> Callable[[Event], None]:
    """Events → stderr lines, and a progress bar on a terminal for long runs."""
    opts = global_opts(ctx)
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

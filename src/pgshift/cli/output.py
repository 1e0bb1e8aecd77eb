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
    from pgshift.fleet.results import FleetEvent
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


def echo_err(line: str) -> None:
    """``line`` on stderr, printed above a live progress display when one runs. (click's
    ``err=True`` wraps the real stderr anew and goes around the display, which glues the
    line to the display's own.)"""
    click.echo(line, file=sys.stderr)


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
            echo_err(f"{event.kind.replace('-', ' ')}: {event.message}")
        elif verbose and event.kind in ("applied", "reverted"):
            echo_err(f"  {event.message} ({event.duration_ms} ms)")

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
        self.close()
        self._progress = _transient_progress(counted=True)
        self._task = self._progress.add_task(description, total=total)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._progress is not None:
            self._progress.stop()
        self._progress = None


class FleetProgress:
    """The live display of a fleet run on stderr: one transient rich line, e.g.
    ``targets 7/20 done, 1 failed, 3 in flight`` (the text is
    :func:`pgshift.render.fleet.progress_line`), a bar and the time elapsed. Use it as a
    context manager around the run and feed it every :class:`FleetEvent` (from any
    thread); leaving the block (also by an exception, Ctrl-C or SIGTERM) erases the line
    and shows the cursor again. ``console`` is for tests: by default a console on stderr.
    """

    def __init__(self, total: int, console: Any = None) -> None:
        import threading

        self.total = total
        self.done = self.failed = self.skipped = self.in_flight = 0
        self._lock = threading.Lock()
        self._progress = _transient_progress(counted=False, console=console)
        self._task = self._progress.add_task(self.describe(), total=total)

    def __enter__(self) -> FleetProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def describe(self) -> str:
        from pgshift.render.fleet import progress_line

        return progress_line(self.done, self.total, failed=self.failed,
                             in_flight=self.in_flight, skipped=self.skipped)

    def update(self, event: FleetEvent) -> None:
        """Count a target's ``start`` (in flight) and ``done`` (failed, skipped or not);
        other events change nothing."""
        with self._lock:
            if event.kind == "start":
                self.in_flight += 1
            elif event.kind == "done" and event.result is not None:
                if event.result.outcome == "skipped":  # never started
                    self.skipped += 1
                else:
                    self.in_flight -= 1
                self.failed += 0 if event.result.ok else 1
                self.done += 1
            else:
                return
            self._progress.update(self._task, completed=self.done,
                                  description=self.describe())


def _transient_progress(*, counted: bool, console: Any = None) -> Any:
    """A rich ``Progress`` on stderr that erases itself when stopped. Only stderr is
    routed through it while it runs: stdout stays the results' own."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns: list[Any] = ["{task.description}", BarColumn()]
    if counted:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    if console is None:
        console = Console(stderr=True, no_color="NO_COLOR" in os.environ)
    return Progress(*columns, console=console, transient=True, redirect_stdout=False)

"""``pgshift fleet migrate|status|rollback|plan``: one migrations directory, many targets.

Finds the targets (``--schemas``, ``--schemas-query``, ``--targets``, else
``[tool.pgshift.fleet]``), selects them (``--only``, ``--exclude``, ``--shard``), runs
:class:`pgshift.fleet.fleet.Fleet` and prints one line per target and the summary (or one
``--json`` document). On a terminal a live display shows targets done, failed and in
flight. Exit 1 when a target failed or was unreachable.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pgshift.cli.context import (
    add_secrets,
    database_url,
    file_cache,
    known_secrets,
    run_settings,
    settings_for,
)
from pgshift.cli.options import (
    atomic_option,
    global_options,
    global_opts,
    run_options,
    strict_option,
)
from pgshift.cli.output import FleetProgress, echo_err
from pgshift.errors import UsageRefused

if TYPE_CHECKING:
    from pgshift.fleet.fleet import Fleet
    from pgshift.fleet.results import FleetEvent, FleetResult
    from pgshift.fleet.targets import Target

F = TypeVar("F", bound=Callable[..., Any])


def fleet_options(f: F) -> F:
    """Where the targets come from, which of them run, and how many at once."""
    options = [
        click.option("--schemas", "schemas", metavar="PATTERN", default=None,
                     help="Every schema of the database (--database-url) whose name is LIKE "
                     "PATTERN, e.g. 'tenant_%'."),
        click.option("--schemas-query", metavar="SQL", default=None,
                     help="The schemas named by the first column of this query's rows "
                     "(run read-only on the database)."),
        click.option("--targets", "targets_file", metavar="FILE", default=None,
                     type=click.Path(path_type=Path, dir_okay=False),
                     help="A TOML file of [[target]] tables (name, url or url_env, schema)."),
        click.option("--only", multiple=True, metavar="NAME[,NAME…]",
                     help="Only these targets."),
        click.option("--exclude", multiple=True, metavar="NAME[,NAME…]",
                     help="Leave these targets out."),
        click.option("--shard", metavar="I/N", default=None,
                     help="Only the targets whose position in name order (from 0) is "
                     "I-1 modulo N: run a fleet in N parts (a CI matrix, an indexed Job)."),
        click.option("--parallel", type=click.IntRange(min=1), default=None, metavar="N",
                     help="At most N targets in flight (default: min(8, targets))."),
        click.option("--on-error", type=click.Choice(["continue", "stop"]),
                     default="continue", show_default=True,
                     help="stop: start no target after one failed (those in flight finish)."),
        click.option("--canary", type=click.IntRange(min=0), default=0, metavar="K",
                     help="Run the first K targets first; if one fails, start no other."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group()
@global_options
def fleet() -> None:
    """Run one migrations directory against many schemas and databases."""


@fleet.command("migrate")
@strict_option
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Apply only the next N pending migrations on each target.")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Apply pending migrations up to and including NAME on each target.")
@atomic_option
@run_options
@fleet_options
@global_options
@click.pass_context
def fleet_migrate(ctx: click.Context, /, strict: bool | None, step: int | None,
                  to: str | None, atomic: bool | None, lock_wait: float | None,
                  lock_timeout: float | None, lock_retries: int | None,
                  **selection: Any) -> None:
    """Apply every target's pending migrations."""
    runner = _fleet(ctx, selection, strict=strict, atomic=atomic, lock_wait=lock_wait,
                    lock_timeout=lock_timeout, lock_retries=lock_retries)
    _finish(ctx, _with_display(ctx, runner, lambda: runner.migrate(step=step, to=to)))


@fleet.command("status")
@click.option("--fail-if-pending", is_flag=True,
              help="Exit 1 when any target has a pending migration.")
@fleet_options
@global_options
@click.pass_context
def fleet_status(ctx: click.Context, /, fail_if_pending: bool, **selection: Any) -> None:
    """Per target: executed, pending, modified, missing and partial migrations."""
    runner = _fleet(ctx, selection)
    result = _with_display(ctx, runner, runner.status)
    _finish(ctx, result, fail=fail_if_pending and result.any_pending)


@fleet.command("rollback")
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Roll back the last N migrations of each target.")
@click.option("--batch", type=int, default=None, metavar="N",
              help="Roll back batch N (only where it is the latest).")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Roll back everything applied after NAME.")
@atomic_option
@run_options
@fleet_options
@global_options
@click.pass_context
def fleet_rollback(ctx: click.Context, /, step: int | None, batch: int | None, to: str | None,
                   atomic: bool | None, lock_wait: float | None, lock_timeout: float | None,
                   lock_retries: int | None, **selection: Any) -> None:
    """Roll back every target's last batch, newest migration first."""
    runner = _fleet(ctx, selection, atomic=atomic, lock_wait=lock_wait,
                    lock_timeout=lock_timeout, lock_retries=lock_retries)
    _finish(ctx, _with_display(ctx, runner,
                               lambda: runner.rollback(step=step, batch=batch, to=to)))


@fleet.command("plan")
@strict_option
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Plan only the next N pending migrations of each target.")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Plan the pending migrations up to and including NAME.")
@fleet_options
@global_options
@click.pass_context
def fleet_plan(ctx: click.Context, /, strict: bool | None, step: int | None, to: str | None,
               **selection: Any) -> None:
    """Show what fleet migrate would do on each target, changing nothing."""
    runner = _fleet(ctx, selection, strict=strict)
    _finish(ctx, _with_display(ctx, runner, lambda: runner.plan(step=step, to=to)))


# --- building the fleet -----------------------------------------------------------------


def _fleet(ctx: click.Context, selection: dict[str, Any], **options: Any) -> Fleet:
    """The targets from the options (else ``[tool.pgshift.fleet]``), selected, and a
    :class:`Fleet` over them with the run options (else ``[tool.pgshift]``)."""
    from pgshift.fleet.fleet import Fleet

    settings = settings_for(ctx)
    targets = _targets(ctx, selection)
    cache = file_cache(ctx, settings.directory)
    return Fleet(targets, settings.directory, table=settings.table_name,
                 parallel=selection["parallel"], on_error=selection["on_error"],
                 canary=selection["canary"], on_event=_reporter(ctx),
                 facts=cache.facts, parse=cache.parse, variables=settings.variables,
                 **run_settings(settings, **options))


def _targets(ctx: click.Context, selection: dict[str, Any]) -> list[Target]:
    from pgshift.fleet import targets as found

    settings = settings_for(ctx)
    if settings.table_schema is not None:
        raise UsageRefused(
            f"--table {settings.table_schema}.{settings.table_name}: fleet targets keep their "
            "own tracking table; give its name only",
            hint="a schema target's table is <schema>.<name>; a database target's is in "
            "its current schema")
    sources = found.Sources(selection["schemas"], selection["schemas_query"],
                            selection["targets_file"])
    if sources.empty:
        sources = found.sources_from_project(settings.project, settings.cwd)
    if sources.empty:
        raise UsageRefused(
            "no targets: give --schemas PATTERN, --schemas-query SQL or --targets FILE",
            hint="or set schemas, schemas_query or targets in [tool.pgshift.fleet] of "
            "pyproject.toml")
    shard = found.parse_shard(selection["shard"]) if selection["shard"] else None
    groups: list[list[Target]] = []
    if sources.targets_file is not None:
        listed, secrets = found.load_targets_file(sources.targets_file, os.environ)
        add_secrets(ctx, secrets)
        groups.append(listed)
    if sources.needs_database:
        if sources.schemas is not None:
            found.check_pattern(sources.schemas)
        groups.append(found.schema_targets(database_url(ctx, settings), pattern=sources.schemas,
                                           query=sources.schemas_query))
    every = found.combine(groups)
    chosen = found.select(every, only=found.split_names(selection["only"]),
                          exclude=found.split_names(selection["exclude"]), shard=shard)
    if not every and not global_opts(ctx).get("quiet"):
        click.echo("warning: no target matched", err=True)
    return chosen


# --- output -------------------------------------------------------------------------------


def _finish(ctx: click.Context, result: FleetResult, *, fail: bool = False) -> None:
    from pgshift.render import fleet as render
    from pgshift.render.results import to_json

    opts = global_opts(ctx)
    secrets = known_secrets(ctx)
    if opts.get("as_json"):
        click.echo(to_json(render.fleet_json(result), secrets))
    elif opts.get("quiet"):
        failed = [t for t in result.targets if not t.ok]
        if failed:
            click.echo(render.fleet_text(result, secrets).splitlines()[-1], err=True)
    else:
        click.echo(render.fleet_text(result, secrets))
    if not result.ok or fail:
        ctx.exit(1)


def _reporter(ctx: click.Context) -> Callable[[FleetEvent], None]:
    """Each target's warnings and notices on stderr, prefixed with the target's name; a
    lint finding (about a file, the same for every target) once."""
    opts = global_opts(ctx)
    quiet, verbose = bool(opts.get("quiet")), bool(opts.get("verbose"))
    lock = threading.Lock()
    linted: set[str] = set()

    def on_event(event: FleetEvent) -> None:
        inner = event.event
        if quiet or inner is None:
            return
        with lock:
            if inner.kind == "lint":
                if inner.message not in linted:
                    linted.add(inner.message)
                    echo_err(f"lint: {inner.message}")
            elif inner.kind in ("warning", "notice", "lock-wait", "retry") or (
                    verbose and inner.kind in ("applied", "reverted")):
                echo_err(f"[{event.target}] {inner.kind.replace('-', ' ')}: {inner.message}")

    return on_event


def _with_display(ctx: click.Context, runner: Fleet, operation: Callable[[], FleetResult]) -> (
    FleetResult
):
    """Run ``operation``; when stderr is a terminal (and neither ``--quiet`` nor
    ``--json``), with the live display of the targets done, failed and in flight."""
    opts = global_opts(ctx)
    if opts.get("quiet") or opts.get("as_json") or not sys.stderr.isatty():
        return operation()
    display = FleetProgress(len(runner.targets))
    forward = runner.on_event

    def on_event(event: FleetEvent) -> None:
        display.update(event)
        if forward is not None:
            forward(event)

    runner.on_event = on_event
    with display:
        return operation()

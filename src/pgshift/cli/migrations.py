"""The commands over the migrations and their record: ``status``, ``create``,
``migrate``, ``rollback``, ``reset``, ``refresh`` and ``redo``.

Each one builds a :class:`Migrator` (:func:`~pgshift.cli.context.migrator_for`), calls
one of its methods and prints the value it returns; ``--dry-run`` and ``--dump-schema``
are handed to the review commands' functions. Added to the group by
:mod:`pgshift.cli.app`; heavy modules are imported inside the functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pgshift.cli.context import migrator_for, settings_for
from pgshift.cli.options import (
    atomic_option,
    global_options,
    global_opts,
    run_options,
    strict_option,
)
from pgshift.cli.output import confirm, print_result, warn


@click.command()
@global_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """List every migration with its state, batch and time; then a summary."""
    from pgshift.render import results as render

    report = migrator_for(ctx).status()
    opts = global_opts(ctx)
    if not opts.get("as_json"):
        warn(ctx, report.warnings)
    if opts.get("as_json"):
        click.echo(render.to_json(render.status_json(report)))
    elif sys.stdout.isatty():
        render.print_status_table(report, verbose=bool(opts.get("verbose")),
                                  color="NO_COLOR" not in os.environ)
    else:
        click.echo(render.status_text(report, verbose=bool(opts.get("verbose"))))


@click.command()
@click.argument("name", nargs=-1, required=True)
@click.option("--template", metavar="FILE", default=None,
              help="Template to fill instead of DIR/.template.sql (or the built-in one).")
@global_options
@click.pass_context
def create(ctx: click.Context, name: tuple[str, ...], template: str | None) -> None:
    """Write DIR/<next number>_<NAME>.sql from the template and print its path.

    NAME is lowercased; spaces and '-' become '_' (several words are joined). The template
    is --template FILE, else DIR/.template.sql, else the built-in one; it may use
    {{filename}}, {{name}}, {{description}}, {{date}} and {{number}}."""
    from pgshift.engine.migrator import create_migration

    path = create_migration(settings_for(ctx).directory, " ".join(name), template=template)
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    if global_opts(ctx).get("as_json"):
        from pgshift.render import results as render

        click.echo(render.to_json({"path": str(shown)}))
    else:
        click.echo(str(shown))


@click.command()
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
    migrator = migrator_for(ctx, parse_ahead=True, strict=strict, lock_wait=lock_wait,
                            lock_timeout=lock_timeout, lock_retries=lock_retries,
                            atomic=atomic)
    if dry_run:
        from pgshift.cli import review

        review.plan_migrate(ctx, migrator, step=step, to=to)
        return
    print_result(ctx, migrator.migrate(step=step, to=to))
    if dump_schema:
        from pgshift.cli import review

        review.dump_after_migrate(ctx, migrator, path=dump_schema)


@click.command()
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
    migrator = migrator_for(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                            lock_retries=lock_retries, atomic=atomic)
    if dry_run:
        from pgshift.cli import review

        review.plan_rollback(ctx, migrator, step=step, batch=batch, to=to)
        return
    print_result(ctx, migrator.rollback(step=step, batch=batch, to=to))


@click.command()
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
        from pgshift.cli import review

        review.plan_rollback(ctx, migrator_for(ctx, lock_wait=lock_wait), everything=True)
        return
    confirm("reset rolls back EVERY applied migration", yes)
    migrator = migrator_for(ctx, lock_wait=lock_wait, lock_timeout=lock_timeout,
                            lock_retries=lock_retries, atomic=atomic)
    print_result(ctx, migrator.reset())


@click.command()
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
    confirm("refresh rolls back EVERY applied migration, then applies them again", yes)
    migrator = migrator_for(ctx, parse_ahead=True, strict=strict, lock_wait=lock_wait,
                            lock_timeout=lock_timeout, lock_retries=lock_retries,
                            atomic=atomic)
    print_result(ctx, migrator.refresh())


@click.command()
@strict_option
@atomic_option
@run_options
@global_options
@click.pass_context
def redo(ctx: click.Context, strict: bool | None, atomic: bool | None,
         lock_wait: float | None, lock_timeout: float | None,
         lock_retries: int | None) -> None:
    """Roll back the last batch and apply it again (tests its DOWN sections)."""
    migrator = migrator_for(ctx, strict=strict, lock_wait=lock_wait,
                            lock_timeout=lock_timeout, lock_retries=lock_retries,
                            atomic=atomic)
    print_result(ctx, migrator.redo())

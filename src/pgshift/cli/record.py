"""The commands that repair the record without running SQL: ``baseline``, ``mark`` and
``unmark``. Added to the group by :mod:`pgshift.cli.app`."""

from __future__ import annotations

import click

from pgshift.cli.context import migrator_for
from pgshift.cli.options import global_options
from pgshift.cli.output import confirm, print_result


@click.command()
@click.option("--to", "to", metavar="NAME", required=True,
              help="The last migration that the existing schema already contains.")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded.")
@global_options
@click.pass_context
def baseline(ctx: click.Context, to: str, dry_run: bool) -> None:
    """Record the migrations up to NAME as executed without running them (batch 0), for a
    database whose schema already exists. rollback and reset never undo batch 0."""
    print_result(ctx, migrator_for(ctx).baseline(to, dry_run=dry_run))


@click.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def mark(ctx: click.Context, name: str, yes: bool) -> None:
    """Record NAME as executed (in a new batch) without running it."""
    confirm(f"mark records {name} as executed WITHOUT running it", yes)
    print_result(ctx, migrator_for(ctx).mark(name))


@click.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def unmark(ctx: click.Context, name: str, yes: bool) -> None:
    """Forget the record of NAME without running its DOWN section."""
    confirm(f"unmark forgets the record of {name} WITHOUT running its DOWN section", yes)
    print_result(ctx, migrator_for(ctx).unmark(name))

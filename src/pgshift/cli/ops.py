"""Commands that repair the record or manage the embedded server: ``baseline``, ``mark``,
``unmark``, ``embedded url``/``embedded stop``. Registered on the ``pgshift`` group."""

from __future__ import annotations

import click

from pgshift.cli.app import main
from pgshift.cli.options import _confirm, _migrator, _print_result, _settings, global_options


@main.command()
@click.option("--to", "to", metavar="NAME", required=True,
              help="The last migration that the existing schema already contains.")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded.")
@global_options
@click.pass_context
def baseline(ctx: click.Context, to: str, dry_run: bool) -> None:
    """Record the migrations up to NAME as executed without running them (batch 0), for a
    database whose schema already exists. rollback and reset never undo batch 0."""
    _print_result(ctx, _migrator(ctx).baseline(to, dry_run=dry_run))


@main.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def mark(ctx: click.Context, name: str, yes: bool) -> None:
    """Record NAME as executed (in a new batch) without running it."""
    _confirm(f"mark records {name} as executed WITHOUT running it", yes)
    _print_result(ctx, _migrator(ctx).mark(name))


@main.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def unmark(ctx: click.Context, name: str, yes: bool) -> None:
    """Forget the record of NAME without running its DOWN section."""
    _confirm(f"unmark forgets the record of {name} WITHOUT running its DOWN section", yes)
    _print_result(ctx, _migrator(ctx).unmark(name))


@main.group()
def embedded() -> None:
    """The local PostgreSQL kept in ./.pgshift (used when no database is configured)."""


@embedded.command("url")
@global_options
@click.pass_context
def embedded_url(ctx: click.Context) -> None:
    """Start the embedded server if needed and print a URL psql can use."""
    from pgshift.embedded import server as emb
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
    from pgshift.embedded import server as emb

    stopped = emb.stop(_settings(ctx).embedded_dir)
    click.echo("stopped" if stopped else "not running", err=True)

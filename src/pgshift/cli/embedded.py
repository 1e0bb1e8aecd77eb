"""``pgshift embedded url`` and ``pgshift embedded stop``: the local PostgreSQL kept in
``./.pgshift``. Added to the group by :mod:`pgshift.cli.app`."""

from __future__ import annotations

import click

from pgshift.cli.context import settings_for
from pgshift.cli.options import global_options


@click.group()
def embedded() -> None:
    """The local PostgreSQL kept in ./.pgshift (used when no database is configured)."""


@embedded.command("url")
@global_options
@click.pass_context
def embedded_url(ctx: click.Context) -> None:
    """Start the embedded server if needed and print a URL psql can use."""
    from pgshift.embedded import server as emb

    server, _ = emb.start_for(settings_for(ctx).embedded_dir)
    click.echo(server.url)


@embedded.command("stop")
@global_options
@click.pass_context
def embedded_stop(ctx: click.Context) -> None:
    """Stop the embedded server (its data stays in ./.pgshift)."""
    from pgshift.embedded import server as emb

    stopped = emb.stop(settings_for(ctx).embedded_dir)
    click.echo("stopped" if stopped else "not running", err=True)

"""``--format text|json|github|sarif|markdown`` of the review commands (``lint``,
``check``, ``plan``, ``verify``): the option, the one decision of which format a run
uses, and printing the CI formats. The text format stays with each command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pgshift.cli.options import global_opts

if TYPE_CHECKING:
    from pgshift.render.annotations import Annotation

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("text", "json", "github", "sarif", "markdown")


def format_option(f: F) -> F:
    return click.option(
        "--format", "output_format", type=click.Choice(FORMATS), default=None,
        help="text (default), json (same as --json), github (workflow commands that "
        "annotate a pull request), sarif (SARIF 2.1.0 for code scanning) or markdown "
        "(for a pull request comment or a job summary).",
    )(f)


def chosen_format(ctx: click.Context, output_format: str | None) -> str:
    """``--format`` if given, else ``json`` under ``--json``, else ``text``.

    Raises:
        click.UsageError: ``--json`` with another ``--format`` (exit 2).
    """
    as_json = bool(global_opts(ctx).get("as_json"))
    if output_format is None:
        return "json" if as_json else "text"
    if as_json and output_format != "json":
        raise click.UsageError(f"--json and --format {output_format} contradict each other: "
                               "give one of them")
    return output_format


def relative_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (GitHub and SARIF
    locate files from the repository root, where CI runs), else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def in_directory(directory: Path) -> Callable[[str], str]:
    """Maps a migration's file name to its path from the working directory."""
    return lambda name: relative_path(directory / name)


def emit(fmt: str, *, document: Callable[[], dict[str, Any]],
         annotations: Callable[[], list[Annotation]], markdown: Callable[[], str],
         summary: str) -> None:
    """Print a report in one of the formats other than ``text`` on stdout. ``github`` ends
    with the ``summary`` line for the job log (workflow commands themselves are not
    shown there)."""
    from pgshift.render import annotations as render_annotations
    from pgshift.render import results as render

    if fmt == "json":
        click.echo(render.to_json(document()))
    elif fmt == "github":
        lines = render_annotations.github(annotations())
        if lines:
            click.echo(lines)
        click.echo(summary)
    elif fmt == "sarif":
        click.echo(render.to_json(render_annotations.sarif(annotations())))
    elif fmt == "markdown":
        click.echo(markdown(), nl=False)

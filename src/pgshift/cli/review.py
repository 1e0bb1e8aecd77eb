"""The review commands: ``plan``, ``verify``, ``lint``, ``check``, ``renumber``, ``dump``,
and the functions behind ``--dry-run`` / ``--dump-schema`` of ``migrate``, ``rollback``
and ``reset`` (:func:`plan_migrate`, :func:`plan_rollback`, :func:`dump_after_migrate`).
Added to the group by :mod:`pgshift.cli.app`; results go to stdout, messages to stderr;
a finding or a refusal exits 1 after the report is printed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pgshift.cli.context import (
    checked_scratch_url,
    database_url,
    migrator_for,
    offline_migrator,
    settings_for,
)
from pgshift.cli.formats import chosen_format, emit, format_option, in_directory, relative_path
from pgshift.cli.options import global_options, global_opts
from pgshift.cli.output import echo_json, warn

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator
    from pgshift.review.plan import Plan


def show_plan(ctx: click.Context, plan: Plan, fmt: str | None = None,
              directory: Path | None = None) -> None:
    """Print a plan (warnings on stderr) in ``fmt`` (default: text, or json under
    ``--json``); exit 1 when the command would refuse. ``directory`` locates the files
    for the github and sarif formats."""
    from pgshift.render import annotations as notes
    from pgshift.render import markdown
    from pgshift.render import review as render_review

    opts = global_opts(ctx)
    fmt = fmt or chosen_format(ctx, None)
    if fmt != "text":
        path = in_directory(directory or Path("."))
        emit(fmt, document=lambda: render_review.plan_json(plan),
             annotations=lambda: notes.from_plan(plan, path),
             markdown=lambda: markdown.plan(plan), summary=render_review.headline(plan))
    else:
        warn(ctx, plan.warnings)
        if not opts.get("quiet") or plan.refusal:
            click.echo(render_review.plan_text(plan, verbose=bool(opts.get("verbose"))))
    if plan.refusal:
        ctx.exit(1)


# --- hooks of migrate, rollback and reset ------------------------------------------------


def plan_migrate(ctx: click.Context, migrator: Migrator, *, step: int | None = None,
                 to: str | None = None) -> None:
    """``migrate --dry-run``."""
    from pgshift.review import plan as review

    show_plan(ctx, review.plan_migrate(migrator, step=step, to=to))


def plan_rollback(ctx: click.Context, migrator: Migrator, *, step: int | None = None,
                  batch: int | None = None, to: str | None = None,
                  everything: bool = False) -> None:
    """``rollback --dry-run`` and (``everything``) ``reset --dry-run``."""
    from pgshift.review import plan as review

    show_plan(ctx, review.plan_rollback(migrator, all_batches=everything, step=step,
                                        batch=batch, to=to))


def dump_after_migrate(ctx: click.Context, migrator: Migrator, *, path: str) -> None:
    """``migrate --dump-schema FILE``: the message goes to stderr (stdout already holds
    migrate's result)."""
    from pgshift.render import review as render_review
    from pgshift.review import dump

    result = dump.dump_schema(migrator.database_url, Path(path),
                              embedded_dir=settings_for(ctx).embedded_dir)
    if not global_opts(ctx).get("quiet"):
        click.echo(render_review.dump_text(result), err=True)


# --- commands ---------------------------------------------------------------------------


@click.command()
@click.option("--strict", is_flag=True, default=None, help="Plan as migrate --strict would.")
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Plan only the next N pending migrations.")
@click.option("--to", "to", metavar="NAME", default=None,
              help="Plan the pending migrations up to and including NAME.")
@format_option
@global_options
@click.pass_context
def plan(ctx: click.Context, strict: bool | None, step: int | None, to: str | None,
         output_format: str | None) -> None:
    """Show what migrate would do, changing nothing: the batch, each pending migration
    with its mode, statements, the lock each takes, and its lint findings."""
    from pgshift.review import plan as review

    fmt = chosen_format(ctx, output_format)
    migrator = migrator_for(ctx, strict=strict)
    show_plan(ctx, review.plan_migrate(migrator, step=step, to=to), fmt, migrator.directory)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--scratch-url", metavar="URL", default=None,
              help="Server to create the scratch database on (default: the embedded "
              "server in ./.pgshift). Never the target database.")
@click.option("--strict", is_flag=True, help="Treat 'already exists' as a failure.")
@format_option
@global_options
@click.pass_context
def verify(ctx: click.Context, names: tuple[str, ...], scratch_url: str | None,
           strict: bool, output_format: str | None) -> None:
    """Check on a scratch database that each DOWN undoes its UP and each UP can run again
    after its DOWN, and that a repeatable's restore (its DOWN, then its own UP as the
    version before, as rollback runs it) leaves the schema as it was: every migration, or
    the NAMEs (earlier ones are applied first)."""
    from pgshift.render import review as render_review
    from pgshift.review.verify import verify_migrations

    fmt = chosen_format(ctx, output_format)
    settings = settings_for(ctx)
    opts = global_opts(ctx)
    progress = None
    if opts.get("verbose") and not opts.get("quiet"):
        def progress(step: str) -> None:
            click.echo(f"  {step}", err=True)
    run = verify_migrations(
        offline_migrator(settings, strict=strict), names,
        scratch_url=checked_scratch_url(ctx, scratch_url), embedded_dir=settings.embedded_dir,
        on_progress=progress)
    if fmt == "text":
        click.echo(render_review.verify_text(run))
    else:
        from pgshift.render import annotations as notes
        from pgshift.render import markdown

        path = in_directory(settings.directory)
        emit(fmt, document=lambda: render_review.verify_json(run),
             annotations=lambda: notes.from_verify(run, path),
             markdown=lambda: markdown.verify(run),
             summary=render_review.verify_text(run).splitlines()[-1])
    if not run.ok:
        ctx.exit(1)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path),
                metavar="[FILE]...")
@format_option
@global_options
@click.pass_context
def lint(ctx: click.Context, files: tuple[Path, ...], output_format: str | None) -> None:
    """Lint migration files (default: every file of the migrations directory) for
    operations that hurt a live database; exit 1 on any error-severity finding.
    A header line '-- pgshift: allow RULE' silences a rule for its file. A file's notes
    are folded into one line unless --verbose."""
    from pgshift.files import directory
    from pgshift.render import review as render_review
    from pgshift.review import lint

    fmt = chosen_format(ctx, output_format)
    opts = global_opts(ctx)
    if files:
        targets = [(path, str(path)) for path in files]
    else:
        discovery = directory.discover(settings_for(ctx).directory)
        warn(ctx, discovery.warnings)
        targets = [(f.path, relative_path(f.path))
                   for f in (*discovery.files, *discovery.repeatables)]
    findings = lint.lint_files(targets)
    if fmt != "text":
        from pgshift.render import annotations as notes
        from pgshift.render import markdown

        emit(fmt, document=lambda: render_review.lint_json([s for _, s in targets], findings),
             annotations=lambda: notes.from_findings(
                 findings, lambda file: relative_path(Path(file)), "lint"),
             markdown=lambda: markdown.lint(len(targets), findings),
             summary=render_review.lint_summary(len(targets), findings))
    elif opts.get("quiet"):
        for finding in findings:
            if finding.severity == "error":
                click.echo(render_review.finding_line(finding))
    else:
        for line in render_review.lint_lines(findings, verbose=bool(opts.get("verbose"))):
            click.echo(line)
        if not opts.get("quiet"):
            click.echo(render_review.lint_summary(len(targets), findings))
    if any(f.severity == "error" for f in findings):
        ctx.exit(1)


@click.command()
@click.option("--offline", is_flag=True, help="Only the checks that need no database.")
@click.option("--no-pending", is_flag=True, help="Also fail while a migration is pending.")
@format_option
@global_options
@click.pass_context
def check(ctx: click.Context, offline: bool, no_pending: bool,
          output_format: str | None) -> None:
    """The CI gate: fail (exit 1) on shared migration numbers, files that do not parse,
    lint errors and, with the database, pending files numbered below the latest applied
    one, applied migrations modified or missing, and (--no-pending) pending ones."""
    from pgshift.render import review as render_review
    from pgshift.review import plan as review

    fmt = chosen_format(ctx, output_format)
    settings = settings_for(ctx)
    migrator = offline_migrator(settings) if offline else migrator_for(ctx)
    report = review.check(migrator, offline=offline, no_pending=no_pending)
    opts = global_opts(ctx)
    if fmt != "text":
        from pgshift.render import annotations as notes
        from pgshift.render import markdown

        path = in_directory(settings.directory)
        emit(fmt, document=lambda: render_review.check_json(report),
             annotations=lambda: notes.from_check(report, path),
             markdown=lambda: markdown.check(report),
             summary=render_review.check_text(report).splitlines()[-1])
    else:
        warn(ctx, report.warnings)
        click.echo(render_review.check_text(report, verbose=bool(opts.get("verbose"))))
    if not report.ok:
        ctx.exit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Show the renames; change nothing.")
@click.option("--offline", is_flag=True,
              help="Without a database: fix only shared numbers (the first file by name "
              "keeps its number, so make sure that is the applied one).")
@global_options
@click.pass_context
def renumber(ctx: click.Context, dry_run: bool, offline: bool) -> None:
    """Give pending files that share a number with another file, or that sort below the
    latest applied migration, new numbers after all others (same width), and update their
    '-- Migration:' header line. The pending files after them move too: pending files
    keep their order."""
    from pgshift.render import review as render_review
    from pgshift.review.renumber import renumber as renumber_files

    target: Migrator | Path = settings_for(ctx).directory if offline else migrator_for(ctx)
    renames = renumber_files(target, dry_run=dry_run, offline=offline)
    if global_opts(ctx).get("as_json"):
        echo_json(render_review.renames_json(renames, dry_run=dry_run))
    elif not global_opts(ctx).get("quiet") or renames:
        click.echo(render_review.renames_text(renames, dry_run=dry_run))


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scratch-url", metavar="URL", default=None,
              help="Server to check that the dump loads on (default: the embedded server "
              "in ./.pgshift).")
@global_options
@click.pass_context
def dump(ctx: click.Context, file: Path | None, scratch_url: str | None) -> None:
    """Write the schema (pg_dump --schema-only) to FILE, or to stdout, after checking that
    it loads into a scratch database."""
    from pgshift.render import review as render_review
    from pgshift.review import dump as dumping

    settings = settings_for(ctx)
    conninfo = database_url(ctx, settings)
    result = dumping.dump_schema(conninfo, file, scratch_url=checked_scratch_url(ctx, scratch_url),
                                 embedded_dir=settings.embedded_dir)
    opts = global_opts(ctx)
    if opts.get("as_json"):
        document = render_review.dump_json(result)
        if file is None:
            document["schema"] = result.text
        echo_json(document)
        return
    if file is None:
        click.echo(result.text, nl=False)
    if not opts.get("quiet"):
        click.echo(render_review.dump_text(result), err=True)

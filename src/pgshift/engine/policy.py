"""Decisions shared by ``migrate``, ``plan``, ``refresh``, ``redo``, ``rollback`` and
``check``, written once, so a plan says what the run it predicts then does.

What is pending and which batch it gets (:func:`decide_migrate`), which DOWN section a
rollback runs (:func:`resolve_down`), and every refusal: a partial run whose file is
gone, drift under ``--strict``, ``--atomic`` with a migration that must run outside a
transaction, a missing DOWN section (:class:`Refusal` values: the run raises them, a
plan reports them).

The lint gate: which findings of the migrations a run is about to apply are shown, and
when ``--strict`` refuses the run because of them. Every command that applies (or plans
to apply) migrations asks :func:`strict_lint_refusal` and nothing else. DOWN sections
that cannot run: what ``migrate`` warns about (:func:`migrate_downs`) and why a rollback
refuses (:func:`rollback_refusal`). Pure: the migrations come parsed; nothing here raises,
prints or touches the database (the engine turns a refusal into a
:class:`~pgshift.errors.StateError`, ``plan`` shows it as the plan's refusal).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

from pgshift.engine import selection, states
from pgshift.errors import PgshiftError, StateError
from pgshift.files import directory
from pgshift.results import Finding, MigrationStatus

# What only applying (or planning to apply) needs — parsing, hooks, placeholders, the order
# of repeatables — is imported where it is used: ``status`` and a no-op ``migrate`` never
# load it.
if TYPE_CHECKING:
    from pgshift.analysis.lint.linter import History
    from pgshift.db.store import AppliedRow, TableState
    from pgshift.engine.session import RunOptions
    from pgshift.files import hooks, sqlfile

__all__ = [
    "DOWN_HINT", "LINT_MAX_MIGRATIONS", "LINT_MAX_SECTION", "STRICT_LINT_HINT", "Down",
    "DownVerdict", "MigrateDecision", "Refusal", "atomic_refusal", "blocking", "decide_migrate",
    "down_problem", "drift", "drift_refusal", "earlier_files", "gate_findings", "late",
    "late_warnings", "lint_parsed", "lint_pending", "lint_skipped", "migrate_downs",
    "missing_down_refusal", "next_batch", "parse_files", "partial_gone_refusal", "pending",
    "recorded", "redo_refusal", "resolve_down", "revert_refusal", "rollback_refusal",
    "strict_lint_refusal", "up_to_date",
]

# Without --strict, a run lints what it applies unless it is a bulk build (a fresh
# database) or a file is huge: those are left to ``pgshift lint``. --strict lints all.
LINT_MAX_MIGRATIONS = 50
LINT_MAX_SECTION = 256 * 1024


def lint_parsed(migration: sqlfile.ParsedMigration, file: str | None = None,
                history: History | None = None) -> list[Finding]:
    """The lint findings of a parsed migration, its header's ``allow`` directives applied,
    named ``file`` (default: the migration's name). ``history``: what the migrations
    before it declared (it is updated with this one's declarations)."""
    # Imported here: a bulk build (and every other command) never loads the linter.
    from pgshift.analysis.lint.linter import lint_migration

    down = migration.down
    problem = migration.down_problem
    return lint_migration(
        file or migration.name, migration.up.analysed,
        down.analysed if down is not None else None,
        up_first_line=migration.up.first_line,
        down_first_line=down.first_line if down is not None else 1,
        allowed=migration.allowed_rules,
        down_problem=None if problem is None else (problem.line, problem.message),
        no_transaction=migration.no_transaction_directive,
        history=history,
    )


# Findings that what earlier migrations declared may clear (a function's volatility, a
# validated CHECK (col IS NOT NULL)).
_HISTORY_RULES = frozenset({"add-column-default-may-rewrite", "add-column-volatile-default",
                            "set-not-null"})


def lint_pending(migrations: Sequence[sqlfile.ParsedMigration],
                 earlier: Sequence[directory.MigrationFile] = ()) -> list[Finding]:
    """Findings of ``migrations`` in order, each judged with what the ones before it
    declared. ``earlier`` are the directory's files before them (the applied ones): read
    only when a finding may depend on what they declared."""
    from pgshift.analysis.lint.linter import History
    from pgshift.files import sqlfile

    findings = _lint_in_order(migrations, History())
    if earlier and any(f.rule in _HISTORY_RULES for f in findings):
        history = History()
        for file in earlier:
            try:
                lint_parsed(sqlfile.parse(directory.read_text(file), file.name),
                            history=history)
            except PgshiftError:
                continue  # an unreadable earlier file declares nothing
        findings = _lint_in_order(migrations, history)
    return findings


def _lint_in_order(migrations: Sequence[sqlfile.ParsedMigration],
                   history: History) -> list[Finding]:
    return [finding for migration in migrations
            for finding in lint_parsed(migration, history=history)]


def lint_skipped(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool) -> bool:
    """Whether a run applying ``migrations`` leaves linting to ``pgshift lint``: never
    under ``strict``; otherwise for a bulk build of more than :data:`LINT_MAX_MIGRATIONS`."""
    small = [m for m in migrations if len(m.up.text) <= LINT_MAX_SECTION]
    return not strict and len(small) > LINT_MAX_MIGRATIONS


def gate_findings(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool,
                  earlier: Sequence[directory.MigrationFile] = ()) -> list[Finding]:
    """The findings a run applying ``migrations`` shows and that ``strict`` refuses on:
    those of warning or error severity that the files' headers do not ``allow``. Huge
    files are skipped unless ``strict``; the caller checks :func:`lint_skipped` first.
    ``earlier``: the files before them (see :func:`lint_pending`)."""
    linted = [m for m in migrations if strict or len(m.up.text) <= LINT_MAX_SECTION]
    return blocking(lint_pending(linted, earlier))


def earlier_files(discovery: directory.Discovery,
                  migrations: Sequence[sqlfile.ParsedMigration]) -> list[directory.MigrationFile]:
    """The directory's files that sort before the last of ``migrations`` and are not
    among them: what was applied before them."""
    names = {m.name for m in migrations}
    order = [f.name for f in discovery.files]
    last = max((order.index(name) for name in names if name in order), default=-1)
    return [f for f in discovery.files[:last] if f.name not in names]


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    """The ``findings`` a run shows and ``--strict`` refuses on: warnings and errors. A
    DOWN section that cannot run is left out: :func:`migrate_downs` decides about it."""
    return [f for f in findings if f.severity != "note"
            and not (f.rule == "parse-error" and f.section == "down")]


def strict_lint_refusal(findings: Sequence[Finding], *, strict: bool, verb: str) -> str | None:
    """Why a ``strict`` run refuses because of ``findings`` (see :func:`gate_findings`),
    worded with ``verb`` (``was applied`` / ``would be applied``); None when it may run."""
    if not strict or not findings:
        return None
    files = sorted({f.file for f in findings})
    shown = ", ".join(f"{f.file}:{f.line} {f.rule}" for f in findings[:5])
    more = f", and {len(findings) - 5} more" if len(findings) > 5 else ""
    return (f"--strict: {len(findings)} lint finding(s) of warning or error severity in "
            f"{len(files)} pending migration(s) ({shown}{more}); nothing {verb}")


STRICT_LINT_HINT = ("fix them, or silence a rule for its file with a header line "
                    "'-- pgshift: allow <rule-id>'")


# --- DOWN sections that cannot run ---------------------------------------------------

DOWN_HINT = ("fix the DOWN section of the file (pgshift lint shows the problem); the UP "
             "section is not affected")


class DownVerdict(NamedTuple):
    """What ``migrate`` does about pending migrations whose DOWN section cannot run:
    ``warnings`` to show (file and line each), or, under ``--strict``, a ``refusal``
    (the reason; the caller says what was not done).

    A NamedTuple rather than a dataclass, as are the other values of this module: a no-op
    ``migrate`` loads it, and a NamedTuple costs far less to define."""

    warnings: tuple[str, ...] = ()
    refusal: str | None = None


def down_problem(name: str, down: sqlfile.Section | None, *, stored: bool = False) -> str | None:
    """``file:line: problem`` when ``down`` cannot run (it does not parse, holds a psql
    meta-command, …), else None. ``stored``: the DOWN comes from the tracking table, and
    its line is counted within the stored text."""
    if down is None or down.problem is None:
        return None
    problem = down.problem
    if stored:
        return (f"{name}: the DOWN section stored when it was applied, line {problem.line}: "
                f"{problem.message}")
    return f"{name}:{problem.line}: {problem.message}"


def migrate_downs(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool) -> DownVerdict:
    """``migrate`` applies migrations whose DOWN section cannot run, with a warning for
    each; under ``strict`` it refuses them all (nothing is applied)."""
    found = [(m.name, text) for m in migrations if (text := down_problem(m.name, m.down))]
    if not found:
        return DownVerdict()
    if strict:
        names = ", ".join(name for name, _ in found)
        details = "; ".join(text for _, text in found)
        return DownVerdict(refusal=f"--strict: the DOWN section of {names} cannot run "
                           f"({details})")
    return DownVerdict(warnings=tuple(
        f"{text} (in its DOWN section: the UP section is applied, but rolling this "
        "migration back is refused until the DOWN section is fixed)" for _, text in found))


def rollback_refusal(problems: Sequence[str | None]) -> str | None:
    """Why a rollback (``rollback``, ``reset``, ``redo``, ``refresh``) must refuse before
    anything runs, given :func:`down_problem` of each DOWN section it would run; None
    when every one can run."""
    found = [problem for problem in problems if problem]
    if not found:
        return None
    return f"cannot roll back: a DOWN section cannot run: {'; '.join(found)}"


# --- what runs, and every refusal ------------------------------------------------------

Verb = Literal["apply", "roll back"]

_OUTCOME = {"apply": ("nothing was applied", "migrate would apply nothing"),
            "roll back": ("nothing was rolled back", "nothing would be rolled back")}


class Refusal(NamedTuple):
    """Why a command refuses and changes nothing: ``reason`` (the run adds "nothing was
    applied", a plan "migrate would apply nothing"), ``hint`` for the user. A NamedTuple
    rather than a dataclass (see :class:`DownVerdict`)."""

    reason: str
    verb: Verb
    hint: str | None = None

    @classmethod
    def of(cls, reason: str | None, verb: Verb, hint: str | None = None) -> Refusal | None:
        """A refusal for ``reason``, or None when there is none."""
        return None if reason is None else cls(reason, verb, hint)

    def error(self) -> StateError:
        """The error the run raises."""
        return StateError(f"{self.reason}; {_OUTCOME[self.verb][0]}", hint=self.hint)

    def planned(self) -> str:
        """The refusal a plan reports."""
        return f"{self.reason}; {_OUTCOME[self.verb][1]}"


# --- what is recorded ---------------------------------------------------------------------


def recorded(state: TableState) -> set[str]:
    """The names of the applied migrations (partial runs are not among them)."""
    return {r.name for r in state.rows}


def pending(discovery: directory.Discovery, state: TableState) -> list[directory.MigrationFile]:
    """The files not recorded as applied, in order (a partial run is pending)."""
    applied = recorded(state)
    return [f for f in discovery.files if f.name not in applied]


def up_to_date(discovery: directory.Discovery, state: TableState) -> bool:
    """Every file is recorded and nothing is partial: migrate has nothing to do."""
    return not state.partial and not pending(discovery, state) and not discovery.repeatables


def next_batch(state: TableState) -> int:
    """The batch number the next migrate (or mark) records."""
    return max(state.max_batch, selection.BASELINE_BATCH) + 1


def late(discovery: directory.Discovery, applied: Collection[str],
         files: Sequence[directory.MigrationFile]) -> tuple[directory.MigrationFile | None,
                                                            list[directory.MigrationFile]]:
    """The latest applied file and those of ``files`` (pending ones) sorting before it
    (merged late)."""
    latest = discovery.latest_of(applied)
    if latest is None:
        return None, []
    return latest, [f for f in files if f.name not in applied and f.sort_key < latest.sort_key]


def late_warnings(discovery: directory.Discovery, state: TableState,
                  chosen: Sequence[directory.MigrationFile]) -> list[str]:
    """Warnings for the files a migrate applies that sort before the latest applied one."""
    if not chosen:
        return []  # a no-op migrate: nothing to compare with the applied ones
    latest, early = late(discovery, recorded(state), chosen)
    return [f"{f.name} is pending but sorts before {latest.name}, which is already applied "
            "(merged late?); it will be applied now" for f in early if latest is not None]


# --- migrate ------------------------------------------------------------------------------


def parse_files(files: Sequence[directory.MigrationFile],
                parse: states.Parser = states.parse_file) -> tuple[sqlfile.ParsedMigration, ...]:
    """``files`` read and parsed (by ``parse``: a cache may answer), in order.

    Raises: MigrationFileError — a file is malformed.
    """
    return tuple(parse(f) for f in files)


def _read_hooks(discovery: directory.Discovery) -> hooks.Hooks:
    from pgshift.files import hooks

    return hooks.read(discovery.directory)


class MigrateDecision(NamedTuple):
    """What ``migrate`` does now: the files it applies (parsed), in order, as ``batch``;
    the warnings about the recorded state it reports; ``refusal`` when it must apply
    nothing. A NamedTuple rather than a dataclass (see :class:`DownVerdict`)."""

    parsed: tuple[sqlfile.ParsedMigration, ...]
    batch: int | None
    warnings: tuple[str, ...]
    entries: tuple[MigrationStatus, ...]
    refusal: Refusal | None
    hooks: hooks.Hooks | None = None
    repeatables: tuple[sqlfile.ParsedMigration, ...] = ()
    adopt: tuple[directory.MigrationFile, ...] = ()


# --- squash files -------------------------------------------------------------------------


class SquashVerdict(NamedTuple):
    """What migrate does with the pending squash files: ``adopt`` (every file they replace
    is recorded: record them in batch 0 without running them); the others run as usual
    (none of what they replace is recorded); ``refusal`` when only some are recorded. A
    NamedTuple rather than a dataclass (see :class:`DownVerdict`)."""

    adopt: tuple[directory.MigrationFile, ...]
    refusal: Refusal | None


SQUASH_HINT = ("apply the missing migrations with the pgshift release (or the commit) that "
               "still has their files, then migrate with the squash file")


def squash_verdict(discovery: directory.Discovery, state: TableState) -> SquashVerdict:
    """The decision about the pending squash files (:class:`SquashVerdict`).

    Raises: MigrationFileError — a squash file's header is malformed.
    """
    squashes = states.squash_files(discovery)
    if not squashes:
        return SquashVerdict((), None)
    applied = recorded(state)
    files = discovery.by_name()
    adopt: list[directory.MigrationFile] = []
    for name, replaced in squashes.items():
        done = [n for n in replaced if n in applied]
        if name in applied or not done:
            continue
        missing = [n for n in replaced if n not in applied]
        if missing:
            return SquashVerdict((), Refusal(
                f"{name} squashes {replaced[0]}..{replaced[-1]}, but this database has "
                f"only {len(done)} of those {len(replaced)} recorded; missing: "
                f"{', '.join(missing)}", "apply", SQUASH_HINT))
        adopt.append(files[name])
    return SquashVerdict(tuple(adopt), None)


def squash_rollback_refusal(rows: Sequence[AppliedRow],
                            discovery: directory.Discovery) -> Refusal | None:
    """Rolling back a squash file, or a migration one replaces, is refused."""
    squashes = states.squash_files(discovery)
    replaced = {n: s for s, names in squashes.items() for n in names}
    below = [r.name for r in rows if r.name in squashes or r.name in replaced]
    if not below:
        return None
    squash = below[0] if below[0] in squashes else replaced[below[0]]
    return Refusal(f"cannot roll back below the squash file {squash}: {', '.join(below)}",
                   "roll back", hint="a squash file has no DOWN: to undo what it "
                   "created, write a new migration")


def decide_migrate(discovery: directory.Discovery, state: TableState, options: RunOptions, *,
                   step: int | None = None, to: str | None = None,
                   only: Collection[str] | None = None,
                   facts: states.FactsReader = states.read_facts,
                   parse: states.Parser = states.parse_file) -> MigrateDecision:
    """The decision of ``migrate(step=, to=)`` (``only``: the names redo applies again).
    Refusals in order: a partial run whose file is gone, drift under ``strict``, a DOWN
    section that cannot run under ``strict``, ``atomic`` with a non-transactional
    migration (the lint gate, :func:`strict_lint_refusal`, comes after).

    Raises:
        UsageRefused: ``to``/``step`` select nothing valid. MigrationFileError: a file to
        apply is malformed.
    """
    squash = squash_verdict(discovery, state)
    adopted = {f.name for f in squash.adopt}
    waiting = [f for f in pending(discovery, state) if f.name not in adopted]
    if only is not None:
        waiting = [f for f in waiting if f.name in only]
    chosen = selection.pending_to_apply(waiting, step=step, to=to, applied=recorded(state))
    parsed = parse_files(chosen, parse)
    again = (repeatables_to_apply(discovery, state, parse) if step is None and to is None
             else ())
    if only is not None:
        again = tuple(p for p in again if p.name in only)
    found_hooks = _read_hooks(discovery) if parsed or again else None
    check_placeholders([(p.name, p.up) for p in (*parsed, *again)]
                       + [(h.file, h.section) for h in (found_hooks.listed() if found_hooks
                                                        else ())], options)
    entries, drift = states.merge(discovery, state, facts, pending_metadata=False)
    downs = migrate_downs(parsed, strict=options.strict)
    warnings = (*discovery.warnings, *drift, *late_warnings(discovery, state, chosen),
                *downs.warnings)
    refusal = (squash.refusal or partial_gone_refusal(discovery, state)
               or drift_refusal(entries, options)
               or Refusal.of(downs.refusal, "apply", DOWN_HINT)
               or atomic_refusal([(p.name, p.no_transaction) for p in parsed], options,
                                 "apply"))
    return MigrateDecision(parsed, next_batch(state) if parsed or again else None, warnings,
                           entries, refusal, found_hooks, again, squash.adopt)


def repeatables_to_apply(discovery: directory.Discovery, state: TableState,
                         parse: states.Parser = states.parse_file) -> (
        tuple[sqlfile.ParsedMigration, ...]):
    """The repeatable migrations migrate applies after the versioned ones: those never
    applied or whose UP changed since their last apply, in the order of what they
    reference (:func:`pgshift.files.repeatable.order`).

    Raises:
        MigrationFileError: a repeatable is malformed, or they reference each other in a
            cycle.
    """
    if not discovery.repeatables:
        return ()
    from pgshift.files import repeatable

    parsed = parse_files(discovery.repeatables, parse)
    checksums = {r.name: r.checksum for r in state.rows if directory.is_repeatable(r.name)}
    return tuple(p for p in repeatable.order(parsed)
                 if p.name not in checksums or checksums[p.name] != p.checksum)


def check_placeholders(sections: Sequence[tuple[str, sqlfile.Section | None]],
                       options: RunOptions) -> None:
    """Every placeholder of the sections a command is about to run has a value (the
    built-ins always have one: the connection gives them).

    Raises:
        MigrationFileError: the first one without a value (file, line, variable).
    """
    if not any(section is not None and section.placeholders for _, section in sections):
        return
    from pgshift.files import placeholders

    values = options.values
    for builtin in placeholders.BUILTINS:
        values.setdefault(f"pgshift:{builtin}", "")
    for name, section in sections:
        if section is not None:
            section.check_values(values, name)


def partial_gone_refusal(discovery: directory.Discovery, state: TableState) -> Refusal | None:
    """A run left a migration partially applied and its file is gone: nothing can resume
    it."""
    if not state.partial:
        return None
    files = discovery.by_name()
    gone = [p.name for p in state.partial if p.name not in files]
    if not gone:
        return None
    return Refusal(f"{', '.join(gone)}: partially applied by an earlier run, but the file "
                   "is gone", "apply", hint="restore the file so migrate can resume it")


def drift(entries: Sequence[MigrationStatus]) -> list[MigrationStatus]:
    """The applied migrations whose file changed or is gone."""
    return [e for e in entries if e.state in ("modified", "missing file")]


def drift_refusal(entries: Sequence[MigrationStatus], options: RunOptions) -> Refusal | None:
    """Under ``--strict``, any drift refuses the run."""
    changed = drift(entries)
    if not changed or not options.strict:
        return None
    names = ", ".join(f"{e.name} ({e.state})" for e in changed)
    return Refusal(f"--strict: applied migrations changed since they were applied: {names}",
                   "apply", hint="restore the files as they were applied, or run without "
                   "--strict")


def atomic_refusal(migrations: Sequence[tuple[str, bool]], options: RunOptions,
                   verb: Verb) -> Refusal | None:
    """Under ``--atomic``, a migration (``(name, runs outside a transaction)``) that must
    run outside a transaction refuses the run."""
    outside = [name for name, no_transaction in migrations if no_transaction]
    if not outside or not options.atomic:
        return None
    if verb == "apply":
        return Refusal(f"--atomic: {', '.join(outside)} must run outside a transaction "
                       "(see its statements), so the run cannot be one transaction", verb,
                       hint="apply it on its own first (pgshift migrate --to NAME), or run "
                       "without --atomic")
    return Refusal(f"--atomic: the DOWN section of {', '.join(outside)} must run outside a "
                   "transaction, so the rollback cannot be one transaction", verb,
                   hint="run without --atomic")


# --- rollback -----------------------------------------------------------------------------


class Down(NamedTuple):
    """The DOWN section a rollback of ``row`` runs (None: it has none), where it comes from
    (``stored``: the copy in the tracking table), whether it runs outside a transaction
    and why; ``stored_because`` says why the stored copy stands in for the file's;
    ``problem`` (``file:line: …``) why the section cannot run. A NamedTuple rather than a
    dataclass (see :class:`DownVerdict`)."""

    row: AppliedRow
    section: sqlfile.Section | None
    source: Literal["file", "stored"]
    no_transaction: bool
    reasons: tuple[str, ...]
    stored_because: str | None = None
    problem: str | None = None


def resolve_down(row: AppliedRow, file: directory.MigrationFile | None,
                 stored: str | None) -> Down:
    """The file's DOWN section, else the one stored when ``row`` was applied.

    Raises:
        MigrationFileError: the file or the stored DOWN does not parse.
    """
    from pgshift.files import sqlfile

    section: sqlfile.Section | None = None
    directive, substitute = False, True
    if file is not None:
        parsed = sqlfile.parse(directory.read_text(file), file.name)
        section, directive = parsed.down, parsed.no_transaction_directive
        substitute = parsed.placeholders
    if (section is None or section.is_empty) and stored:
        why = "file is missing" if file is None else "file has no DOWN section"
        down = sqlfile.parse_down(stored, row.name, placeholders=substitute)
        return Down(row, down, "stored", down.needs_no_transaction,
                    _reasons(down, directive=False), stored_because=why,
                    problem=down_problem(row.name, down, stored=True))
    if section is None or section.is_empty:
        return Down(row, None, "file" if file is not None else "stored", False, ())
    reasons = _reasons(section, directive=directive)
    return Down(row, section, "file", bool(reasons), reasons,
                problem=down_problem(row.name, section))


class Restore(NamedTuple):
    """The section that restores the previous version of a repeatable migration, whether
    it runs outside a transaction and why, and ``problem`` (``file:line: …``) why it
    cannot run. A NamedTuple rather than a dataclass (see :class:`DownVerdict`)."""

    section: sqlfile.Section
    no_transaction: bool
    reasons: tuple[str, ...]
    problem: str | None


def restore_section(name: str, previous_up: str, current_down: str | None, *,
                    placeholders: bool = True) -> Restore:
    """How a repeatable's previous version is restored: in one transaction, the DOWN
    section of the version being undone (``current_down``, as recorded; so that e.g. a
    view that gained columns can be re-created with fewer) and then the UP section of the
    version before it (``previous_up``, as recorded then). Rollback and ``verify`` both
    build it here. ``placeholders=False``: the file says ``-- pgshift: no-placeholders``."""
    from pgshift.files import sqlfile

    # A DOWN section's last statement may end without ';' (and with a comment): a ';' of
    # its own on the next line ends it (an empty statement otherwise runs nothing).
    text = (previous_up if not current_down
            else current_down.rstrip("\n") + "\n;\n" + previous_up)
    section = sqlfile.parse_down(text, name, placeholders=placeholders)
    return Restore(section, section.needs_no_transaction, _reasons(section, directive=False),
                   down_problem(name, section, stored=True))


def repeatable_restore(row: AppliedRow, previous_up: str, current_down: str | None,
                       file: directory.MigrationFile | None = None) -> Down:
    """Rolling back the batch that re-applied repeatable ``row`` restores the version
    before it (:func:`restore_section`); the header of its ``file``, when there is one,
    says whether placeholders are substituted."""
    from pgshift.files import sqlfile

    substitute = file is None or sqlfile.placeholders_on(directory.read_text(file))
    restore = restore_section(row.name, previous_up, current_down, placeholders=substitute)
    return Down(row, restore.section, "stored", restore.no_transaction, restore.reasons,
                problem=restore.problem)


def _reasons(section: sqlfile.Section, *, directive: bool) -> tuple[str, ...]:
    reasons = [r for _, r in section.outside_transaction]
    if directive:
        reasons.insert(0, "-- pgshift: no-transaction")
    return tuple(dict.fromkeys(reasons))


def missing_down_refusal(downs: Sequence[Down]) -> Refusal | None:
    """A migration to roll back without a DOWN section refuses the whole rollback."""
    lacking = [d.row.name for d in downs if d.section is None]
    if not lacking:
        return None
    return Refusal(f"cannot roll back: {', '.join(lacking)} "
                   f"ha{'s' if len(lacking) == 1 else 've'} no DOWN section", "roll back",
                   hint="write the DOWN section in the file (pgshift uses the file's DOWN, "
                   "else the one stored when it was applied)")


def revert_refusal(downs: Sequence[Down], options: RunOptions) -> Refusal | None:
    """Why a rollback of ``downs`` refuses before anything runs, or None: a DOWN section
    that cannot run, then a missing one, then ``atomic`` with a non-transactional one."""
    return (Refusal.of(rollback_refusal([d.problem for d in downs]), "roll back", DOWN_HINT)
            or missing_down_refusal(downs)
            or atomic_refusal([(d.row.name, d.no_transaction) for d in downs], options,
                              "roll back"))


def redo_refusal(rows: Sequence[AppliedRow], discovery: directory.Discovery) -> Refusal | None:
    """redo applies again what it rolls back: a migration without a file refuses it."""
    files = {**discovery.by_name(), **{f.name: f for f in discovery.repeatables}}
    gone = [r.name for r in rows if r.name not in files]
    if not gone:
        return None
    return Refusal(f"redo: {', '.join(gone)} cannot be applied again (the file is missing)",
                   "roll back", hint="restore the file, or use pgshift rollback")

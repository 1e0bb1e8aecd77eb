"""``Migrator``: pgshift's library API and the policy of every command.

It decides what is pending, what a batch is and what to roll back; it runs each migration
through one function that owns its transaction (:mod:`pgshift.db.runner`), keeps all
tracking-table SQL in :mod:`pgshift.db.store`, and reports progress through ``on_event``.
It never prints and never exits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift.engine import states
from pgshift.engine.events import Emitter, EventHandler
from pgshift.errors import StateError, UsageRefused
from pgshift.files import directory
from pgshift.results import Finding, RunResult, StatusReport

# What runs need (the policy, sessions, parsing) is imported where it is used, so that
# ``status`` loads none of it.
if TYPE_CHECKING:
    import psycopg

    from pgshift.db.store import AppliedRow, TableState
    from pgshift.engine import policy
    from pgshift.engine.session import RunOptions, Session
    from pgshift.files import sqlfile


class Migrator:
    """Apply, inspect and roll back the migrations of one directory on one database.

    ``database_url`` is a libpq URL or key=value string. ``table`` may be schema-qualified.
    ``lock_wait`` bounds the wait for the migration lock (None: no bound);
    ``lock_timeout`` is PostgreSQL's lock_timeout for transactional migrations in seconds
    (0: off), retried ``lock_retries`` times with backoff. ``atomic`` makes every run one
    transaction (all of its migrations or none). ``on_event`` receives progress
    :class:`Event` values (they are also logged on the ``pgshift`` logger). ``facts`` reads
    a file's checksum for ``status`` (a caching reader can be passed); ``parse`` reads
    and parses a file a run applies (a cache keyed by the file's content can be passed).
    ``variables`` gives the values of the placeholders ``${name}`` in the SQL.

    ``schema`` makes the run a *schema target* (as in ``pgshift fleet``): every statement
    runs with ``search_path`` set to that schema, then ``public`` — ``SET LOCAL`` in each
    transaction, and as the connections' startup option for what runs outside one — the
    tracking table is ``<schema>.<table>`` (``table`` must then not name a schema) and the
    migration lock is that table's own, so runs on two schemas never wait for each other.
    """

    def __init__(
        self,
        database_url: str,
        directory: str | Path = "migrations",
        *,
        table: str = "_migrations",
        strict: bool = False,
        lock_wait: float | None = None,
        lock_timeout: float = 5.0,
        lock_retries: int = 3,
        atomic: bool = False,
        on_event: EventHandler | None = None,
        facts: states.FactsReader = states.read_facts,
        variables: Mapping[str, str] | None = None,
        schema: str | None = None,
        parse: states.Parser = states.parse_file,
    ) -> None:
        from pgshift.config import parse_table_name
        from pgshift.db.connect import with_search_path
        from pgshift.db.store import TrackingTable

        self.directory = Path(directory)
        table_schema, name = parse_table_name(table, "table")
        if schema is not None and table_schema is not None:
            raise UsageRefused(
                f"table {table!r} names a schema, but this run targets schema {schema!r}",
                hint="give the table's name only: each schema keeps its own tracking table",
            )
        self.schema = schema
        self.database_url = (database_url if schema is None
                             else with_search_path(database_url, schema))
        self.table = TrackingTable(schema or table_schema, name)
        self.strict = strict
        self.lock_wait = lock_wait
        self.lock_timeout = lock_timeout
        self.lock_retries = lock_retries
        self.atomic = atomic
        self._emit = Emitter(on_event)
        self._facts = facts
        self._parse = parse
        self.variables = dict(variables or {})

    def run_options(self, *, atomic: bool | None = None) -> RunOptions:
        """The options a run obeys now (``atomic`` overrides the constructor's)."""
        from pgshift.engine.session import RunOptions

        return RunOptions(strict=self.strict, lock_wait=self.lock_wait,
                          lock_timeout=self.lock_timeout, lock_retries=self.lock_retries,
                          atomic=self.atomic if atomic is None else atomic,
                          variables=tuple(sorted(self.variables.items())),
                          schema=self.schema)

    # --- public API -------------------------------------------------------------------

    def status(self) -> StatusReport:
        """Every migration, file or applied, with its state. Read-only: one query.

        Raises:
            ConfigError, ConnectionFailed, TrackingTableError.
        """
        from pgshift.db import store
        from pgshift.db.connect import READING_TABLE, connect, setting_up

        discovery = directory.discover(self.directory)
        with connect(self.database_url, autocommit=True) as conn, setting_up(
                READING_TABLE, self.database_url):
            state = store.read(conn, self.table)
        entries, warnings = states.merge(discovery, state, self._facts)
        return StatusReport(
            entries=entries,
            warnings=(*discovery.warnings, *warnings),
            table=self.table.display,
            table_exists=state.exists,
            counts=StatusReport.count(entries),
        )

    def migrate(self, *, step: int | None = None, to: str | None = None,
                atomic: bool | None = None) -> RunResult:
        """Apply the pending migrations, in order, as one new batch: all of them, the next
        ``step``, or those up to and including ``to``. ``atomic``: all in one transaction.

        Raises:
            MigrationFileError: a pending file is malformed (nothing was applied).
            MigrationFailed: ``.applied`` lists what this run applied before the failure
                (empty with ``atomic``: then nothing was applied).
            StateError: drift under ``strict``; a non-transactional migration under
                ``atomic``. LockTimeout, ConnectionFailed, ReadOnlyServer.
        """
        started = time.monotonic()
        discovery = directory.discover(self.directory)
        conn = None
        if step is None and to is None:
            nothing, conn = self._nothing_pending(discovery, started)
            if nothing is not None:
                return nothing
        with self._session(conn=conn, discovery=discovery) as session:
            return self._migrate(session, started, step=step, to=to,
                                 atomic=self.atomic if atomic is None else atomic)

    def _nothing_pending(self, discovery: directory.Discovery, started: float) -> (
            tuple[RunResult | None, psycopg.Connection[Any] | None]):
        """The no-op answer without the lock, when one read shows every file recorded and
        nothing partial (the usual deploy of an up-to-date database); otherwise None and
        the connection that read it, still open, for the run's session."""
        from pgshift.db import store
        from pgshift.db.connect import READING_TABLE, connect, setting_up
        from pgshift.engine import policy

        with ExitStack() as stack:
            conn = stack.enter_context(connect(self.database_url, autocommit=True))
            with setting_up(READING_TABLE, self.database_url):
                state = store.read(conn, self.table)
            if not policy.up_to_date(discovery, state):
                stack.pop_all()  # the run's session takes the connection over
                return None, conn
        decision = self._decide(discovery, state, self.run_options())
        return RunResult("migrate", None, warnings=decision.warnings,
                         seconds=time.monotonic() - started), None

    def _decide(self, discovery: directory.Discovery, state: TableState, options: RunOptions,
                *, step: int | None = None, to: str | None = None,
                only: set[str] | None = None) -> policy.MigrateDecision:
        """What migrate does (:func:`policy.decide_migrate`, which ``plan`` asks too): its
        warnings emitted, its refusal raised."""
        from pgshift.engine import policy

        decision = policy.decide_migrate(discovery, state, options, step=step, to=to,
                                         only=only, facts=self._facts, parse=self._parse)
        for warning in decision.warnings:
            self._emit("warning", warning)
        if decision.refusal is not None:
            raise decision.refusal.error()
        return decision

    def rollback(self, *, step: int | None = None, batch: int | None = None,
                 to: str | None = None, atomic: bool | None = None) -> RunResult:
        """Roll back, newest first: the last batch; or the last ``step`` migrations; or
        ``batch`` (only if it is the latest); or everything applied after ``to``.

        Raises:
            StateError: a migration concerned has no DOWN section (nothing rolled back).
            RollbackFailed: ``.applied`` lists what was rolled back before the failure.
        """
        from pgshift.engine import selection

        started = time.monotonic()
        with self._session() as session:
            rows = selection.rows_to_revert(session.state.rows, step=step, batch=batch, to=to)
            return self._revert(session, rows, "rollback", started,
                                atomic=self.atomic if atomic is None else atomic)

    def reset(self, *, atomic: bool | None = None) -> RunResult:
        """Roll back every batch, newest first (see :meth:`rollback`)."""
        from pgshift.engine import selection

        started = time.monotonic()
        with self._session() as session:
            rows = selection.rows_to_revert(session.state.rows, everything=True)
            return self._revert(session, rows, "reset", started,
                                atomic=self.atomic if atomic is None else atomic)

    def refresh(self, *, atomic: bool | None = None) -> RunResult:
        """``reset`` then ``migrate`` under one hold of the lock; the new batch is 1. With
        ``atomic``, both halves are one transaction."""
        from pgshift.engine import selection

        started = time.monotonic()
        atomic = self.atomic if atomic is None else atomic
        with self._session() as session, self._maybe_one_transaction(session, atomic):
            rows = selection.rows_to_revert(session.state.rows, everything=True)
            kept = {r.name for r in session.state.rows} - {r.name for r in rows}
            linted = self._lint_first(session, lambda name: name not in kept)
            undone = self._revert(session, rows, "reset", started, atomic=atomic)
            session.reread(end_transaction=not atomic)
            done = self._migrate(session, started, atomic=atomic, linted=linted)
        return _combined("refresh", undone, done, started)

    def redo(self, *, atomic: bool | None = None) -> RunResult:
        """Roll back the last batch and apply the same migrations again, as a new batch.

        Raises:
            StateError: a migration of the batch has no file to apply again (nothing done).
        """
        from pgshift.engine import policy, selection

        started = time.monotonic()
        atomic = self.atomic if atomic is None else atomic
        with self._session() as session, self._maybe_one_transaction(session, atomic):
            rows = selection.rows_to_revert(session.state.rows)
            refusal = policy.redo_refusal(rows, session.discovery)
            if refusal is not None:
                raise refusal.error()
            names = {r.name for r in rows}
            linted = self._lint_first(session, names.__contains__)
            undone = self._revert(session, rows, "rollback", started, atomic=atomic)
            session.reread(end_transaction=not atomic)
            done = self._migrate(session, started, only=names, atomic=atomic, linted=linted)
        return _combined("redo", undone, done, started)

    @contextmanager
    def _maybe_one_transaction(self, session: Session, atomic: bool) -> Iterator[None]:
        """With ``atomic``, one transaction around both halves of refresh/redo."""
        if not atomic:
            yield
            return
        with session.conn.transaction():
            yield

    def baseline(self, to: str, *, dry_run: bool = False) -> RunResult:
        """Record the migrations up to and including ``to`` as executed, without running
        them, in batch 0 (which rollback and reset never undo): for a database whose
        schema already exists.

        Raises:
            UsageRefused: ``to`` is not a migration file. StateError: some are recorded.
        """
        from pgshift.engine import bookkeeping

        with self._session(lock_wait=0.0 if not dry_run else self.lock_wait) as session:
            return bookkeeping.baseline(session, self._emit, to, dry_run=dry_run)

    def mark(self, name: str) -> RunResult:
        """Record ``name`` as executed (in a new batch) without running it. Refuses while
        another process holds the lock."""
        from pgshift.engine import bookkeeping

        with self._session(lock_wait=0.0) as session:
            return bookkeeping.mark(session, self._emit, name)

    def unmark(self, name: str) -> RunResult:
        """Forget the record of ``name`` without running its DOWN section. Refuses while
        another process holds the lock."""
        from pgshift.engine import bookkeeping

        with self._session(lock_wait=0.0) as session:
            return bookkeeping.unmark(session, self._emit, name)

    def create(self, name: str, *, today: date | None = None,
               template: str | Path | None = None) -> Path:
        """Write the next migration file from the template (``template``, else
        ``DIR/.template.sql``, else the built-in one); return its path.

        Raises:
            UsageRefused: a bad name. ConfigError: a template with an unknown field
            (nothing written). Works without a database.
        """
        return create_migration(self.directory, name, today=today, template=template)

    # --- sessions -----------------------------------------------------------------------

    def _session(self, *, lock_wait: float | None = None,
                 conn: psycopg.Connection[Any] | None = None,
                 discovery: directory.Discovery | None = None) -> (
            AbstractContextManager[Session]):
        """Connect (or take ``conn``, idle, which the session then owns), refuse a standby,
        take the lock, read the tracking table under it; the files are ``discovery``, else
        listed now."""
        from pgshift.engine.session import open_session

        if discovery is None:
            discovery = directory.discover(self.directory)
        return open_session(self.database_url, self.table, discovery,
                            lock_wait=self.lock_wait if lock_wait is None else lock_wait,
                            emit=self._emit, schema=self.schema, conn=conn)

    # --- migrate ------------------------------------------------------------------------

    def _migrate(self, session: Session, started: float, *, step: int | None = None,
                 to: str | None = None, only: set[str] | None = None,
                 atomic: bool = False,
                 linted: tuple[Finding, ...] | None = None) -> RunResult:
        from pgshift.engine.apply import Applier

        options = self.run_options(atomic=atomic)
        decision = self._decide(session.discovery, session.state, options, step=step, to=to,
                                only=only)
        parsed = list(decision.parsed)
        findings = self._lint(parsed, session.discovery) if linted is None else linted
        if decision.adopt:
            from pgshift.engine import bookkeeping

            bookkeeping.adopt(session, self._emit, decision.adopt)
        if decision.batch is None:
            return RunResult("migrate", None, warnings=decision.warnings,
                             seconds=time.monotonic() - started)
        done = Applier(session, options, self._emit).apply_all(
            parsed, decision.batch, hooks=decision.hooks, repeatables=decision.repeatables)
        return RunResult("migrate", decision.batch, tuple(done), warnings=decision.warnings,
                         seconds=time.monotonic() - started, findings=findings)

    # --- rollback -----------------------------------------------------------------------

    def _lint(self, parsed: list[sqlfile.ParsedMigration],
              discovery: directory.Discovery) -> tuple[Finding, ...]:
        """Show (``lint`` events) the warning and error findings of what the run is about
        to apply, and return them; under ``strict`` any of them refuses the run.

        Raises:
            StateError: ``strict`` and a finding (see :mod:`pgshift.engine.policy`).
        """
        from pgshift.engine import policy

        if policy.lint_skipped(parsed, strict=self.strict):
            self._emit("notice", f"{len(parsed)} migrations pending: not linted here "
                       "(run pgshift lint)")
            return ()
        findings = policy.gate_findings(parsed, strict=self.strict,
                                        earlier=policy.earlier_files(discovery, parsed))
        for f in findings:
            self._emit("lint", f"{f.file}:{f.line}: {f.severity} {f.rule}: {f.message}", f.file)
        refusal = policy.strict_lint_refusal(findings, strict=self.strict, verb="was applied")
        if refusal is not None:
            raise StateError(refusal, hint=policy.STRICT_LINT_HINT)
        return tuple(findings)

    def _lint_first(self, session: Session,
                    wanted: Callable[[str], bool]) -> tuple[Finding, ...] | None:
        """For refresh and redo under ``strict``: lint the files the second half will
        apply before the first half changes anything (None without ``strict``: the
        second half lints as migrate does)."""
        from pgshift.engine import policy

        if not self.strict:
            return None
        files = [f for f in session.discovery.files if wanted(f.name)]
        parsed = list(policy.parse_files(files, self._parse))
        broken = policy.migrate_downs(parsed, strict=True).refusal
        if broken is not None:
            raise policy.Refusal(broken, "apply", policy.DOWN_HINT).error()
        return self._lint(parsed, session.discovery)

    def _revert(self, session: Session, rows: list[AppliedRow], action: str, started: float, *,
                atomic: bool = False) -> RunResult:
        from pgshift.engine import policy
        from pgshift.engine.apply import Applier

        if not rows:
            return RunResult(action, None, seconds=time.monotonic() - started)
        refusal = policy.squash_rollback_refusal(rows, session.discovery)
        if refusal is not None:
            raise refusal.error()
        applier = Applier(session, self.run_options(atomic=atomic), self._emit)
        undone = applier.revert_all(applier.plan_reverts(rows))
        return RunResult(action, rows[0].batch, rolled_back=tuple(undone),
                         seconds=time.monotonic() - started)

def create_migration(dir_path: str | Path, name: str, *, today: date | None = None,
                     template: str | Path | None = None) -> Path:
    """Write ``DIR/<next number>_<name>.sql`` from the template (no database needed):
    ``template``, else ``DIR/.template.sql``, else the built-in one, with ``{{filename}}``,
    ``{{name}}``, ``{{description}}``, ``{{date}}`` and ``{{number}}`` filled.

    Raises:
        UsageRefused: a bad name. ConfigError: a template with an unknown field (nothing
        written).
    """
    return directory.create(Path(dir_path), name, today=today or date.today(),
                            template=None if template is None else Path(template))


def _combined(action: str, undone: RunResult, done: RunResult, started: float) -> RunResult:
    return RunResult(
        action=action,
        batch=done.batch,
        applied=done.applied,
        rolled_back=undone.rolled_back,
        warnings=(*undone.warnings, *done.warnings),
        seconds=time.monotonic() - started,
        findings=done.findings,
    )


__all__ = ["Migrator", "create_migration"]

"""Applying and reverting migrations of a locked session, one transaction each.

:class:`Applier` turns runner failures into :class:`MigrationFailed` /
:class:`RollbackFailed` carrying what the run had done, retries a migration whose
statements hit pgshift's ``lock_timeout``, and turns Ctrl-C / SIGTERM into
:class:`Interrupted` after the running transaction was rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg

from pgshift.db import catalog, lock, runner, store
from pgshift.db.connect import STARTING_ATOMIC_RUN, connect, server_error, setting_up
from pgshift.engine import failures, policy
from pgshift.engine.events import Emitter
from pgshift.engine.session import RunOptions, Session
from pgshift.errors import (
    HookFailed,
    Interrupted,
    LockTimeout,
    MigrationFailed,
    PgshiftError,
    RollbackFailed,
    StateError,
)
from pgshift.files import placeholders, sqlfile
from pgshift.files.directory import is_repeatable
from pgshift.files.hooks import Hook, Hooks
from pgshift.results import AppliedMigration

_T = TypeVar("_T")

# After the connection was lost while a migration sent with its COMMIT ran: how long a new
# connection waits for the server to end that transaction before saying it cannot tell.
SETTLE_SECONDS = 10.0

# Consecutive migrations of the one-query form go together, several in one query, while
# such queries stay short (progress is reported as each query ends): how many go together
# doubles after a query quicker than TOGETHER_QUICK_SECONDS, halves after one quicker than
# TOGETHER_SLOW_SECONDS and is back to one after a slower one, never above TOGETHER_MAX.
TOGETHER_QUICK_SECONDS = 0.1
TOGETHER_SLOW_SECONDS = 0.5
TOGETHER_MAX = 64


@dataclass(frozen=True)
class RevertPlan:
    """One migration to roll back: its row and the DOWN section to run; for a repeatable
    migration, the version it restores (its UP is ``down``; None: none, ``down`` is its
    DOWN section), that version being the last applied before batch ``floor``, the
    oldest batch the rollback undoes."""

    row: store.AppliedRow
    down: sqlfile.Section
    no_transaction: bool
    repeatable: bool = False
    restore: store.RepeatableVersion | None = None
    floor: int = 0


class Applier:
    """Runs the migrations of one session (connection, held lock, tracking table) under
    ``options``, reporting progress through ``emit``."""

    def __init__(self, session: Session, options: RunOptions, emit: Emitter) -> None:
        self.s = session
        self.options = options
        self.emit = emit
        self.done: list[AppliedMigration] = []
        self._outside_done = 0  # statements of the current non-transactional UP completed
        state = session.state
        self._setup_needed = not state.exists or state.legacy or not state.has_progress_table
        self._setup_at_start = self._setup_needed
        self._partial = {p.name: p for p in state.partial}
        # Each transactional section and its tracking row go as one query; an atomic run
        # that meets what needs a savepoint per migration starts again with them.
        self._one_query = True
        self._together = 1  # how many such migrations the next query may carry
        self._announced: str | None = None
        self._guard = lock.commit_guard(session.guard_key)
        self._interrupted_after: BaseException | None = None
        self._schema: str | None = None
        self._hooks = Hooks()

    # --- placeholders -------------------------------------------------------------------

    def _substituted(self, filename: str, section: sqlfile.Section) -> sqlfile.Section:
        if not section.placeholders:
            return section
        if self._schema is None and any(p.name == "pgshift:schema"
                                        for p in section.placeholders):
            self._schema = current_schema(self.s.conn)
        values = placeholder_values(self.s.conn, self.options.values, filename,
                                    self._schema or "")
        return section.with_values(values, filename)

    def _masking(self) -> list[tuple[str, str]]:
        return placeholders.masker(self.options.values)

    # --- apply --------------------------------------------------------------------------

    def apply_all(self, parsed: Sequence[sqlfile.ParsedMigration], batch: int, *,
                  hooks: Hooks | None = None,
                  repeatables: Sequence[sqlfile.ParsedMigration] = ()) -> (
            list[AppliedMigration]):
        """Apply ``parsed``, then the ``repeatables``, as ``batch`` (``--atomic``: as one
        transaction; the policy refused a run that cannot be one), with the ``hooks`` of
        the directory."""
        self._hooks = hooks or Hooks()
        parsed = [*parsed, *repeatables]
        if self.options.atomic:
            return self._atomically(lambda: self._apply_each(parsed, batch))
        return self._apply_each(parsed, batch)

    def _atomically(self, body: Callable[[], list[AppliedMigration]]) -> (
        list[AppliedMigration]
    ):
        """One transaction without a savepoint per migration; when a migration needs one
        (an "already exists" error to skip, a lock_timeout to retry), roll the run back
        and run it again with them: an atomic run is all or nothing anyway."""
        try:
            return self._as_one_transaction(body)
        except _NeedsSavepoints as why:
            self.emit("notice", f"--atomic: {why.name}: {why.reason}; the run was rolled "
                      "back and starts again with a savepoint per migration", why.name)
            self.done = []
            self._setup_needed = self._setup_at_start
            self._one_query = False
            return self._as_one_transaction(body)

    def _as_one_transaction(self, body: Callable[[], list[AppliedMigration]]) -> (
        list[AppliedMigration]
    ):
        """Run ``body`` in one transaction: each migration's own transaction becomes a
        savepoint of it, and any failure rolls the whole run back."""
        try:
            with self.s.conn.transaction():
                if self._one_query:
                    # sent once: they last until the transaction ends, so the migrations'
                    # queries go without them (see _in_transaction)
                    with setting_up(STARTING_ATOMIC_RUN, self.s.database_url):
                        self.s.conn.execute(self._prefix())
                return body()
        except (MigrationFailed, RollbackFailed) as error:
            error.applied = []
            error.notes.append("--atomic: the whole run was rolled back; nothing of it "
                               "is applied")
            self.emit("warning", "--atomic run failed: everything it had done, including "
                         "the migrations reported as done, was rolled back")
            raise
        except Interrupted as error:
            error.applied = []
            error.message += " (--atomic: the whole run was rolled back)"
            raise

    def _apply_each(self, parsed: Sequence[sqlfile.ParsedMigration], batch: int) -> (
        list[AppliedMigration]
    ):
        names = [p.name for p in parsed]
        self._announced = None  # an atomic run starting again announces each again
        self.emit("batch-start", f"applying batch {batch}", total=len(parsed))
        try:
            if self._hooks.before_migrate is not None and parsed:
                self._migrate_hook(self._hooks.before_migrate)
            position = 0
            while position < len(parsed):
                self.s.held.check()
                self._interruptible(self._late_interrupt, names[position:], "applied")
                started = time.monotonic()
                group = self._together_from(parsed, position)
                if group:
                    applied = self._interruptible(
                        partial(self._apply_together, group, batch, names[position:]),
                        names[position:], "applied")
                    position += applied
                    if applied < len(group):
                        self._together = 1  # the one that stopped the query goes alone
                        continue
                else:
                    migration = parsed[position]
                    self._announce(migration.name)
                    one = self._interruptible(
                        partial(self._apply_one, migration, batch), names[position:],
                        "applied", outside=migration.no_transaction,
                    )
                    self._record_done(one)
                    position += 1
                self._pace(time.monotonic() - started)
            if self._hooks.after_migrate is not None and parsed:
                self._migrate_hook(self._hooks.after_migrate)
        finally:
            self.emit("batch-end", f"batch {batch} ended")
        return self.done

    def _announce(self, name: str) -> None:
        """The "applying" event of ``name``, once (a migration that stopped a query of
        several goes again alone)."""
        if name != self._announced:
            self._announced = name
            self.emit("applying", f"applying {name}", name)

    def _record_done(self, one: AppliedMigration) -> None:
        self.done.append(one)
        self.emit("applied", f"applied {one.name}", one.name, one.duration_ms)

    def _pace(self, seconds: float) -> None:
        """How many migrations the next query may carry, after one that took ``seconds``."""
        if seconds < TOGETHER_QUICK_SECONDS:
            self._together = min(TOGETHER_MAX, self._together * 2)
        elif seconds < TOGETHER_SLOW_SECONDS:
            self._together = max(1, self._together // 2)
        else:
            self._together = 1

    def _in_one_query(self, migration: sqlfile.ParsedMigration) -> bool:
        """Whether ``migration`` goes as one query with its tracking row (the happy path of
        :mod:`pgshift.db.runner`): transactional, the tracking table in place, no
        before-each/after-each hook to run in its transaction, not repeatable."""
        hooks = self._hooks.before_each is not None or self._hooks.after_each is not None
        return (self._one_query and not self._setup_needed and not hooks
                and not migration.no_transaction and not is_repeatable(migration.name))

    def _together_from(self, parsed: Sequence[sqlfile.ParsedMigration], position: int) -> (
            list[sqlfile.ParsedMigration]):
        """The migrations from ``position`` on that go together in the next query: the
        consecutive ones of the one-query form, as many as :meth:`_pace` allows (none: the
        one at ``position`` goes alone)."""
        if self._together < 2:
            return []
        group = []
        for migration in parsed[position:position + self._together]:
            if not self._in_one_query(migration):
                break
            group.append(migration)
        return group if len(group) > 1 else []

    def _apply_together(self, group: Sequence[sqlfile.ParsedMigration], batch: int,
                        remaining: list[str]) -> int:
        """Send ``group`` as one query (:func:`runner.run_together`); return how many of
        them were applied: all, or (outside ``--atomic``) those before the one that
        stopped the query on a lock_timeout or on what only the statement-by-statement
        form handles ("already exists", an error it cannot place), which the caller then
        applies alone, so that its retry or that form are exactly those of a migration
        sent alone. Any other failure is reported as it is for a migration sent alone,
        without running it again. ``remaining``: the names from ``group[0]`` to the end
        of the run."""
        conn = self.s.conn
        ups = [self._substituted(m.name, m.up) for m in group]
        members = [
            runner.Member(up, self._record_sql(m, batch), catalog.invalid_index_check(
                [name[1:] for name in up.index_names], conn))
            for m, up in zip(group, ups, strict=True)
        ]
        self._announce(group[0].name)
        try:
            durations = runner.run_together(conn, members, prefix=self._one_query_prefix(),
                                            guard=self._guard, strict=self.options.strict)
        except runner.Stopped as stop:
            return self._stopped(group, ups, batch, stop, remaining)
        self._record_together(group, batch, durations)
        return len(group)

    def _record_sql(self, migration: sqlfile.ParsedMigration, batch: int) -> str:
        return store.insert_sql(self.s.conn, self.s.table, name=migration.name, batch=batch,
                                checksum=migration.checksum, down_sql=migration.down_sql,
                                enclosed=self.options.atomic)

    def _record_together(self, group: Sequence[sqlfile.ParsedMigration], batch: int,
                         durations: Sequence[int]) -> None:
        for migration, ms in zip(group, durations, strict=True):
            self._announce(migration.name)
            self._record_done(AppliedMigration(migration.name, batch, ms, False))

    def _stopped(self, group: Sequence[sqlfile.ParsedMigration],
                 ups: Sequence[sqlfile.Section], batch: int, stop: runner.Stopped,
                 remaining: list[str]) -> int:
        """What :meth:`_apply_together` returns, or raises, once its query stopped."""
        cause = stop.cause
        if self.options.atomic:  # the run's one transaction is aborted: nothing stays
            if isinstance(cause, KeyboardInterrupt):
                raise failures.interrupted(cause, [d.name for d in self.done], remaining,
                                           "applied", outside_done=None)
            self._record_together(group[:stop.at], batch, stop.durations)
            raise self._enclosed_failure(group[stop.at].name, ups[stop.at], cause)
        finished = stop.at  # committed: their COMMIT's result was read
        if isinstance(cause, runner.StatementError) and not cause.during_commit:
            self._record_together(group[:finished], batch, stop.durations[:finished])
            retried = cause.server.sqlstate == failures.LOCK_NOT_AVAILABLE
            if cause.connection_lost or (cause.statement is not None and not retried):
                raise self._failure(MigrationFailed, group[finished].name, ups[finished],
                                    cause)
            # a lock_timeout to retry, or what only the statement-by-statement form
            # handles: the caller applies group[finished] alone
            return finished
        return self._unread_stop(group, ups, batch, stop, remaining)

    def _unread_stop(self, group: Sequence[sqlfile.ParsedMigration],
                     ups: Sequence[sqlfile.Section], batch: int, stop: runner.Stopped,
                     remaining: list[str]) -> int:
        """:meth:`_stopped` after an interrupt or a connection lost without a word: the
        results of the last statements may be lost, so the tracking table tells which of
        the members from ``stop.at`` on committed."""
        cause, finished = stop.cause, stop.at
        unread = [m.name for m in group[finished:]]
        if isinstance(cause, KeyboardInterrupt):
            committed: dict[str, int] | None = self._recorded_of(unread) or {}
        else:
            committed = self._settled_of(unread)
        if committed is None:  # the connection is lost and the server cannot be asked
            self._record_together(group[:finished], batch, stop.durations[:finished])
            if not isinstance(cause, runner.StatementError):
                raise cause
            error = self._failure(MigrationFailed, unread[0], ups[finished],
                                  runner.StatementError(cause.server, None,
                                                        connection_lost=True,
                                                        during_commit=True))
            if len(unread) > 1 and isinstance(error, PgshiftError):
                error.message += (f"; sent in the same query after it, so equally in "
                                  f"doubt: {', '.join(unread[1:])}")
            raise error
        for name in unread:
            if name not in committed:
                break
            finished += 1
        durations = [*stop.durations[:stop.at],
                     *(committed[n] for n in unread[:finished - stop.at])]
        self._record_together(group[:finished], batch, durations)
        if isinstance(cause, KeyboardInterrupt):
            if finished == len(group):  # it came after the last COMMIT
                self._interrupted_after = cause
                return finished
            raise failures.interrupted(cause, [d.name for d in self.done],
                                       remaining[finished:], "applied", outside_done=None)
        if not isinstance(cause, runner.StatementError):
            raise cause
        last = finished == len(group)  # lost after the last COMMIT: reported as for one alone
        if last:
            self.done.pop()
            finished -= 1
        raise failures.failure(
            MigrationFailed, group[finished].name, ups[finished], cause,
            done=[d.name for d in self.done], creating_table=None, blocking=[],
            masking=self._masking(), committed=last)

    def _enclosed_failure(self, name: str, up: sqlfile.Section, cause: BaseException) -> (
            BaseException):
        """The error for migration ``name`` (``up``: as it ran) that stopped a query of
        several inside an atomic run's transaction, as for one sent alone."""
        if isinstance(cause, (runner.NeedsSavepoints, runner.StatementError)):
            needs = _needs_savepoints(name, cause)
            if needs is not None:
                return needs
        if isinstance(cause, runner.StatementError):
            return self._failure(MigrationFailed, name, up, cause)
        return cause

    def _recorded_of(self, names: Sequence[str]) -> dict[str, int] | None:
        """Which of ``names`` are recorded, with their ``duration_ms``, read on the run's
        connection, idle again after an interrupted query. None: cannot tell (reported as
        not applied)."""
        try:
            with self.s.conn.transaction():
                return store.recorded_durations(self.s.conn, self.s.table, names)
        except Exception:
            return None

    def _settled_of(self, names: Sequence[str]) -> dict[str, int] | None:
        """After the connection was lost while a query holding ``COMMIT``s ran: on a new
        connection, wait (at most :data:`SETTLE_SECONDS`) for the server to end it, then
        read which of ``names`` are recorded. None: cannot tell (no connection, or still
        running)."""
        try:
            with connect(self.s.database_url, autocommit=False) as conn:
                lock.await_commits(conn, self.s.guard_key, wait=SETTLE_SECONDS)
                with conn.transaction():
                    return store.recorded_durations(conn, self.s.table, names)
        except (psycopg.Error, PgshiftError):
            return None

    # --- hooks --------------------------------------------------------------------------

    def _migrate_hook(self, hook: Hook) -> None:
        """before-migrate / after-migrate in a transaction of its own."""
        self.emit("hook", f"running {hook.file}", hook.file)
        try:
            self._run_hook(hook, hook.file)
        except _HookError as failed:
            raise self._hook_failure(failed, None) from None

    def _run_hook(self, hook: Hook, filename: str) -> None:
        """Run ``hook`` (placeholders filled, ``${pgshift:filename}`` being ``filename``)
        in a transaction, or a savepoint of the transaction already open.

        Raises:
            _HookError: a statement of the hook failed.
        """
        section = self._substituted(filename, hook.section)
        try:
            runner.run_in_transaction(self.s.conn, section, prefix=self._prefix(),
                                      strict=self.options.strict)
        except runner.StatementError as error:
            raise _HookError(hook, section, error) from None

    def _hook_failure(self, failed: _HookError, during: str | None) -> Exception:
        """The error for a failed hook, saying what stays applied."""
        hook = failed.hook
        done = [d.name for d in self.done]
        error = failures.failure(HookFailed, hook.file, failed.section, failed.error,
                                 done=done, creating_table=None, blocking=[],
                                 masking=self._masking())
        kept = ", ".join(done) or "nothing"
        if during is not None:
            note = (f"{hook.file} ran in the transaction of {during}: that transaction was "
                    f"rolled back, {during} is not applied; applied earlier in this run "
                    f"and kept: {kept}")
        elif hook.name == "before-migrate":
            note = f"{hook.file} runs before the migrations of this run: nothing was applied"
        else:
            note = (f"{hook.file} runs after the migrations of this run: they stay applied "
                    f"and recorded: {kept}")
        if isinstance(error, HookFailed):
            error.notes.append(note)
        return error

    def _apply_one(self, migration: sqlfile.ParsedMigration, batch: int) -> AppliedMigration:
        started = time.monotonic()
        table = self.s.table
        up = self._substituted(migration.name, migration.up)
        again = is_repeatable(migration.name)

        def create_table(c: Any) -> None:
            if self._setup_needed:
                store.create_or_upgrade(c, table, self.s.state)

        def insert_row(c: Any) -> None:
            if again:
                store.record_repeatable(c, table, name=migration.name, batch=batch,
                                        checksum=migration.checksum,
                                        duration_ms=_ms(started),
                                        up_sql=migration.up_sql,
                                        down_sql=migration.down_sql)
                return
            store.insert(c, table, name=migration.name, batch=batch,
                         checksum=migration.checksum, duration_ms=_ms(started),
                         down_sql=migration.down_sql)

        setup: runner.Hook = create_table
        finish: runner.Hook = insert_row
        record = ""
        before, after = self._hooks.before_each, self._hooks.after_each
        each = (before or after) and not migration.no_transaction
        if self._in_one_query(migration):
            record = self._record_sql(migration, batch)
        if each:
            setup, finish = self._with_each_hooks(migration.name, setup, finish)
        try:
            if migration.no_transaction:
                outcome = self._outside_up(migration, up, setup, finish)
            else:
                outcome = self._in_transaction(
                    migration.name, up, record=record, finish=finish,
                    setup=setup if self._setup_needed or each else None,
                    strict=self.options.strict, applying=True)
        except _HookError as failed:
            raise self._hook_failure(failed, migration.name) from None
        except runner.StatementError as error:
            raise self._failure(MigrationFailed, migration.name, up, error) from None
        except runner.InvalidIndex as error:
            raise self._invalid(MigrationFailed, migration.name, error) from None
        except psycopg.Error as error:  # tracking-table bookkeeping around the statements
            raise self._failure(MigrationFailed, migration.name, up,
                                self._bookkeeping(error)) from None
        self._setup_needed = False
        masking = self._masking() if outcome.warnings else []
        for warning in outcome.warnings:
            self.emit("warning", f"{migration.name}: {placeholders.mask(warning, masking)}",
                      migration.name)
        return AppliedMigration(migration.name, batch, _ms(started), migration.no_transaction,
                                tuple(outcome.warnings))

    def _with_each_hooks(self, name: str, setup: runner.Hook, finish: runner.Hook) -> (
            tuple[runner.Hook, runner.Hook]):
        """``setup`` then before-each, after-each then ``finish``: in the transaction of
        migration ``name``, around its UP section."""
        before, after = self._hooks.before_each, self._hooks.after_each

        def setup_then_hook(c: Any) -> None:
            setup(c)
            if before is not None:
                self._run_hook(before, name)

        def hook_then_finish(c: Any) -> None:
            if after is not None:
                self._run_hook(after, name)
            finish(c)

        return setup_then_hook, hook_then_finish

    def _outside(self, name: str, section: sqlfile.Section, finish: runner.Hook) -> (
        runner.Outcome
    ):
        """A DOWN section outside a transaction; its row goes after its last statement."""
        conn = self.s.conn
        conn.autocommit = True
        try:
            self._await_index_builds(name, section)
            outcome = runner.run_outside_transaction(conn, section, strict=True,
                                                     prefix=self._prefix())
        finally:
            if not conn.closed:
                conn.autocommit = False
        with conn.transaction():
            finish(conn)
        return outcome

    def _outside_up(self, migration: sqlfile.ParsedMigration, section: sqlfile.Section,
                    setup: runner.Hook, finish: runner.Hook) -> runner.Outcome:
        """An UP section (``section``: values substituted) outside a transaction, recording
        each statement's completion (checksums of the statements as written) so an
        interrupted run resumes where it stopped."""
        conn, table, name = self.s.conn, self.s.table, migration.name
        sums = [sqlfile.statement_checksum(st.sql) for st in migration.up.statements()]
        with conn.transaction():
            setup(conn)
            self._setup_needed = False
            start_at = self._resume_point(migration, sums)
            if start_at == 0:
                store.progress_start(conn, table, name, len(sums))
        self._outside_done = start_at
        conn.autocommit = True
        try:
            self._await_index_builds(name, section)
            self._drop_own_invalid_index(migration, start_at)

            def before(index: int) -> None:
                created = section.index_created_by(index)
                if index in section.concurrent_indexes and created is not None:
                    exists = catalog.index_exists(conn, created)
                    ours = None if exists else catalog.qualified(created)
                    store.progress_index(conn, table, name, ours)

            def done(index: int) -> None:
                store.progress_step(conn, table, name, index + 1, sums[index])
                self._outside_done = index + 1

            outcome = runner.run_outside_transaction(
                conn, section, start_at=start_at, strict=self.options.strict, prefix=self._prefix(),
                before_statement=before, on_statement_done=done)
        except runner.StatementError as error:
            error.ran_before = list(range(start_at)) + error.ran_before
            raise
        finally:
            if not conn.closed and not conn.broken:
                conn.autocommit = False
        with conn.transaction():
            finish(conn)
            store.progress_delete(conn, table, name)
        self._partial.pop(name, None)
        return outcome

    def _resume_point(self, migration: sqlfile.ParsedMigration, sums: list[str]) -> int:
        """Where an earlier, interrupted run of ``migration`` stopped (0: start afresh)."""
        progress = self._partial.get(migration.name)
        if progress is None or progress.applied == 0:
            return 0
        done = progress.applied
        if done > len(sums) or list(progress.checksums[:done]) != sums[:done]:
            changed = [i + 1 for i in range(min(done, len(sums)))
                       if i >= len(progress.checksums) or progress.checksums[i] != sums[i]]
            raise StateError(
                f"{migration.name} was partially applied by an earlier run ({done} of "
                f"{progress.total} statements ran outside a transaction and stay applied), "
                f"and statement(s) {', '.join(map(str, changed)) or '1-' + str(done)} of the "
                "file changed since: pgshift will not guess how to continue",
                hint=f"restore those statements, or undo what they did by hand and then "
                f"forget the partial run: DELETE FROM {self.s.table.progress.display} "
                f"WHERE name = '{migration.name}';",
            )
        ran = f"statements 1-{done}" if done > 1 else "statement 1"
        self.emit("notice", f"{migration.name}: resuming at statement {done + 1} of "
                     f"{len(sums)}; {ran} completed in an earlier run", migration.name)
        return int(done)

    def _await_index_builds(self, name: str, section: sqlfile.Section) -> None:
        """Wait, at most ``--lock-wait`` seconds, while another session still builds an
        INVALID index that ``section`` creates: typically the ``CREATE INDEX CONCURRENTLY``
        of a killed run, whose backend goes on without its client. Dropping or building
        that index meanwhile would wait on the build and could then fail with XX000
        ("tuple concurrently updated"); once the build ends the index is valid (nothing
        to do) or INVALID and left over (dropped and built again)."""
        names = [(schema, index) for _, schema, index in section.index_names]
        if not names:
            return
        started = time.monotonic()
        report_at = started
        while builds := catalog.index_builds(self.s.conn, names):
            waited = time.monotonic() - started
            who = "; ".join(f"{b.index} by {b.describe()}" for b in builds)
            if self.options.lock_wait is not None and waited >= self.options.lock_wait:
                raise LockTimeout(
                    f"{name}: another session is still building an INVALID index this "
                    f"migration creates ({who}); waited {waited:.0f} s (--lock-wait); "
                    f"{name} was not run further",
                    hint="wait for the build to finish and run the command again, or end "
                    f"it: SELECT pg_cancel_backend({builds[0].pid});",
                )
            if time.monotonic() >= report_at:
                self.emit("lock-wait", f"{name}: waiting for the build of an INVALID index "
                          f"it creates to finish: {who} ({waited:.0f} s so far)", name)
                report_at = time.monotonic() + 10.0
            time.sleep(0.5)

    def _drop_own_invalid_index(self, migration: sqlfile.ParsedMigration, start_at: int) -> None:
        """An INVALID index left by pgshift's own interrupted CREATE INDEX CONCURRENTLY is
        dropped (concurrently) so the statement can build it again; any other is kept."""
        progress = self._partial.get(migration.name)
        if progress is None or not progress.pending_index:
            return
        conn = self.s.conn
        if not catalog.invalid_indexes(conn, [progress.pending_index]):
            return
        self.emit("notice", f"{migration.name}: dropping the INVALID index "
                     f"{progress.pending_index} left by its interrupted CREATE INDEX "
                     "CONCURRENTLY, to build it again", migration.name)
        catalog.drop_index_concurrently(conn, progress.pending_index)

    def _prefix(self) -> str:
        return runner.transaction_prefix(self.s.conn.info.server_version,
                                         self.options.lock_timeout, self.options.schema)

    def _one_query_prefix(self) -> str:
        """The ``SET LOCAL``s of a one-query migration: none inside an atomic run's
        transaction, which began with them (:meth:`_as_one_transaction`)."""
        return "" if self.options.atomic else self._prefix()

    def _in_transaction(self, name: str, section: sqlfile.Section, *, record: str,
                        finish: runner.Hook, setup: runner.Hook | None = None,
                        strict: bool, applying: bool) -> runner.Outcome:
        """A transactional section with its tracking-row change, retried on lock_timeout.
        In an atomic run's one transaction (no savepoint to go back to), what needs one
        starts the run again with savepoints (:class:`_NeedsSavepoints`)."""
        conn = self.s.conn
        enclosed = bool(record) and self.options.atomic
        prefix = self._one_query_prefix() if record else self._prefix()

        def attempt() -> runner.Outcome:
            try:
                return runner.run_in_transaction(conn, section, prefix=prefix,
                                                 setup=setup, finish=finish, record=record,
                                                 guard=self._guard,
                                                 strict=strict)
            except runner.NeedsSavepoints as error:
                raise _needs_savepoints(name, error) or error from None
            except runner.StatementError as error:
                if enclosed and (needs := _needs_savepoints(name, error)):
                    raise needs from None
                raise
            except runner.InterruptedAfterCommit as late:
                if not self._recorded(name, present=applying):
                    raise late.interrupt from None
                self._interrupted_after = late.interrupt
                return runner.Outcome()

        return self._with_retries(name, attempt)

    def _recorded(self, name: str, *, present: bool) -> bool:
        """After an interrupted COMMIT on a connection that is idle again: did it commit?
        Its tracking row tells (present after an UP, gone after a DOWN)."""
        found = self._recorded_of([name])
        return found is not None and (name in found) == present  # cannot tell: not done

    def _settle(self, name: str, *, present: bool) -> bool | None:
        """After the connection was lost while a migration sent with its ``COMMIT`` ran:
        on a new connection, wait (at most :data:`SETTLE_SECONDS`) for the server to end
        that transaction, then ask its tracking row whether it committed (present after an
        UP, gone after a DOWN). None: cannot tell (no connection, or still running)."""
        found = self._settled_of([name])
        return None if found is None else (name in found) == present

    def _late_interrupt(self) -> None:
        """Raise the interrupt that arrived after the previous migration had committed."""
        interrupt, self._interrupted_after = self._interrupted_after, None
        if interrupt is not None:
            raise interrupt

    def _with_retries(self, name: str, attempt: Callable[[], _T]) -> _T:
        tries = 0
        while True:
            try:
                return attempt()
            except runner.StatementError as error:
                options = self.options
                if (error.server.sqlstate != failures.LOCK_NOT_AVAILABLE
                        or not options.lock_timeout or tries >= options.lock_retries):
                    raise
                tries += 1
                pause = min(30.0, 2.0 ** tries)
                self.emit("retry", f"{name}: lock_timeout hit ({error.server.message}); "
                             f"retry {tries} of {self.options.lock_retries} in {pause:g} s", name)
                time.sleep(pause)

    # --- revert -------------------------------------------------------------------------

    def plan_reverts(self, rows: Sequence[store.AppliedRow]) -> list[RevertPlan]:
        """The DOWN of every row (:func:`policy.resolve_down`: the file's, else the stored
        one); refuse before doing anything when one is missing or cannot run, or under
        ``--atomic`` must run outside a transaction."""
        discovery = self.s.discovery
        files = {**discovery.by_name(), **{f.name: f for f in discovery.repeatables}}
        stored: dict[str, str | None] = {}
        previous: dict[str, store.RepeatableVersion] = {}
        if not self.s.state.legacy:
            with self.s.conn.transaction():
                stored = store.stored_down_sql(self.s.conn, self.s.table,
                                               [r.name for r in rows])
                # the version in effect once every batch from the oldest one rolled back
                # on is undone: the one applied before it (none: run the DOWN)
                floor = min((r.batch for r in rows), default=0)
                for row in rows:
                    if is_repeatable(row.name):
                        found = store.previous_version(self.s.conn, self.s.table, row.name,
                                                       floor)
                        if found is not None:
                            previous[row.name] = found
        downs = [policy.repeatable_restore(r, previous[r.name].up_sql, stored.get(r.name),
                                           files.get(r.name))
                 if r.name in previous
                 else policy.resolve_down(r, files.get(r.name), stored.get(r.name))
                 for r in rows]
        for down in downs:
            if down.stored_because is not None:
                self.emit("notice", f"{down.row.name}: {down.stored_because}; using the DOWN "
                          "section stored when it was applied", down.row.name)
        refusal = policy.revert_refusal(downs, self.options)
        if refusal is not None:
            raise refusal.error()
        policy.check_placeholders([(d.row.name, d.section) for d in downs], self.options)
        return [RevertPlan(d.row, d.section, d.no_transaction, is_repeatable(d.row.name),
                           previous.get(d.row.name), floor=min(r.batch for r in rows))
                for d in downs if d.section is not None]  # none is missing: refused above

    def revert_all(self, plans: Sequence[RevertPlan]) -> list[AppliedMigration]:
        """Roll back ``plans`` in order (``--atomic``: as one transaction; the policy
        refused a rollback that cannot be one)."""
        if self.options.atomic:
            return self._atomically(lambda: self._revert_each(plans))
        return self._revert_each(plans)

    def _revert_each(self, plans: Sequence[RevertPlan]) -> list[AppliedMigration]:
        names = [p.row.name for p in plans]
        self.emit("batch-start", "rolling back", total=len(plans))
        try:
            for position, plan in enumerate(plans):
                self.s.held.check()
                self._interruptible(self._late_interrupt, names[position:], "rolled back")
                self.emit("reverting", f"rolling back {plan.row.name}", plan.row.name)
                one = self._interruptible(partial(self._revert_one, plan), names[position:],
                                          "rolled back", outside=plan.no_transaction)
                self.done.append(one)
                self.emit("reverted", f"rolled back {one.name}", one.name, one.duration_ms)
        finally:
            self.emit("batch-end", "rollback ended")
        return self.done

    def _revert_one(self, plan: RevertPlan) -> AppliedMigration:
        started = time.monotonic()
        name, conn, table = plan.row.name, self.s.conn, self.s.table

        def finish(c: Any) -> None:
            if plan.repeatable:
                store.restore_repeatable(c, table, name, plan.floor, plan.restore)
                return
            store.delete(c, table, name)

        record = ""
        if self._one_query and not plan.repeatable:
            record = store.delete_sql(conn, table, name)
        down = self._substituted(name, plan.down)
        try:
            if plan.no_transaction:
                self._outside(name, down, finish)
            else:
                self._in_transaction(name, down, record=record, finish=finish,
                                     strict=True, applying=False)
        except runner.StatementError as error:
            raise self._failure(RollbackFailed, name, down, error) from None
        except runner.InvalidIndex as error:
            raise self._invalid(RollbackFailed, name, error) from None
        except psycopg.Error as error:
            raise self._failure(RollbackFailed, name, down,
                                self._bookkeeping(error)) from None
        return AppliedMigration(name, plan.row.batch, _ms(started), plan.no_transaction)

    # --- failures -----------------------------------------------------------------------

    def _interruptible(self, step: Callable[[], _T], remaining: list[str], verb: str,
                       outside: bool = False) -> _T:
        try:
            return step()
        except KeyboardInterrupt as interrupt:
            raise failures.interrupted(
                interrupt, [d.name for d in self.done], remaining, verb,
                outside_done=self._outside_done if outside else None,
            ) from None

    def _failure(self, kind: type[MigrationFailed] | type[RollbackFailed], name: str,
                 section: sqlfile.Section, error: runner.StatementError) -> Exception:
        blocking: list[str] = []
        if error.server.sqlstate == failures.LOCK_NOT_AVAILABLE:
            blocking = failures.blockers(self.s.conn, error, self.options.lock_retries,
                                         self.options.lock_timeout)
        committed = None
        if error.connection_lost and error.guarded:
            committed = self._settle(name, present=kind is MigrationFailed)
        return failures.failure(
            kind, name, section, error, done=[d.name for d in self.done],
            creating_table=self.s.table.display if self._setup_needed else None,
            blocking=blocking, masking=self._masking(), committed=committed,
        )

    def _bookkeeping(self, error: psycopg.Error) -> runner.StatementError:
        lost = runner.is_connection_error(error, self.s.conn)
        return runner.StatementError(server_error(error), None, connection_lost=lost)

    def _invalid(self, kind: type[MigrationFailed] | type[RollbackFailed], name: str,
                 error: runner.InvalidIndex) -> Exception:
        return failures.invalid_index(kind, name, error, [d.name for d in self.done])


class _NeedsSavepoints(Exception):
    """An atomic run without savepoints met ``reason`` in ``name``: run it again with."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _needs_savepoints(name: str, error: runner.NeedsSavepoints | runner.StatementError) -> (
        _NeedsSavepoints | None):
    """What makes an atomic run without savepoints start again with them: what only the
    statement-by-statement form handles, or a lock_timeout (retried behind a savepoint)."""
    if isinstance(error, runner.NeedsSavepoints):
        return _NeedsSavepoints(name, error.server.message)
    if error.server.sqlstate == failures.LOCK_NOT_AVAILABLE:
        return _NeedsSavepoints(name, "lock_timeout hit")
    return None


class _HookError(Exception):
    """A statement of ``hook`` failed (``section``: the hook as it ran)."""

    def __init__(self, hook: Hook, section: sqlfile.Section,
                 error: runner.StatementError) -> None:
        super().__init__(f"{hook.file}: {error.server.message}")
        self.hook = hook
        self.section = section
        self.error = error


def current_schema(conn: Any) -> str:
    """The first schema of the connection's search_path ("" when none)."""
    with conn.transaction():
        row = conn.execute("SELECT current_schema()").fetchone()
    return str(row[0]) if row and row[0] is not None else ""


def placeholder_values(conn: Any, variables: Mapping[str, str], filename: str,
                       schema: str | None = None) -> dict[str, str]:
    """The placeholder values for a section of ``filename`` run on ``conn``: the run's
    ``variables`` and the built-ins (database, user, ``schema`` — read from the
    connection when None —, file name)."""
    info = conn.info
    return {**variables, "pgshift:database": info.dbname, "pgshift:user": info.user,
            "pgshift:filename": filename,
            "pgshift:schema": current_schema(conn) if schema is None else schema}


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

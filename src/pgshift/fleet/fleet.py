"""``Fleet``: one migrations directory run against many targets (SPEC §8).

Each target is run by its own :class:`~pgshift.Migrator` (``schema=`` for a schema target),
so a fleet run decides nothing a single run does not: what is pending, batches, locks and
failures are the engine's. What the fleet adds: the order and parallelism of targets
(:mod:`pgshift.fleet.schedule`), and the no-op fast path — the schema targets of one
database are read with one query (:func:`pgshift.db.store.read_many`), and those with
nothing to do are answered without opening their own connections. It never prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift.engine import states
from pgshift.errors import UsageRefused
from pgshift.files import directory
from pgshift.fleet.results import FleetEvent, FleetResult, Outcome, TargetResult
from pgshift.fleet.schedule import FleetHandler, OnError, Policy, Scheduler
from pgshift.fleet.targets import Target
from pgshift.results import Event, StatusReport

if TYPE_CHECKING:
    from pgshift.db.store import TableState
    from pgshift.engine.migrator import Migrator
    from pgshift.files.sqlfile import ParsedMigration

DEFAULT_PARALLEL = 8


class Fleet:
    """Run ``migrate``, ``status``, ``rollback`` and ``plan`` over many targets.

    ``targets`` are :class:`~pgshift.fleet.targets.Target` values (a database URL, or a
    schema of one); ``parallel`` bounds the targets in flight (default ``min(8,
    targets)``); ``on_error="stop"`` starts no target after a failure; ``canary=K`` runs
    the first K targets (in name order) first and nothing else if one of them fails.
    ``table``, ``strict``, ``lock_wait``, ``lock_timeout``, ``lock_retries``, ``atomic``,
    ``variables`` (placeholder values), ``facts`` and ``parse`` are the
    :class:`~pgshift.Migrator` options, the same for every target; each file is read and
    parsed once per run, whatever the number of targets. ``on_event`` receives
    :class:`~pgshift.fleet.results.FleetEvent` values, from several threads.
    Every method returns a :class:`~pgshift.fleet.results.FleetResult`; a target's failure
    is in its result, never raised.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        directory: str | Path = "migrations",
        *,
        table: str = "_migrations",
        parallel: int | None = None,
        on_error: OnError = "continue",
        canary: int = 0,
        strict: bool = False,
        lock_wait: float | None = None,
        lock_timeout: float = 5.0,
        lock_retries: int = 3,
        atomic: bool = False,
        on_event: FleetHandler | None = None,
        facts: states.FactsReader | None = None,
        variables: Mapping[str, str] | None = None,
        parse: states.Parser | None = None,
    ) -> None:
        if parallel is not None and parallel < 1:
            raise UsageRefused(f"--parallel must be at least 1 (got {parallel})")
        if canary < 0:
            raise UsageRefused(f"--canary must not be negative (got {canary})")
        if on_error not in ("continue", "stop"):
            raise UsageRefused(f"--on-error must be continue or stop (got {on_error!r})")
        self.targets = sorted(targets, key=lambda t: t.name)
        self.directory = Path(directory)
        self.table = table
        self.policy = Policy(parallel or max(1, min(DEFAULT_PARALLEL, len(self.targets))),
                             on_error, canary)
        self.options: dict[str, Any] = {"strict": strict, "lock_wait": lock_wait,
                                        "lock_timeout": lock_timeout,
                                        "lock_retries": lock_retries, "atomic": atomic}
        self.on_event = on_event
        self.variables = dict(variables or {})
        self._facts = _memo(facts or states.read_facts)
        self._parse = _memo_parse(parse or states.parse_file)

    # --- operations ---------------------------------------------------------------------

    def migrate(self, *, step: int | None = None, to: str | None = None) -> FleetResult:
        """Apply each target's pending migrations (``step``/``to`` as ``migrate``)."""
        discovery = directory.discover(self.directory)

        def work(target: Target) -> TargetResult:
            started = time.monotonic()
            run = self.migrator(target).migrate(step=step, to=to)
            names = tuple(a.name for a in run.applied)
            return TargetResult(target.name, "migrated" if names else "up-to-date", run.batch,
                                applied=names, duration_ms=_ms(started), run=run)

        def probe(url: str, members: Sequence[Target]) -> dict[str, TargetResult | None]:
            if step is not None or to is not None:
                return {}
            return {name: self._no_op(name, state, discovery, seconds)
                    for name, state, seconds in self._read_many(url, members)}

        return self._run("migrate", work, probe)

    def status(self) -> FleetResult:
        """Each target's migration states (read-only; one query per database for schema
        targets). A target with something to apply is ``pending``."""
        discovery = directory.discover(self.directory)

        def work(target: Target) -> TargetResult:
            started = time.monotonic()
            return _status_result(target.name, self.migrator(target).status(), started)

        def probe(url: str, members: Sequence[Target]) -> dict[str, TargetResult | None]:
            answers: dict[str, TargetResult | None] = {}
            for name, state, seconds in self._read_many(url, members):
                table = next(self._table_display(t) for t in members if t.name == name)
                answers[name] = None if state is None else _status_result(
                    name, self._report(discovery, state, table), seconds)
            return answers

        return self._run("status", work, probe)

    def rollback(self, *, step: int | None = None, batch: int | None = None,
                 to: str | None = None) -> FleetResult:
        """Roll back each target's last batch (or ``step``/``batch``/``to``)."""

        def work(target: Target) -> TargetResult:
            started = time.monotonic()
            run = self.migrator(target).rollback(step=step, batch=batch, to=to)
            names = tuple(a.name for a in run.rolled_back)
            return TargetResult(target.name, "rolled-back" if names else "up-to-date",
                                run.batch, rolled_back=names, duration_ms=_ms(started),
                                run=run)

        return self._run("rollback", work, None)

    def plan(self, *, step: int | None = None, to: str | None = None) -> FleetResult:
        """What ``migrate`` would do on each target, changing nothing. A target whose
        migrate would refuse is ``failed`` with the reason."""
        from pgshift.errors import StateError
        from pgshift.review.plan import plan_migrate

        def work(target: Target) -> TargetResult:
            started = time.monotonic()
            plan = plan_migrate(self.migrator(target), step=step, to=to)
            if plan.refusal:
                return TargetResult(target.name, "failed", error=StateError(plan.refusal),
                                    duration_ms=_ms(started), plan=plan)
            outcome: Outcome = "pending" if plan.migrations else "up-to-date"
            return TargetResult(target.name, outcome, plan.batch, duration_ms=_ms(started),
                                plan=plan)

        return self._run("plan", work, None)

    def migrator(self, target: Target) -> Migrator:
        """The :class:`~pgshift.Migrator` that runs ``target`` (its events are forwarded
        to ``on_event`` as ``event`` :class:`FleetEvent` values)."""
        from pgshift.db.connect import with_application_name
        from pgshift.engine.migrator import Migrator

        url = with_application_name(target.url, f"pgshift fleet {target.name}")
        return Migrator(url, self.directory, table=self.table, schema=target.schema,
                        on_event=self._forward(target.name), facts=self._facts,
                        parse=self._parse,
                        variables=self.variables, **self.options)

    # --- internals ----------------------------------------------------------------------

    def _run(self, action: str, work: Callable[[Target], TargetResult],
             probe: Callable[[str, Sequence[Target]], Mapping[str, TargetResult | None]]
             | None) -> FleetResult:
        started = time.monotonic()
        scheduler = Scheduler(self.targets, work, self.policy, probe=probe,
                              on_event=self.on_event)
        results = tuple(scheduler.run())
        return FleetResult(action, results, time.monotonic() - started,
                           FleetResult.count(results))

    def _forward(self, name: str) -> Callable[[Event], None] | None:
        handler = self.on_event
        if handler is None:
            return None
        return lambda event: handler(FleetEvent("event", name, event=event))

    def _table_name(self) -> str:
        from pgshift.config import parse_table_name

        schema, name = parse_table_name(self.table, "table")
        if schema is not None:
            raise UsageRefused(f"table {self.table!r} names a schema, but schema targets keep "
                               "their own tracking table", hint="give the table's name only")
        return name

    def _table_display(self, target: Target) -> str:
        return f"{target.schema}.{self._table_name()}"

    def _read_many(self, url: str, members: Sequence[Target]) -> (
        list[tuple[str, TableState | None, float]]
    ):
        """(name, state or None, start time) of every schema target of database ``url``,
        read with one connection and one query."""
        from pgshift.db import store
        from pgshift.db.connect import connect, with_application_name

        started = time.monotonic()
        name = self._table_name()
        conn_url = with_application_name(url, "pgshift fleet")
        with connect(conn_url, autocommit=True) as conn:
            states_by_schema = store.read_many(conn, [t.schema or "" for t in members], name)
        return [(t.name, states_by_schema.get(t.schema or ""), started) for t in members]

    def _no_op(self, name: str, state: TableState | None, discovery: directory.Discovery,
               started: float) -> TargetResult | None:
        """The answer of a target whose ``state`` shows nothing to do, as its own no-op
        migrate would give it (its warnings as events; drift refused under ``strict``);
        None when the target needs its own run."""
        from pgshift.engine import policy
        from pgshift.engine.session import RunOptions

        if state is None or not policy.up_to_date(discovery, state):
            return None
        options = RunOptions(**self.options,
                             variables=tuple(sorted(self.variables.items())))
        decision = policy.decide_migrate(discovery, state, options, facts=self._facts,
                                         parse=self._parse)
        forward = self._forward(name)
        for warning in decision.warnings:
            if forward is not None:
                forward(Event("warning", warning))
        if decision.refusal is not None:
            return TargetResult(name, "failed", error=decision.refusal.error(),
                                duration_ms=_ms(started))
        return TargetResult(name, "up-to-date", duration_ms=_ms(started))

    def _report(self, discovery: directory.Discovery, state: TableState, table: str) -> (
        StatusReport
    ):
        entries, warnings = states.merge(discovery, state, self._facts)
        return StatusReport(entries=entries, warnings=(*discovery.warnings, *warnings),
                            table=table, table_exists=state.exists,
                            counts=StatusReport.count(entries))


def _status_result(name: str, report: StatusReport, started: float) -> TargetResult:
    behind = any(e.state in ("pending", "partial") for e in report.entries)
    outcome: Outcome = "pending" if behind else "up-to-date"
    return TargetResult(name, outcome, report=report,
                        duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _memo(reader: states.FactsReader) -> states.FactsReader:
    """``reader`` computing each file's facts once per fleet run (all targets share the
    same files). The cache is filled from several threads; a lost race only recomputes."""
    known: dict[tuple[directory.MigrationFile, bool], states.FileFacts] = {}

    def read(file: directory.MigrationFile, *, header_only: bool = False) -> states.FileFacts:
        found = known.get((file, header_only))
        if found is None:
            found = known[(file, header_only)] = reader(file, header_only=header_only)
        return found

    return read


def _memo_parse(parse: states.Parser) -> states.Parser:
    """``parse`` reading and parsing each file once per fleet run, for all its targets
    (a malformed file raises each time it is asked)."""
    known: dict[directory.MigrationFile, ParsedMigration] = {}

    def read(file: directory.MigrationFile) -> ParsedMigration:
        found = known.get(file)
        if found is None:
            found = known[file] = parse(file)
        return found

    return read


__all__ = ["Fleet", "FleetResult", "Target", "TargetResult"]

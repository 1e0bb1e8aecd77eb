"""Running one operation over many targets: at most N in flight, canaries first, stop on
error, and per-database probes that answer many targets with one query.

Each target runs on a thread of its own (psycopg releases the GIL while it waits on the
network, so threads overlap all the waiting that matters). A *probe* reads every target of
one database at once (one connection, one query); it answers the targets it can (up to
date, unreachable, a status) and leaves the others to a full run. A target waits only for
its own database's probe, so an unreachable server never holds up the others.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pgshift.errors import PgshiftError, Unreachable
from pgshift.fleet.results import FAILED, FleetEvent, Outcome, TargetResult
from pgshift.fleet.targets import Target

OnError = Literal["continue", "stop"]
Work = Callable[[Target], TargetResult]
# A probe of the targets of one database: name → a final result, or None (run it fully).
Probe = Callable[[str, Sequence[Target]], Mapping[str, "TargetResult | None"]]
FleetHandler = Callable[[FleetEvent], None]


@dataclass(frozen=True)
class ProbeAnswer:
    url: str
    answers: Mapping[str, TargetResult | None]


@dataclass(frozen=True)
class Policy:
    """``parallel``: targets in flight at most; ``on_error``: ``stop`` starts no target
    after a failure; ``canary``: the first K targets (in name order) run first, and if any
    of them fails no other starts."""

    parallel: int = 8
    on_error: OnError = "continue"
    canary: int = 0


def failure_result(target: Target, error: BaseException, started: float) -> TargetResult:
    """The result of a target whose run raised ``error``: ``unreachable`` when no
    connection could be opened, else ``failed``."""
    ms = int((time.monotonic() - started) * 1000)
    if not isinstance(error, PgshiftError):
        error = PgshiftError(f"unexpected error: {type(error).__name__}: {error}")
    outcome: Outcome = "unreachable" if isinstance(error, Unreachable) else "failed"
    applied = tuple(getattr(error, "applied", ()) or ())
    names = tuple(a if isinstance(a, str) else a.name for a in applied)
    return TargetResult(target.name, outcome, error=error, duration_ms=ms, applied=names)


def guarded(work: Work) -> Work:
    """``work`` that never raises: a failure becomes the target's result. Any exception
    is caught on purpose: one target's failure (even a bug) must not stop the fleet."""

    def run(target: Target) -> TargetResult:
        started = time.monotonic()
        try:
            return work(target)
        except Exception as error:  # isolate every target (see docstring)
            return failure_result(target, error, started)

    return run


class Scheduler:
    """Runs ``work`` over ``targets`` (sorted by name) under a :class:`Policy`."""

    def __init__(self, targets: Sequence[Target], work: Work, policy: Policy, *,
                 probe: Probe | None = None, on_event: FleetHandler | None = None) -> None:
        self.targets = sorted(targets, key=lambda t: t.name)
        self.work = guarded(work)
        self.policy = policy
        self.probe = probe
        self.on_event = on_event
        self.results: dict[str, TargetResult] = {}
        self._done: queue.Queue[TargetResult | ProbeAnswer] = queue.Queue()
        self._answers: dict[str, TargetResult | None] = {}
        self._probes_pending: set[str] = set()
        self._in_flight = 0
        self._stopped = False

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> list[TargetResult]:
        """Every target's result in name order. Ctrl-C stops new starts and propagates."""
        canaries = self.targets[: self.policy.canary]
        rest = self.targets[self.policy.canary:]
        self._start_probes()
        self._phase(canaries)
        if canaries and any(self.results[t.name].outcome in FAILED for t in canaries):
            self._stopped = True
        self._phase(rest)
        return [self.results[t.name] for t in self.targets]

    def _phase(self, targets: Sequence[Target]) -> None:
        waiting = list(targets)
        while True:
            waiting = self._start_ready(waiting)
            if self._stopped:
                for target in waiting:
                    self._finish(TargetResult(target.name, "skipped"))
                waiting = []
            if not waiting and not self._in_flight:
                return
            self._receive()

    def _start_ready(self, waiting: list[Target]) -> list[Target]:
        """Start, in order, every waiting target that may start now; return the others."""
        still: list[Target] = []
        for target in waiting:
            if not self._stopped and self._ready(target) and (
                    self._answered(target) or self._in_flight < self.policy.parallel):
                self._start(target)
            else:
                still.append(target)
        return still

    def _ready(self, target: Target) -> bool:
        return target.url not in self._probes_pending

    def _answered(self, target: Target) -> bool:
        return self._answers.get(target.name) is not None

    def _start(self, target: Target) -> None:
        self._emit(FleetEvent("start", target.name))
        answer = self._answers.get(target.name)
        if answer is not None:
            self._finish(answer)
            return
        self._in_flight += 1
        thread = threading.Thread(target=self._run_one, args=(target,), daemon=True,
                                  name=f"pgshift-fleet-{target.name}")
        thread.start()

    def _run_one(self, target: Target) -> None:
        self._done.put(self.work(target))

    def _receive(self) -> None:
        message = self._done.get()
        if isinstance(message, TargetResult):
            self._in_flight -= 1
            self._finish(message)
        else:
            self._answers.update(message.answers)
            self._probes_pending.discard(message.url)

    def _finish(self, result: TargetResult) -> None:
        self.results[result.name] = result
        if result.outcome in FAILED and self.policy.on_error == "stop":
            self._stopped = True
        self._emit(FleetEvent("done", result.name, result=result))

    def _emit(self, event: FleetEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # --- probes -------------------------------------------------------------------------

    def _start_probes(self) -> None:
        if self.probe is None:
            return
        groups: dict[str, list[Target]] = {}
        for target in self.targets:
            if target.schema is not None:
                groups.setdefault(target.url, []).append(target)
        self._probes_pending = set(groups)
        probe = self.probe
        limit = threading.Semaphore(max(1, self.policy.parallel))

        def run_probe(url: str, members: list[Target]) -> None:
            with limit:
                started = time.monotonic()
                try:
                    answers = dict(probe(url, members))
                except Unreachable as error:
                    answers = {t.name: failure_result(t, error, started) for t in members}
                except Exception:  # a probe is only a shortcut: run fully
                    answers = {}
            self._done.put(ProbeAnswer(url, answers))

        for url, members in groups.items():
            threading.Thread(target=run_probe, args=(url, members), daemon=True,
                             name="pgshift-fleet-probe").start()

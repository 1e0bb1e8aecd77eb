"""The fleet's live display counts targets from the run's events: a target is in flight
from ``start`` to ``done``, a skipped one never starts, a failed or unreachable one counts
as failed; an exception inside the display still stops it and gives stderr back."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from pgshift.cli.output import FleetProgress
from pgshift.fleet.results import FleetEvent, TargetResult
from pgshift.render.fleet import progress_line
from pgshift.results import Event


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def done(name: str, outcome: str) -> FleetEvent:
    return FleetEvent("done", name, result=TargetResult(name, outcome))  # type: ignore[arg-type]


def test_the_counts_follow_start_and_done_events() -> None:
    console, out = terminal()
    display = FleetProgress(5, console=console)
    assert display.describe() == "targets 0/5 done, 0 failed, 0 in flight"
    with display:
        for name in ("a", "b", "c"):
            display.update(FleetEvent("start", name))
        display.update(FleetEvent("event", "a", event=Event("applied", "001_a.sql")))
        assert display.describe() == "targets 0/5 done, 0 failed, 3 in flight"
        display.update(done("a", "migrated"))
        display.update(done("b", "failed"))
        display.update(done("c", "unreachable"))
        display.update(done("d", "skipped"))
        display.update(done("e", "skipped"))
    assert display.describe() == "targets 5/5 done, 2 failed, 0 in flight, 2 skipped"
    assert "targets 5/5 done, 2 failed, 0 in flight, 2 skipped" in out.getvalue()
    assert out.getvalue().endswith("\x1b[?25h\r\x1b[1A\x1b[2K")  # cursor back, line erased


def test_an_exception_inside_stops_the_display_and_restores_stderr() -> None:
    console, out = terminal()
    stderr = sys.stderr
    with pytest.raises(RuntimeError), FleetProgress(3, console=console) as display:
        display.update(FleetEvent("start", "a"))
        raise RuntimeError("boom")
    assert sys.stderr is stderr
    assert out.getvalue().endswith("\x1b[2K") and "\x1b[?25h" in out.getvalue()


def test_progress_line() -> None:
    assert progress_line(7, 20, failed=1, in_flight=3) == (
        "targets 7/20 done, 1 failed, 3 in flight")
    assert progress_line(20, 20, failed=1, in_flight=0, skipped=12) == (
        "targets 20/20 done, 1 failed, 0 in flight, 12 skipped")

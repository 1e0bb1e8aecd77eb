"""The live display of ``pgshift fleet`` (SPEC §8) on a real terminal: the installed
console script runs with stderr on a pseudo-terminal and stdout on a pipe. The display
counts the targets done, failed and in flight, erases itself at the end (also after
Ctrl-C, SIGTERM or an error) and never reaches stdout; without a terminal, with
``--quiet`` or with ``--json`` nothing of it is shown."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from pgtest import clean_environ, execute
from process.support import fleet_files as files
from process.support import logged, recorded, wait_for

SCHEMAS = [f"tenant_{i:02d}" for i in range(20)]
FAILING = "tenant_07"
WARNED = "tenant_03"  # its ``items`` exists as 002 makes it: 002 skips the CREATE, warns
SHOW_CURSOR, HIDE_CURSOR = b"\x1b[?25h", b"\x1b[?25l"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = re.compile(r"targets (\d+)/(\d+) done, (\d+) failed, (\d+) in flight")
PGSHIFT = Path(sys.executable).parent / "pgshift"


def fleet_of(url: str, directory: Path, names: list[str], pause: float = 0.1) -> None:
    """``names`` as schemas; migration 002 fails in ``FAILING`` (its ``items`` has another
    type) and warns in ``WARNED``."""
    execute(url, "".join(f"CREATE SCHEMA {n};" for n in names))
    if FAILING in names:
        execute(url, f"CREATE TABLE {FAILING}.items (id date)")
    if WARNED in names:
        execute(url, f"CREATE TABLE {WARNED}.items (id int)")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files(pause).items():
        (directory / name).write_text(text, encoding="utf-8")


@dataclass
class TtyRun:
    """A finished run: its exit code, stdout, and every byte its stderr terminal got."""

    exit_code: int
    stdout: str
    terminal: bytes

    @property
    def screen(self) -> str:
        """The terminal's bytes as text without escape sequences and carriage returns."""
        return ANSI.sub("", self.terminal.decode("utf-8", "replace")).replace("\r", "")

    def frames(self) -> list[tuple[int, int, int, int]]:
        """(done, total, failed, in flight) of every frame the display drew."""
        return [tuple(map(int, m)) for m in FRAME.findall(self.screen)]  # type: ignore[misc]


class Terminal:
    """A pseudo-terminal 120 columns wide whose main side is read until EOF by a thread."""

    def __init__(self) -> None:
        self.main, self.replica = os.openpty()
        fcntl.ioctl(self.replica, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.main, 65536)
            except OSError:  # EIO: every replica descriptor is closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def start(self, cwd: Path, *args: str, stderr_on_terminal: bool = True) -> (
        subprocess.Popen[str]
    ):
        env = clean_environ({"TERM": "xterm-256color", "COLUMNS": None, "LINES": None,
                             "NO_COLOR": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None,
                             "TTY_INTERACTIVE": None})
        proc = subprocess.Popen(
            [str(PGSHIFT), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.replica if stderr_on_terminal else subprocess.PIPE, text=True)
        os.close(self.replica)
        self._reader.start()
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float = 180) -> TtyRun:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"pgshift did not exit within {timeout} s\n{out}\n{err}")
        self._reader.join(30)
        os.close(self.main)
        return TtyRun(proc.returncode, out, b"".join(self.chunks) + (err or "").encode())


def run_on_terminal(cwd: Path, *args: str, stderr_on_terminal: bool = True) -> TtyRun:
    terminal = Terminal()
    return terminal.finish(terminal.start(cwd, *args, stderr_on_terminal=stderr_on_terminal))


def assert_erased_and_cursor_shown(run: TtyRun) -> None:
    """The display hid the cursor while it ran, showed it again at the end, and erased
    its line (the cursor moved back up and the line was cleared)."""
    raw = run.terminal
    assert HIDE_CURSOR in raw, raw[-400:]
    assert raw.rindex(SHOW_CURSOR) > raw.rindex(HIDE_CURSOR), raw[-400:]
    assert b"\x1b[2K" in raw[raw.rindex(SHOW_CURSOR):], raw[-400:]


def migrate_args(url: str, directory: Path, *extra: str) -> list[str]:
    return ["--database-url", url, "--dir", str(directory), "fleet", "migrate",
            "--schemas", "tenant_%", "--parallel", "3", "--on-error", "continue", *extra]


def test_the_display_counts_done_failed_and_in_flight_and_stays_off_stdout(
    db_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    fleet_of(db_url, directory, SCHEMAS)
    run = run_on_terminal(tmp_path, *migrate_args(db_url, directory))

    assert run.exit_code == 1, run.screen
    frames = run.frames()
    assert frames[0] == (0, 20, 0, 0), frames[:3]
    assert frames[-1] == (20, 20, 1, 0), frames[-3:]
    assert "targets 20/20 done, 1 failed, 0 in flight" in run.screen
    assert {f[1] for f in frames} == {20}
    assert 3 in {f[3] for f in frames} and max(f[3] for f in frames) <= 3, frames
    assert [f[0] for f in frames] == sorted(f[0] for f in frames), frames
    assert_erased_and_cursor_shown(run)
    warning = (f'[{WARNED}] warning: 002_items.sql: line 2: relation "items" already exists; '
               "statement skipped\r\n").encode()
    assert re.search(rb"(\r|\x1b\[2K)" + re.escape(warning), run.terminal), run.terminal

    lines = run.stdout.splitlines()
    assert "\x1b" not in run.stdout and "in flight" not in run.stdout
    assert len(lines) == 21, run.stdout
    assert [line.split()[:2] for line in lines[:-1]] == [
        [s, "failed" if s == FAILING else "migrated"] for s in SCHEMAS]
    assert lines[-1] == "20 targets: 19 migrated, 0 up to date, 1 failed, 0 unreachable, 0 skipped"
    assert "migrated" not in run.screen  # the outcome lines are stdout's only

    for schema in SCHEMAS:
        want = ["001_log.sql"] if schema == FAILING else sorted(files(0.1))
        assert recorded(db_url, schema) == want, schema
        assert logged(db_url, schema) == [name[:3] for name in want], schema


def test_with_on_error_stop_the_display_counts_the_skipped_targets(
    db_url: str, tmp_path: Path
) -> None:
    names = SCHEMAS[5:11]  # tenant_07, the third, fails: three are never started
    directory = tmp_path / "m"
    fleet_of(db_url, directory, names, pause=0.05)
    run = run_on_terminal(tmp_path, *migrate_args(db_url, directory, "--on-error", "stop",
                                                  "--parallel", "1"))

    assert run.exit_code == 1, run.screen
    assert "targets 6/6 done, 1 failed, 0 in flight, 3 skipped" in run.screen, run.screen
    assert max(f[3] for f in run.frames()) <= 1
    assert_erased_and_cursor_shown(run)
    assert run.stdout.splitlines()[-1] == (
        "6 targets: 2 migrated, 0 up to date, 1 failed, 0 unreachable, 3 skipped")
    assert [len(recorded(db_url, s)) for s in names] == [3, 3, 1, 0, 0, 0]


@pytest.mark.parametrize("how", ["--json", "--quiet", "stderr-a-pipe"])
def test_no_display_with_json_quiet_or_without_a_terminal(
    db_url: str, tmp_path: Path, how: str
) -> None:
    names = SCHEMAS[4:10]
    directory = tmp_path / "m"
    fleet_of(db_url, directory, names, pause=0.05)
    extra = [] if how == "stderr-a-pipe" else [how]
    run = run_on_terminal(tmp_path, *migrate_args(db_url, directory, *extra),
                          stderr_on_terminal=how != "stderr-a-pipe")

    assert run.exit_code == 1, run.screen
    assert b"\x1b" not in run.terminal and "in flight" not in run.screen, run.terminal
    assert "\x1b" not in run.stdout
    if how == "--json":
        assert '"failed": 1' in run.stdout and run.terminal == b""
    elif how == "--quiet":
        assert run.stdout == ""
        assert run.screen.strip() == (
            "6 targets: 5 migrated, 0 up to date, 1 failed, 0 unreachable, 0 skipped")
    else:
        assert run.stdout.splitlines()[-1].startswith("6 targets: 5 migrated")
    for schema in names:
        assert len(recorded(db_url, schema)) == (1 if schema == FAILING else 3), schema


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_the_display_and_leave_the_terminal_sane(
    db_url: str, tmp_path: Path, signum: int, code: int
) -> None:
    directory = tmp_path / "m"
    fleet_of(db_url, directory, SCHEMAS, pause=0.3)
    terminal = Terminal()
    proc = terminal.start(tmp_path, *migrate_args(db_url, directory))
    try:
        wait_for(lambda: re.search(rb"targets [1-9]\d*/20 done", b"".join(terminal.chunks)),
                 120, "a target done on the display")
    finally:
        proc.send_signal(signum)
    run = terminal.finish(proc, timeout=60)

    assert run.exit_code == code, run.screen
    assert_erased_and_cursor_shown(run)
    raw = run.terminal
    assert raw.find(b"interrupted", raw.rindex(SHOW_CURSOR)) > 0, raw[-400:]
    assert run.stdout == ""
    for schema in SCHEMAS:  # each migration applied and recorded together, or neither
        assert [n[:3] for n in recorded(db_url, schema)] == logged(db_url, schema), schema


def test_an_error_during_the_run_stops_the_display_before_its_message(
    db_url: str, tmp_path: Path
) -> None:
    fleet_of(db_url, tmp_path / "m", SCHEMAS[:5])
    run = run_on_terminal(tmp_path, *migrate_args(db_url, tmp_path / "missing"))

    assert run.exit_code == 2, run.screen
    assert_erased_and_cursor_shown(run)
    raw = run.terminal
    assert raw.index(b"migrations directory") > raw.rindex(SHOW_CURSOR), raw[-400:]
    assert "targets 0/5 done, 0 failed, 0 in flight" in run.screen
    assert run.stdout == ""
    assert all(recorded(db_url, schema) == [] for schema in SCHEMAS[:5])

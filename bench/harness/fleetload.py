"""The fleet workloads F1-F3: many tenant schemas of one database.

- F1: S schemas x M migrations applied by ``pgshift fleet migrate --parallel 8`` against
  a shell loop of ``pgshift migrate``, one process per schema (each pointed at its schema
  with libpq's ``options=-csearch_path=…`` and ``--table <schema>._migrations``, as such
  loops are written); both from the same empty schemas, alternating run by run.
- F2: a no-op ``pgshift fleet migrate`` over the S up-to-date schemas.
- F3: ``pgshift fleet status`` over the same.

The two starting databases (S empty schemas; S schemas with the M migrations applied)
are made once, untimed; every timed run works on a fresh copy of one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psycopg import sql

from harness.cases import Case, Contender
from harness.files import write_trivial
from harness.measure import Sample, run_commands
from harness.runner import CaseResult
from harness.server import Server
from harness.tools import Toolbox, child_env

PARALLEL = 8
PATTERN = "tenant\\_%"

Progress = Callable[[str, int, str, Sample], None]


@dataclass(frozen=True)
class FleetSize:
    """``schemas`` tenant schemas, ``migrations`` migrations each."""

    schemas: int
    migrations: int


def schema_names(count: int) -> list[str]:
    return [f"tenant_{i:05d}" for i in range(1, count + 1)]


def _with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions use ``schema`` (libpq's ``options``), as a shell loop does."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


class FleetBench:
    """Prepares the two starting databases once and runs the F cases on copies."""

    def __init__(self, server: Server, tools: Toolbox, root: Path, size: FleetSize,
                 progress: Progress) -> None:
        self.server = server
        self.tools = tools
        self.root = root
        self.size = size
        self.progress = progress
        self.directory = write_trivial(root / "fleet_migrations", size.migrations).pgshift_dir
        self.cwd = root / "fleet_cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self._empty = ""
        self._applied = ""

    def _fleet(self, *args: str) -> Callable[[str], list[list[str]]]:
        program = self.tools.pgshift.path
        return lambda url: [[program, "--database-url", url, "--dir", str(self.directory),
                             "-q", "fleet", *args, "--schemas", PATTERN]]

    def _loop(self, url: str) -> list[list[str]]:
        program = self.tools.pgshift.path
        return [[program, "--database-url", _with_search_path(url, schema), "--table",
                 f"{schema}._migrations", "--dir", str(self.directory), "-q", "migrate"]
                for schema in schema_names(self.size.schemas)]

    def prepare(self) -> None:
        """The empty schemas, and a copy with every migration applied (untimed).

        Raises: RuntimeError — the fleet migrate that prepares the second one failed.
        """
        self._empty = self.server.new_database(label="fleet_empty")
        count = int(self.size.schemas)
        with self.server.connect(self._empty) as conn:
            conn.execute(sql.SQL(
                f"DO $$ BEGIN FOR i IN 1..{count} LOOP EXECUTE format('CREATE SCHEMA "
                "tenant_%s', lpad(i::text, 5, '0')); END LOOP; END $$"))
        self._applied = self.server.new_database(template=self._empty, label="fleet_applied")
        sample = run_commands(self._fleet("migrate", "--parallel", str(PARALLEL))(
            self.server.url_for(self._applied)), cwd=self.cwd, env=child_env(), gnu_time="")
        if not sample.ok:
            raise RuntimeError(f"preparing the applied fleet failed:\n{sample.error}")

    def cases(self) -> list[tuple[Case, str]]:
        """(case, starting database) of F1, F2 and F3."""
        n = self.size.schemas
        variant = f"{n} schemas x {self.size.migrations} migrations"
        f1 = Case("F1", n, variant, "empty", (
            Contender("pgshift", f"pgshift fleet migrate --parallel {PARALLEL}",
                      self._fleet("migrate", "--parallel", str(PARALLEL))),
            Contender("loop", f"shell loop: {n} x pgshift migrate", self._loop),
        ))
        f2 = Case("F2", n, variant, "prepared", (
            Contender("pgshift", "pgshift fleet migrate (no-op)", self._fleet("migrate")),))
        f3 = Case("F3", n, variant, "prepared", (
            Contender("pgshift", "pgshift fleet status", self._fleet("status")),))
        return [(f1, self._empty), (f2, self._applied), (f3, self._applied)]

    def run(self, case: Case, template: str, runs: int) -> CaseResult:
        """Every contender ``runs`` times, alternating, each on a fresh copy of
        ``template``; a tool that fails is not run again."""
        result = CaseResult(case)
        for run in range(1, runs + 1):
            for contender in case.contenders:
                samples = result.samples.setdefault(contender.tool, [])
                if (samples and not samples[-1].ok) or contender.commands is None:
                    continue
                database = self.server.new_database(template=template)
                try:
                    samples.append(run_commands(
                        contender.commands(self.server.url_for(database)), cwd=self.cwd,
                        env=child_env(), gnu_time=self.tools.gnu_time))
                finally:
                    self.server.drop_database(database)
                self.progress(case.workload, run, contender.tool, samples[-1])
        return result

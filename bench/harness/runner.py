"""Running cases: fresh database states, tools alternated run by run, samples collected."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from harness.cases import Case, Contender, Workspace
from harness.measure import Sample, run_commands
from harness.server import Server
from harness.tools import Toolbox, child_env

DBMATE_TABLE = "schema_migrations"
# Read-only workloads over files that do not change between runs: pgshift's facts cache
# is warmed by one untimed run first (a second `status` on the same checkout). Every
# other workload starts each run with an empty cache.
WARM_CACHE = frozenset({"W2", "W3", "W7"})


@dataclass
class CaseResult:
    """The samples of one case, per tool, in run order; ``skipped`` maps tool -> reason."""

    case: Case
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> dict[str, Sample]:
        """The failed sample of each tool that failed (a tool stops at its first failure)."""
        return {
            tool: samples[-1]
            for tool, samples in self.samples.items()
            if samples and not samples[-1].ok
        }


class Templates:
    """Databases with the N trivial migrations applied, made once per N (not timed).

    The floor applies them (so ``_migrations`` holds what pgshift would have written:
    names, batch 1, pgshift's checksums, down_sql) and dbmate's ``schema_migrations``
    gets one row per version, so every tool sees everything applied.
    """

    def __init__(self, server: Server, tools: Toolbox, ws: Workspace) -> None:
        self.server = server
        self.tools = tools
        self.ws = ws
        self._made: dict[int, str] = {}

    def get(self, n: int) -> str:
        """The name of the template database for N migrations, made on first use.

        Raises: RuntimeError — the floor failed to apply the migrations.
        """
        if n in self._made:
            return self._made[n]
        migration_set = self.ws.trivial(n)
        name = self.server.new_database(label=f"template{n}")
        url = self.server.url_for(name)
        sample = run_commands(
            [[*self.tools.floor("floor_apply.py"), url, str(migration_set.pgshift_dir)]],
            cwd=self.ws.root,
            env=child_env(),
            gnu_time=self.tools.gnu_time,
        )
        if not sample.ok:
            raise RuntimeError(f"preparing {n} applied migrations failed:\n{sample.error}")
        versions = [(file_name.split("_", 1)[0],) for file_name in migration_set.names]
        with self.server.connect(name) as conn, conn.cursor() as cur:
            table = sql.Identifier(DBMATE_TABLE)
            cur.execute(sql.SQL("CREATE TABLE {} (version varchar PRIMARY KEY)").format(table))
            cur.executemany(sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table), versions)
        self._check_checksum(name, migration_set.pgshift_dir / migration_set.names[0])
        self._made[n] = name
        return name

    def _check_checksum(self, database: str, path: Path) -> None:
        """Warn when the floor's checksum is not pgshift's (status would see drift everywhere)."""
        try:
            from pgshift.files.sqlfile import parse
        except ImportError:
            return
        expected = parse(path.read_text(encoding="utf-8"), path.name).checksum
        with self.server.connect(database) as conn:
            row = conn.execute(
                "SELECT checksum FROM _migrations WHERE name = %s", (path.name,)
            ).fetchone()
        if row is None or row[0] != expected:
            print(
                f"warning: the floor's checksum of {path.name} ({row[0] if row else None}) is not"
                f" pgshift's ({expected}): pgshift will report drift on prepared databases",
                file=sys.stderr,
            )


Progress = Callable[[str, int, str, Sample], None]


@dataclass(frozen=True)
class CaseRunner:
    """Runs cases on ``server``; children run in ``cwd`` (an empty scratch directory)."""

    server: Server
    templates: Templates
    tools: Toolbox
    cwd: Path
    progress: Progress

    def run(self, case: Case, runs: int) -> CaseResult:
        """Run every available contender ``runs`` times, alternating tools within each run.

        A tool that fails is not run again in this case.
        """
        result = CaseResult(case)
        active = [c for c in case.contenders if c.commands is not None]
        for c in case.contenders:
            if c.commands is None:
                result.skipped[c.tool] = c.skip_reason
        template = "template0"
        if case.prepared_n is not None and active:
            template = self.templates.get(case.prepared_n)
        shutil.rmtree(self.cache, ignore_errors=True)
        warm = case.workload in WARM_CACHE
        for run in range(1, runs + 1):
            shared = ""
            if case.state == "prepared-shared":
                shared = self.server.new_database(template=template)
            try:
                for contender in active:
                    samples = result.samples.setdefault(contender.tool, [])
                    if samples and not samples[-1].ok:
                        continue
                    if warm and run == 1 and contender.tool == "pgshift":
                        self._on_fresh_state(case, contender, template, shared, warm)  # untimed
                    samples.append(
                        self._on_fresh_state(case, contender, template, shared, warm))
                    self.progress(case.workload, run, contender.tool, samples[-1])
            finally:
                if shared:
                    self.server.drop_database(shared)
        return result

    @property
    def cache(self) -> Path:
        """The children's ``XDG_CACHE_HOME``: the benchmark's own, never the user's."""
        return self.cwd.parent / "cache"

    def _on_fresh_state(
        self, case: Case, contender: Contender, template: str, shared: str, warm: bool
    ) -> Sample:
        if case.state == "none":
            return self._timed(contender, "", warm)
        if shared:
            return self._timed(contender, self.server.url_for(shared), warm)
        database = self.server.new_database(template=template)
        try:
            return self._timed(contender, self.server.url_for(database), warm)
        finally:
            self.server.drop_database(database)

    def _timed(self, contender: Contender, url: str, warm: bool) -> Sample:
        """One timed run. Unless ``warm``, with an empty cache directory: the run starts
        cold, as a fresh checkout (a CI job, a deploy) does, whatever ran before it."""
        assert contender.commands is not None
        if not warm:
            shutil.rmtree(self.cache, ignore_errors=True)
        return run_commands(
            contender.commands(url), cwd=self.cwd, env=child_env(self.cache),
            gnu_time=self.tools.gnu_time,
        )

"""pytest plugin: every test gets its own migrated PostgreSQL database, in milliseconds.

Once per session a template database ``pgshift_tpl_<hex>`` is created and migrated with
:class:`pgshift.Migrator`; each test that asks for :func:`pgshift_db` (or
:func:`pgshift_conn`) gets ``pgshift_t_<hex>``, a copy made by ``CREATE DATABASE …
TEMPLATE`` and dropped after the test. The server is the one of ``--pgshift-url`` /
``PGSHIFT_TEST_URL``, else an embedded PostgreSQL started for the session in a directory
of its own (in RAM when possible, see :func:`embedded_parent`; never the project's
``./.pgshift``). See :func:`read_settings` for where the migrations come from.

pytest imports this module in every run of a project that installs pgshift, so importing
it stays cheap (the driver and the rest of pgshift are imported by the fixtures), and a run
that uses none of the fixtures starts no server and opens no connection.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pgshift.testing.servers import (
    CLONE_PREFIX,
    EMBEDDED_PREFIX,
    EMBEDDED_SETTINGS,
    ENTRY_POINT,
    OWNER_FILE,
    RAM_DIR,
    RAM_DIR_MIN_FREE,
    STRATEGIES,
    TEMPLATE_PREFIX,
    UNUSED_WAIT,
    URL_VARIABLE,
    Server,
    choose_strategy,
    embedded_parent,
    open_server,
    remove_abandoned,
    url_for_database,
)

# Re-exported: the benchmark and the test suite use them from here.
__all__ = [
    "CLONE_PREFIX",
    "EMBEDDED_PREFIX",
    "EMBEDDED_SETTINGS",
    "ENTRY_POINT",
    "OWNER_FILE",
    "RAM_DIR",
    "RAM_DIR_MIN_FREE",
    "STRATEGIES",
    "TEMPLATE_PREFIX",
    "UNUSED_WAIT",
    "URL_VARIABLE",
    "Server",
    "choose_strategy",
    "embedded_parent",
    "open_server",
    "remove_abandoned",
    "url_for_database",
]

if TYPE_CHECKING:
    import psycopg



@dataclass(frozen=True)
class PluginSettings:
    """The server (None: embedded), the migrations and where they came from, the table."""

    url: str | None
    directory: Path
    source: str
    table: str


@dataclass(frozen=True)
class Template:
    """The migrated template database of a session: its name on the server, and what the
    migration run applied to it."""

    name: str
    applied: tuple[str, ...]
    migrate_ms: float


@dataclass
class _Stats:
    """What the session's fixtures did, for the terminal summary."""

    server: str = ""
    template: Template | None = None
    per_test_ms: list[float] = field(default_factory=list)


_STATS = pytest.StashKey[_Stats]()


def read_settings(config: pytest.Config) -> PluginSettings:
    """The plugin's settings. Server: ``--pgshift-url``, else ``$PGSHIFT_TEST_URL``, else
    embedded (None). Migrations: ``--pgshift-dir`` (from the invocation directory), else
    the ini option ``pgshift_dir`` (from the ini file's), else ``dir`` of ``[tool.pgshift]``
    in the rootdir's ``pyproject.toml``, else ``migrations`` (both from the rootdir).
    Tracking table: ``--pgshift-table``, else ``table`` there, else ``_migrations``.

    Raises: ConfigError — the rootdir's pyproject.toml cannot be read.
    """
    from pgshift.config import DEFAULT_DIR, DEFAULT_TABLE, read_pyproject

    project = read_pyproject(config.rootpath)
    option_dir = config.getoption("pgshift_dir")
    ini_dir = config.getini("pgshift_dir")
    if option_dir:
        directory, source = config.invocation_params.dir / option_dir, "--pgshift-dir"
    elif ini_dir:
        base = config.inipath.parent if config.inipath else config.rootpath
        directory, source = base / str(ini_dir), "ini option pgshift_dir"
    elif project.get("dir"):
        directory, source = config.rootpath / str(project["dir"]), "[tool.pgshift] dir"
    else:
        directory, source = config.rootpath / DEFAULT_DIR, "default"
    url = config.getoption("pgshift_url") or os.environ.get(URL_VARIABLE) or None
    table = config.getoption("pgshift_table") or str(project.get("table") or DEFAULT_TABLE)
    return PluginSettings(url=url, directory=directory, source=source, table=table)


def migrate_template(server: Server, settings: PluginSettings, name: str) -> Template:
    """Create database ``name`` on ``server``, apply every migration to it and seal it
    (see :meth:`Server.seal`). On failure the database is dropped again.

    Raises: PgshiftError — pgshift's own error (a failed migration, a malformed file...).
    """
    from pgshift.engine.migrator import Migrator

    server.create_database(name, "template0")
    try:
        started = time.perf_counter()
        result = Migrator(server.url_for(name), settings.directory, table=settings.table).migrate()
        migrate_ms = (time.perf_counter() - started) * 1000
        server.seal(name)
    except BaseException:
        server.drop_database(name)
        raise
    applied = tuple(a.name for a in result.applied)
    return Template(name, applied, migrate_ms)


# --- pytest hooks -----------------------------------------------------------------------


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """Keep this module registered once.

    It can be loaded as the ``pytest11`` entry point ``pgshift`` and also by
    ``-p pgshift.testing.plugin`` or ``pytest_plugins``; pytest refuses a module registered
    under two names, so whichever name comes first blocks the other.
    """
    if plugin is not sys.modules[__name__]:
        return
    registered = manager.get_name(plugin)
    for alias in (ENTRY_POINT, __name__):
        if alias != registered and manager.get_plugin(alias) is None:
            manager.set_blocked(alias)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pgshift", "pgshift test databases")
    group.addoption("--pgshift-url", metavar="URL", help=(
        f"server of the test databases, whose role may CREATE DATABASE (default: "
        f"${URL_VARIABLE}, else an embedded PostgreSQL started for the session)"))
    group.addoption("--pgshift-dir", metavar="DIR", help=(
        "migrations directory (default: ini pgshift_dir, else [tool.pgshift] dir, "
        "else migrations)"))
    group.addoption("--pgshift-table", metavar="NAME", help=(
        "tracking table (default: [tool.pgshift] table, else _migrations)"))
    parser.addini("pgshift_dir", "pgshift migrations directory for the test databases")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = terminalreporter.config.stash.get(_STATS, None)
    if stats is None or stats.template is None:
        return
    import statistics

    applied, copies = len(stats.template.applied), len(stats.per_test_ms)
    line = (f"pgshift: {stats.server}: {applied} migration{'s' * (applied != 1)} applied to "
            f"{stats.template.name} in {stats.template.migrate_ms:.0f} ms")
    if copies:
        line += (f"; {copies} test database{'s' * (copies != 1)}, each created and dropped in "
                 f"{statistics.median(stats.per_test_ms):.0f} ms (median; max "
                 f"{max(stats.per_test_ms):.0f} ms)")
    terminalreporter.write_line(line)


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _pgshift_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The session's server (see the module docstring); stopped at the end if embedded."""
    settings = _settings_or_fail(request.config)
    with ExitStack() as stack:
        with _failing_as_pgshift("could not get a PostgreSQL server for the tests"):
            server = stack.enter_context(open_server(settings.url))
        request.config.stash.setdefault(_STATS, _Stats()).server = server.description
        yield server


@pytest.fixture(scope="session")
def pgshift_template(request: pytest.FixtureRequest, _pgshift_server: Server) -> Iterator[Template]:
    """The session's template database, migrated once from the project's migrations
    (a failure fails every test that uses it, with pgshift's message); dropped at the end."""
    settings = _settings_or_fail(request.config)
    name = f"{TEMPLATE_PREFIX}{secrets.token_hex(6)}"
    where = f"{settings.directory} ({settings.source})"
    with _failing_as_pgshift(f"could not migrate the template database {name} from {where}"):
        template = migrate_template(_pgshift_server, settings, name)
    request.config.stash.setdefault(_STATS, _Stats()).template = template
    try:
        yield template
    finally:
        _pgshift_server.drop_database(template.name)


@pytest.fixture
def pgshift_db(
    request: pytest.FixtureRequest, pgshift_template: Template, _pgshift_server: Server
) -> Iterator[str]:
    """The URL of a new database ``pgshift_t_<hex>``: a copy of the migrated template,
    for this test alone, dropped after it (with any session still connected to it)."""
    name = f"{CLONE_PREFIX}{secrets.token_hex(6)}"
    spent = _pgshift_server.create_database(name, pgshift_template.name)
    try:
        yield _pgshift_server.url_for(name)
    finally:
        spent += _pgshift_server.drop_database(name)
        request.config.stash.setdefault(_STATS, _Stats()).per_test_ms.append(spent)


@pytest.fixture
def pgshift_conn(pgshift_db: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A psycopg connection (psycopg's defaults: not autocommit) to :func:`pgshift_db`,
    closed after the test."""
    import psycopg

    conn = psycopg.connect(pgshift_db)
    try:
        yield conn
    finally:
        conn.close()


def _settings_or_fail(config: pytest.Config) -> PluginSettings:
    with _failing_as_pgshift("bad pgshift settings for the tests"):
        return read_settings(config)


@contextmanager
def _failing_as_pgshift(context: str) -> Iterator[None]:
    """Turn pgshift's errors into a test failure showing pgshift's message, no traceback."""
    from pgshift.errors import PgshiftError
    from pgshift.render.results import error_text

    try:
        yield
    except PgshiftError as error:
        message = f"pgshift: {context}:\n{error_text(error)}"
        raise pytest.fail.Exception(message, pytrace=False) from None

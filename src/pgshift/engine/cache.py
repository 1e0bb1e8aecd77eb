"""What pgshift remembers between runs about a directory's migration files.

**Facts** (checksum, mode, metadata) for ``status``: checking drift means reading and
checksumming every applied file; with thousands of files that is most of ``status``'s
time. A file's facts are reused only while its size, modification time, change time and
inode are all unchanged; any write changes its change time (which no tool can set back),
so an edited file is always read again. They are a JSON file.

**Parses** for the runs: a file about to be applied is read, and its parse is reused only
when the file's whole text (and name) hashes to the same SHA-256 as when it was parsed,
with the same pgshift and the same installed pglast: applying the same migrations to a
new database (a CI run, a test database, another environment) does not parse them again.
They are a pickle of pgshift's own parse results, read only by the user who wrote it,
loaded only by a command that applies or plans migrations.

**Parsing ahead.** A command that will parse the files it applies (``migrate``,
``refresh``) can have them parsed by a child process while it imports its database driver,
connects and takes the lock (:meth:`FactsCache.parse_ahead`): on a machine with a second
core the parse costs no wall time. The child writes only the parses, with the names of
the files it read and parsed, marked with a token the command drew before forking it; the
command reads them at its first :meth:`FactsCache.parse`, after the child has ended, takes
those files' parses without reading the files again (its child read them moments ago),
and reads and parses itself whatever the child did not (a malformed file is always
parsed, and reported, by the command). This happens only where it is safe and can pay: a
program with one thread, on a system with ``fork``, for a directory of more files than a
run lints on its own (a run that lints loads the parser all the same), when the kept
parses are missing or older than the directory's last change of its list of files (a
file added, removed or renamed).

Both live under the user's cache directory, one pair of files per migrations directory,
written atomically (readable by the user only); a missing, stale or corrupt cache only
costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift._version import __version__
from pgshift.engine import states
from pgshift.files import CHECKSUM_TAG, directory

if TYPE_CHECKING:
    from pgshift.files.sqlfile import ParsedMigration

# Part of the cache's identity: a new pgshift or checksum algorithm starts afresh.
CACHE_FORMAT = f"pgshift {__version__} {CHECKSUM_TAG} facts v3"
PARSE_FORMAT = f"pgshift {__version__} parses v2"


def default_path(migrations_dir: Path, environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/pgshift/facts-<hash of the directory>.json`` (``~/.cache`` default)."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    key = hashlib.sha256(str(migrations_dir.resolve()).encode()).hexdigest()[:16]
    return Path(base).expanduser() / "pgshift" / f"facts-{key}.json"


class FactsCache:
    """Reads facts through the cache (:meth:`facts`); :meth:`save` writes it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parses_path = path.with_name(path.stem.replace("facts-", "parses-") + ".pickle")
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        self._parsed: dict[str, tuple[str, ParsedMigration]] | None = None
        self._parses_dirty = False
        self._ahead: int | None = None  # the process id of the child parsing ahead
        # Set before the child is forked (so it has the same): names this run's parses.
        self._run: str | None = None
        self._checked: list[str] = []  # the child: files it read and parsed in this run
        self._fresh: frozenset[str] = frozenset()  # the parent: the child's _checked
        with contextlib.suppress(OSError, ValueError, TypeError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == CACHE_FORMAT and isinstance(data.get("files"), dict):
                self._entries = data["files"]

    def facts(self, file: directory.MigrationFile, *,
              header_only: bool = False) -> states.FileFacts:
        """The file's facts from the cache while it is unchanged, else read (and kept).
        ``header_only`` (a pending file's metadata): a miss reads only the file's header
        and keeps an entry without a checksum, completed (the file parsed) the first
        time all its facts are wanted."""
        try:
            stat = os.stat(file.location)
        except OSError:
            return states.read_facts(file, header_only=header_only)
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        key = file.name  # one cache file per migrations directory
        cached = self._entries.get(key)
        if cached is not None and cached[0] == stamp and (header_only or cached[1]):
            # status asks this once per file: a list, not a generator, builds the pairs
            checksum, no_transaction, metadata = cached[1:4]
            return states.FileFacts(checksum, bool(no_transaction),
                                    tuple([(str(k), str(v)) for k, v in metadata]))
        if header_only:
            found = states.read_facts(file, header_only=True)
            # a header-only entry (no checksum) is completed when the file is applied
            self._entries[key] = [stamp, None, False, [list(pair) for pair in found.metadata]]
            self._dirty = True
            return found
        found = states.read_facts(file)
        if found.problem is None:
            self._entries[key] = [stamp, found.checksum, found.no_transaction,
                                  [list(pair) for pair in found.metadata]]
            self._dirty = True
        return found

    def parse(self, file: directory.MigrationFile) -> ParsedMigration:
        """``file`` read and parsed; the parse is kept, and reused while the file's text
        is the same (:data:`PARSE_FORMAT` and pglast's version included), or, for a file
        this run's child read and parsed, taken as the child left it.

        Raises: MigrationFileError — the file is malformed (nothing is kept).
        """
        from pgshift.files import sqlfile

        parses = self._parses()
        kept = parses.get(file.name)
        if kept is not None and file.name in self._fresh:
            return kept[1]  # read and parsed by this run's child moments ago
        text = directory.read_text(file)
        key = hashlib.sha256(f"{file.name}\0{text}".encode()).hexdigest()
        if kept is not None and kept[0] == key:
            return kept[1]
        parsed = sqlfile.parse(text, file.name)
        parses[file.name] = (key, parsed)
        self._parses_dirty = True
        return parsed

    def parse_ahead(self, migrations_dir: Path) -> bool:
        """Start a child process that parses the files of ``migrations_dir`` the kept
        parses lack, and keeps them (module docstring); True when one was started.

        Only for a program's own use: call it before this process opens a connection or
        starts a thread, and before the first :meth:`parse`.
        """
        if self._parsed is not None or self._ahead is not None or not _may_fork():
            return False
        try:
            listed = os.stat(migrations_dir).st_mtime_ns
        except OSError:
            return False  # no directory: the command says so
        try:
            if os.stat(self.parses_path).st_mtime_ns > listed:
                return False  # kept after the last file was added, removed or renamed
        except FileNotFoundError:
            pass  # nothing kept yet
        except OSError:
            return False
        from pgshift.engine.policy import LINT_MAX_MIGRATIONS

        try:
            if len(os.listdir(migrations_dir)) <= LINT_MAX_MIGRATIONS:
                return False  # a run lints so few files, which loads pglast all the same
        except OSError:
            return False
        self._run = os.urandom(8).hex()
        try:
            pid = os.fork()
        except OSError:
            return False
        if pid == 0:  # pragma: no cover - the child (its work is checked by its result)
            self._parse_as_child(migrations_dir)
        self._ahead = pid
        return True

    def _parse_as_child(self, migrations_dir: Path) -> None:
        """The child of :meth:`parse_ahead`: parse, keep the parses, and end without
        running the parent's exit handlers or flushing its buffers. It holds none of the
        parent's standard streams (a pipe reading them ends with the parent), and ignores
        Ctrl-C, which is meant for the parent: its work is bounded, its result written
        atomically."""
        import gc
        import signal

        # Its work is bounded and its garbage acyclic: no collections, which would also
        # write to (and so copy) the pages it shares with the command.
        gc.disable()
        status = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            for stream in (0, 1, 2):
                os.dup2(null, stream)
            for file in directory.discover(migrations_dir).files:
                with contextlib.suppress(Exception):  # the parent parses it and reports
                    self.parse(file)
                    self._checked.append(file.name)
            self._parses_dirty = True  # written even if unchanged: current for this listing
            self.save()
            status = 0
        finally:
            os._exit(status)

    def _join(self, *, wait: bool = True) -> None:
        """Wait for the child parsing ahead (or only reap it, if it ended, unless ``wait``)."""
        if self._ahead is None:
            return
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(self._ahead, 0 if wait else os.WNOHANG)[0] == 0:
                return  # still running; it ends on its own
        self._ahead = None

    def _parses(self) -> dict[str, tuple[str, ParsedMigration]]:
        """The kept parses, loaded at the first :meth:`parse` (``status`` never loads them,
        nor imports :mod:`pickle`), after the child parsing ahead has ended."""
        if self._parsed is None:
            self._join()
            import pickle

            self._parsed = {}
            with contextlib.suppress(Exception):  # a stale or corrupt cache is no cache
                with self.parses_path.open("rb") as source, _no_collection():
                    data = pickle.load(source)  # thousands of objects, no cycles
                if data.get("format") == _parse_format() and isinstance(data["files"], dict):
                    self._parsed = data["files"]
                    if self._run is not None and data.get("run") == self._run:
                        self._fresh = frozenset(data.get("checked", ()))
        return self._parsed

    def save(self) -> None:
        """Write what changed; failures are ignored (it is only a cache)."""
        self._join(wait=False)
        if self._dirty:
            document = {"format": CACHE_FORMAT, "files": self._entries}
            if _write(self.path, lambda out: out.write(json.dumps(document).encode())):
                self._dirty = False
        if self._parses_dirty:
            import pickle

            kept = {"format": _parse_format(), "files": self._parsed, "run": self._run,
                    "checked": self._checked}
            if _write(self.parses_path, lambda out: pickle.dump(kept, out, protocol=5)):
                self._parses_dirty = False


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic garbage collector paused: loading many objects that form no cycles
    would otherwise trigger collections that traverse them (and everything older)."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _may_fork() -> bool:
    """Whether this process can fork safely: a system with ``fork`` and one thread."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def _parse_format() -> str:
    """:data:`PARSE_FORMAT` and the installed pglast (its module file's path and change
    time: found without importing it, which a warm cache never needs)."""
    import importlib.util

    spec = importlib.util.find_spec("pglast")
    origin = spec.origin if spec is not None and spec.origin else ""
    with contextlib.suppress(OSError):
        origin += f" {os.stat(origin).st_mtime_ns}"
    return f"{PARSE_FORMAT} pglast {origin}"


def _write(path: Path, write: Callable[[Any], object]) -> bool:
    """Write ``path`` atomically (a temporary file, readable by the user only, renamed);
    False when it could not be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return False
    return True

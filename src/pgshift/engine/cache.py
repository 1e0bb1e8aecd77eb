"""A cache of migration files' facts (checksum, mode, metadata) for ``status``.

Checking drift means reading and checksumming every applied file; with thousands of files
that is most of ``status``'s time. A file's facts are reused only while its size,
modification time, change time and inode are all unchanged; any write changes its change
time (which no tool can set back), so an edited file is always read again. The cache is a
JSON file under the user's cache directory, written atomically; a missing, stale or
corrupt cache only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgshift._version import __version__
from pgshift.engine import states
from pgshift.files import CHECKSUM_TAG, directory

# Part of the cache's identity: a new pgshift or checksum algorithm starts afresh.
CACHE_FORMAT = f"pgshift {__version__} {CHECKSUM_TAG} facts v3"


def default_path(migrations_dir: Path, environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/pgshift/facts-<hash of the directory>.json`` (``~/.cache`` default)."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    key = hashlib.sha256(str(migrations_dir.resolve()).encode()).hexdigest()[:16]
    return Path(base).expanduser() / "pgshift" / f"facts-{key}.json"


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


class FactsCache:
    """Reads facts through the cache (:meth:`facts`); :meth:`save` writes it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
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
            stamp = _stamp(os.stat(file.location))
        except OSError:
            return states.read_facts(file, header_only=header_only)
        key = file.name  # one cache file per migrations directory
        cached = self._entries.get(key)
        if cached is not None and cached[0] == stamp and (header_only or cached[1]):
            checksum, no_transaction, metadata = cached[1:4]
            return states.FileFacts(checksum, bool(no_transaction),
                                    tuple((str(k), str(v)) for k, v in metadata))
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

    def save(self) -> None:
        """Write the cache if it changed; failures are ignored (it is only a cache)."""
        if not self._dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".facts-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"format": CACHE_FORMAT, "files": self._entries}, out)
            os.replace(tmp, self.path)
            self._dirty = False

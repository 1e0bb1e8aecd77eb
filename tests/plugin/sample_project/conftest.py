"""Only the sample project's own runs collect its tests (pgshift's suite runs them in a
subprocess; when that suite collects this directory it must not run them itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if config.rootpath.resolve() != HERE else None

"""The benchmark (``python bench/run.py``) runs end to end at tiny sizes, so it never rots.

No timing is asserted: only that it exits 0, writes valid JSON covering every workload,
ran pgshift and the floors in each of them, and leaves no database behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from pgtest import clean_environ

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench" / "run.py"
WORKLOADS = {"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "F1", "F2", "F3"}
TIMEOUT = 600


def run_bench(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    """Run ``bench/run.py --quick`` with ``args``; return its pid, stderr and JSON document."""
    out = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [sys.executable, str(BENCH), "--quick", "--json", str(out), *args],
        cwd=tmp_path,
        env=clean_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stderr[-6000:]}"
    assert "W1" in stdout and "median" in stdout, stdout
    return proc.pid, stderr, json.loads(out.read_text(encoding="utf-8"))


def test_quick_benchmark_runs_every_workload(pg_url: str, tmp_path: Path) -> None:
    pid, stderr, document = run_bench(tmp_path, "--database-url", pg_url)

    cases = document["cases"]
    assert {case["workload"] for case in cases} == WORKLOADS
    assert "warning: the floor's checksum" not in stderr, (
        "the floor's tracking rows must look unmodified to pgshift"
    )
    for case in cases:
        label = f"{case['workload']} {case['variant']} N={case['n']}"
        if case["variant"] == "atomic" and "floor" in case["skipped"]:
            continue
        assert "pgshift" not in case["skipped"], (label, case["skipped"])
        if case["workload"].startswith("F"):  # fleet: pgshift (F1: against a shell loop)
            compared = ["pgshift", "loop"] if case["workload"] == "F1" else ["pgshift"]
            for tool in compared:
                assert case["tools"][tool]["runs"] == 1, (label, tool, case["tools"][tool])
            continue
        if case["workload"] == "W9":  # lint: pgshift against squawk, no floor
            compared = ["pgshift"] + (["squawk"] if "squawk" not in case["skipped"] else [])
            for tool in compared:
                assert case["tools"][tool]["runs"] == 1, (label, tool, case["tools"][tool])
            continue
        for tool in ("pgshift", "floor"):
            figures = case["tools"][tool]
            assert figures["runs"] == 1 and "failed" not in figures, (label, tool, figures)
            assert figures["time_s"]["median"] > 0
        assert case["ratios"]["pgshift/floor"]["median"] > 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        leftovers = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"bench\\_{pid}\\_%",)
        ).fetchall()
    assert leftovers == []


def test_quick_benchmark_starts_its_own_embedded_server(tmp_path: Path) -> None:
    _pid, _stderr, document = run_bench(tmp_path, "--only", "W5,W1", "--sizes", "3")

    assert document["meta"]["server"].startswith("embedded")
    assert document["meta"]["server_settings"]["fsync"] == "on"
    assert {case["workload"] for case in document["cases"]} == {"W1", "W5"}
    applied = [c for c in document["cases"] if c["workload"] == "W1" and not c["variant"]]
    assert applied[0]["tools"]["floor"]["runs"] == 1

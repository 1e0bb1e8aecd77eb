"""The composite GitHub Action (``action.yml``): its ``run:`` steps, run with bash as a
GitHub runner runs them (``bash --noprofile --norc -eo pipefail``) and with the variables
it sets, install pgshift from the action's directory into a fresh virtualenv and check,
lint and verify a project's migrations on the embedded server, writing annotations to the
log and a Markdown summary to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgtest import clean_environ

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "migrations"
EXPRESSION = re.compile(r"\$\{\{\s*([a-z_.-]+)\s*\}\}")

pytestmark = pytest.mark.embedded_only


def load_action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return action


@dataclass
class Runner:
    """What a GitHub runner gives the action's steps."""

    workspace: Path
    temp: Path
    summary: Path
    path: str

    def environ(self) -> dict[str, str]:
        return clean_environ({
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_STEP_SUMMARY": str(self.summary),
            "RUNNER_TEMP": str(self.temp), "PATH": self.path,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        })


def evaluate(text: str, inputs: Mapping[str, str]) -> str:
    """The ``${{ inputs.x }}`` and ``${{ github.action_path }}`` expressions of a value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("inputs."):
            return inputs[name.removeprefix("inputs.")]
        if name == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"the test does not know the expression {name}")

    return EXPRESSION.sub(value, text)


def run_action(runner: Runner, inputs: Mapping[str, str] | None = None,
               only: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the action's ``run:`` steps in order (all, or the one named ``only``), as GitHub
    does; stops at the first failing step like a job. Returns the last step's process."""
    action = load_action()
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs or {})
    done: subprocess.CompletedProcess[str] | None = None
    for number, step in enumerate(action["runs"]["steps"]):
        if "uses" in step:
            assert step["uses"].startswith("actions/setup-python@")
            continue
        if only is not None and step.get("name") != only:
            continue
        assert step["shell"] == "bash"
        script = runner.temp / f"step{number}.sh"
        script.write_text(evaluate(step["run"], values), encoding="utf-8")
        env = runner.environ()
        env.update({k: evaluate(str(v), values) for k, v in step.get("env", {}).items()})
        cwd = runner.workspace / evaluate(step.get("working-directory", "."), values)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        if done.returncode != 0:
            break
    assert done is not None
    return done


@pytest.fixture(scope="module")
def runner_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv whose ``python`` the install step uses; it sees this test run's
    packages (pgshift's dependencies) through a .pth file, but not pgshift itself until the
    action installs it."""
    venv = tmp_path_factory.mktemp("runner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "parent-packages.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv


@pytest.fixture
def runner(tmp_path: Path, runner_venv: Path) -> Iterator[Runner]:
    """The checkout lives outside pytest's temporary root: pytest makes that private again
    whenever a test starts, which would lock out the embedded server's OS user (as root)."""
    workspace = Path(tempfile.mkdtemp(prefix="pgshift-action-"))
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    summary = temp / "step_summary.md"
    summary.write_text("", encoding="utf-8")
    try:
        yield Runner(workspace, temp, summary,
                     f"{runner_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    finally:
        installed = runner_venv / "bin" / "pgshift"
        for pgshift_dir in workspace.rglob(".pgshift") if installed.exists() else ():
            subprocess.run([str(installed), "embedded", "stop"],
                           cwd=pgshift_dir.parent, env=clean_environ(), capture_output=True,
                           check=False)
        shutil.rmtree(workspace, ignore_errors=True)


def test_action_metadata_is_a_composite_action_with_defaults() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    assert all("default" in spec for spec in action["inputs"].values())
    assert all("shell" in step for step in action["runs"]["steps"] if "run" in step)


def test_install_then_check_lint_and_verify_the_examples(runner: Runner) -> None:
    shutil.copytree(EXAMPLES, runner.workspace / "migrations")
    installed = run_action(runner, only="Install pgshift")
    assert installed.returncode == 0, installed.stderr
    pgshift = Path(runner.path.split(os.pathsep)[0]) / "pgshift"
    assert pgshift.exists(), "the install step did not install the pgshift command"

    done = run_action(runner, only="pgshift check, lint and verify")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "::group::pgshift check --format github" in done.stdout
    assert "::group::pgshift lint --format github" in done.stdout
    assert "check passed" in done.stdout
    assert re.search(r"^7 files linted: 0 errors", done.stdout, re.M)
    assert "::error" not in done.stdout
    summary = runner.summary.read_text(encoding="utf-8")
    assert "### pgshift check: ✅ passed" in summary
    assert "### pgshift lint: ✅ passed" in summary
    assert "### pgshift verify: ✅ passed" in summary
    assert "| `007_add_generations_workspace_fk.sql` | ok |" in summary
    # the embedded server of the workspace is stopped at the end
    assert not list((runner.workspace / ".pgshift").glob("data/postmaster.pid"))


def test_findings_annotate_and_fail_the_step_after_every_command_ran(runner: Runner) -> None:
    migrations = runner.workspace / "db" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "001_users.sql").write_text(
        "-- UP\nCREATE TABLE users (id int PRIMARY KEY, name text);\n"
        "-- DOWN\nDROP TABLE users;\n", encoding="utf-8")
    (migrations / "002_rename.sql").write_text(
        "-- UP\nALTER TABLE users RENAME COLUMN name TO full_name;\n"
        "-- DOWN\nSELECT 1;\n", encoding="utf-8")
    assert run_action(runner, only="Install pgshift").returncode == 0

    done = run_action(runner, {"dir": "migrations", "working-directory": "db"},
                      only="pgshift check, lint and verify")

    assert done.returncode == 1, done.stdout + done.stderr
    assert ("::error file=migrations/002_rename.sql,line=2,title=pgshift lint%3A "
            "rename-column::") in done.stdout
    summary = runner.summary.read_text(encoding="utf-8")
    shown = f"{summary}\n--- log:\n{done.stdout}\n--- stderr:\n{done.stderr}"
    assert "### pgshift check: ❌ failed" in summary, shown
    assert "### pgshift lint: ❌ failed" in summary, shown
    assert "### pgshift verify: ❌ failed" in summary, shown
    assert "| `002_rename.sql` | FAIL |" in summary, shown


def test_a_command_that_stops_on_an_error_is_named_in_the_summary(runner: Runner) -> None:
    (runner.workspace / "migrations").mkdir()
    (runner.workspace / "migrations" / "001_bad.sql").write_bytes(b"-- UP\nSELECT '\xff';\n")
    assert run_action(runner, only="Install pgshift").returncode == 0

    done = run_action(runner, only="pgshift check, lint and verify")

    assert done.returncode == 1
    summary = runner.summary.read_text(encoding="utf-8")
    assert "### pgshift verify: ❌ error" in summary, summary
    assert "not valid UTF-8" in done.stderr or "byte offset" in done.stderr, done.stderr

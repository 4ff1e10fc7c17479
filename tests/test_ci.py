"""The habits CI enforces are the ones the README and pre-commit promise."""

from __future__ import annotations

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts: str) -> str:
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def _readme_test_command() -> str:
    readme = _read("README.md")
    m = re.search(r"Run the tests[^\n]*\n\n```\n([^\n]+)\n```", readme)
    assert m, "README.md has a 'Run the tests' block of one line"
    return m.group(1).rpartition(" && ")[2]


def test_readme_runs_the_tests_as_ci_does():
    command = _readme_test_command()
    assert command.startswith("python3 -m pytest ")
    ci_lines = [line.strip() for line in _read(".ci", "run").splitlines()]
    assert command in ci_lines, f".ci/run does not run the README's test command {command!r}"


def test_ci_runs_every_check():
    ci = [line.strip() for line in _read(".ci", "run").splitlines() if not line.lstrip().startswith("#")]
    for check in ("ruff check .", "ruff format --check .", "mypy cnnsize"):
        assert check in ci, check
    pytest_runs = [line for line in ci if "-m pytest" in line]
    assert any("--cov-fail-under=" in line and "-n auto" in line for line in pytest_runs)
    assert any(line.startswith("CNNSIZE_FAST_PATHS=0 ") for line in pytest_runs), "a run with fast paths off"


def test_pre_commit_runs_what_ci_runs():
    config = yaml.safe_load(_read(".pre-commit-config.yaml"))
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert hooks["ruff-check"]["entry"].startswith("ruff check")
    assert hooks["ruff-format"]["entry"].startswith("ruff format")
    assert hooks["mypy"]["entry"] == "mypy cnnsize"
    # local tools only: a commit must not need the network
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert all(h["language"] == "system" for h in hooks.values())

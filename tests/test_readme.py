"""Every example in the README runs."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from gdei_cli.cli import app

from .conftest import REPO

README = (REPO / "README.md").read_text()
COMMANDS = [
    line[2:].strip()
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S)
    for line in block.splitlines()
    if line.startswith("$ gdei ")
]
PYTHON = re.findall(r"```python\n(.*?)```", README, flags=re.S)
#: gdei commands inside the CI snippets (a workflow step's run:, a hook's entry:)
SNIPPETS = [
    m.strip()
    for block in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    for m in re.findall(r"(?:run|entry): (gdei .*)", block)
]


def test_readme_has_examples():
    assert len(COMMANDS) >= 5 and PYTHON


def test_readme_has_ci_snippets():
    assert len(SNIPPETS) == 2


@pytest.mark.parametrize("command", COMMANDS + SNIPPETS)
def test_readme_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    args = shlex.split(command)[1:]
    # write exported files into tmp_path, not the repository
    for flag in ("-o", "--export"):
        if flag in args:
            i = args.index(flag) + 1
            args[i] = str(tmp_path / args[i])
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    expected = 1 if "--max-waste" in args else 0
    assert res.exit_code == expected, res.output


@pytest.mark.parametrize("code", PYTHON)
def test_readme_python_runs(code, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    exec(compile(code, "README.md", "exec"), {})
    assert "converges_early.csv" in capsys.readouterr().out


def test_readme_demo_output_matches(monkeypatch):
    monkeypatch.chdir(REPO)
    res = CliRunner().invoke(app, ["analyze", "sample_logs/"])
    shown = re.search(r"```text\n(Where each run.*?)```", README, flags=re.S)
    assert shown is not None
    strip = lambda s: [ln.rstrip() for ln in s.strip().splitlines()]  # noqa: E731
    assert strip(res.stdout) == strip(shown.group(1))  # the whole output, to the last line


def test_readme_settings_example_is_valid(tmp_path):
    from gdei_cli import settings

    (block,) = re.findall(r"```toml\n(.*?)```", README, flags=re.S)
    (tmp_path / "pyproject.toml").write_text(block)
    got = settings.load(start=tmp_path)
    assert got.values and got.source == tmp_path / "pyproject.toml"

"""The command line as a user meets it: any width, quiet, closed pipes, one-line errors, -h."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gdei_cli.cli import app

from .conftest import REPO, SAMPLES

runner = CliRunner()
LONG = "experiments/2026-11-28_sweep/lr=3e-4_batch=512_warmup=2000/seed-17/metrics.csv"


def run(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def long_named(write, tmp_path):
    write(LONG, "step,loss\n" + "".join(f"{t},{1 + 9 * 0.8**t:.6f}\n" for t in range(201)))
    write("short.csv", "step,loss\n" + "".join(f"{t},{10 - t * 0.04:.4f}\n" for t in range(201)))
    return tmp_path


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200, 250])
def test_every_width_keeps_names_whole_and_verdicts_untruncated(long_named, width):
    res = run("analyze", long_named, "--width", width)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    run_name = LONG.rsplit("/", 1)[0]  # a generic file is named by its folder
    assert any(line.startswith(run_name) for line in lines)  # the name, on one line, whole
    assert any(line.strip().startswith("wasteful") for line in lines)
    assert any(line.strip().startswith("still improving") for line in lines)
    names = {line for line in lines if line.startswith((run_name, "short.csv"))}
    assert all(len(line) <= width for line in lines if line not in names), width
    if width >= 72:
        assert any("verdict" in line and "stop" in line for line in lines)  # one header
    else:
        assert any("stop " in line and "best " in line for line in lines)  # labelled numbers


def test_columns_env_is_the_default_width(long_named):
    res = run("analyze", long_named, env={"COLUMNS": "50"})
    assert all(len(line) <= 50 for line in res.stdout.splitlines() if not line.startswith(("experiments", "short")))


def test_quiet_prints_results_only(write, tmp_path):
    write("a.csv", "step,loss\n" + "".join(f"{t},{1 + 9 * 0.8**t:.6f}\n" for t in range(201)))
    write("bad.csv", "step,loss\n1,2\n2,3,4\n")
    loud = run("analyze", tmp_path)
    quiet = run("analyze", tmp_path, "--quiet")
    assert "gdei: warning" in loud.stderr and "stop: where training" in loud.stdout
    assert quiet.exit_code == 0
    assert quiet.stderr == "" and "stop: where training" not in quiet.stdout
    assert "1 file(s) could not be read" in " ".join(quiet.stdout.split())  # still counted


def _shell(cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, cwd=REPO
    )


def test_closed_pipe_exits_with_the_results_own_code():
    gdei = f"{sys.executable} -m gdei_cli"
    ok = _shell(f"{gdei} analyze {SAMPLES} | head -1")
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    json_ok = _shell(f"{gdei} analyze {SAMPLES} --format json | head -1")
    assert json_ok.returncode == 0 and json_ok.stderr == ""
    gate = _shell(f"{gdei} analyze {SAMPLES} --max-waste 1% | head -1")
    assert gate.returncode == 1  # the gate's own code, not a pipe error
    assert "Traceback" not in gate.stderr and "BrokenPipe" not in gate.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--window", "0"], "--window must be a positive number"),
        (["--warmup", "-5"], "--warmup must be a positive number"),
        (["--threshold", "-1"], "--threshold must be a number >= 0"),
        (["--tolerance", "nan"], "--tolerance must be a number >= 0"),
        (["--smoothing", "1"], "--smoothing must be in [0, 1)"),
        (["--smoothing", "lots"], "--smoothing must be 'auto' or a number"),
        (["--gpus", "0"], "gpus must be > 0"),
        (["--max-waste", "120%"], "--max-waste must be between 0% and 100%"),
        (["--max-file-size", "big"], "--max-file-size: not a size"),
        (["--width", "5"], "Invalid value for '--width'"),
        (["--mode", "sideways"], "Invalid value for '--mode'"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_each_invalid_option_is_one_line_and_exit_2(args, says):
    proc = subprocess.run(
        [sys.executable, "-m", "gdei_cli", "analyze", str(SAMPLES), *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gdei: error: ") and says in lines[0], lines[0]
    assert proc.stdout == ""


def test_missing_argument_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "gdei_cli", "analyze"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gdei: error: Missing argument 'PATH...'. (see 'gdei analyze --help')"
    ] or "Missing argument" in proc.stderr.strip()
    assert len(proc.stderr.strip().splitlines()) == 1


def test_short_help_and_exit_codes_in_help():
    for args in (["-h"], ["analyze", "-h"], ["export", "-h"], ["inspect", "-h"]):
        res = run(*args)
        assert res.exit_code == 0
        assert "Usage: gdei" in res.stdout
    assert "Exit codes: 0 fine; 1 a run wastes" in run("--help").stdout


def test_inspect_of_an_empty_folder_is_exit_2(tmp_path):
    res = run("inspect", tmp_path)
    assert res.exit_code == 2
    assert "no files found" in res.stderr


def test_github_format_annotates_escapes_and_summarises(write, tmp_path, monkeypatch):
    plateau = "step,loss\n" + "".join(f"{t},{1 + 9 * 0.8**t:.6f}\n" for t in range(201))
    write("a%b,c:d.csv", plateau)
    write("bad.csv", "step,loss\n1,2\n2,3,4\n")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.chdir(tmp_path)
    res = run("analyze", ".", "--format", "github", "--max-waste", "50%", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    error = next(line for line in lines if line.startswith("::error "))
    assert "file=a%25b%2Cc%3Ad.csv" in error  # properties: % , : escaped
    assert "title=gdei%3A wasteful%2C" in error
    assert "::a%25b,c:d.csv: " in error  # the message: only % (and newlines) escaped
    assert "%25 of the run" in error
    skipped = next(line for line in lines if "file skipped" in line)
    assert skipped.startswith("::warning file=bad.csv,line=3,")
    assert lines[-1].startswith("::notice title=gdei::1 of 1 run(s) analysed")
    text = summary.read_text()
    assert text.startswith("earlier step\n## gdei: where each run should have stopped")  # appended
    assert "| a%b,c:d.csv | wasteful |" in text
    assert "1 file(s) could not be read" in text


def test_step_summary_stays_under_the_cap():
    import pandas as pd

    from gdei_cli import engine, report
    from gdei_cli.loader import load

    rows = [(f"run-{i:05d}-" + "x" * 80, "loss", s, 1.0 / (s + 1)) for i in range(300) for s in range(5)]
    frame = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    analysis = engine.analyze(frame)
    dataset = load([SAMPLES])  # any dataset: only its skipped files are read
    text = report.step_summary(analysis, dataset, limit=8000)
    assert len(text.encode()) <= 8000
    assert "more run(s) left out to stay under GitHub's size limit" in text
    full = report.step_summary(analysis, dataset)
    assert full.count("| run-") == 300 and len(full.encode()) < report.STEP_SUMMARY_LIMIT


def test_analyze_gates_and_exports_in_one_run(write, tmp_path):
    write("a.csv", "step,loss\n" + "".join(f"{t},{1 + 9 * 0.8**t:.6f}\n" for t in range(201)))
    out = tmp_path / "out" / "summary.csv"
    out.parent.mkdir()
    res = run("analyze", tmp_path / "a.csv", "--max-waste", "10%", "--export", out)
    assert res.exit_code == 1
    assert out.read_text().startswith("run,metric,objective")


def _project(root, table: str):
    (root / "pyproject.toml").write_text('[project]\nname = "runs"\n\n[tool.gdei]\n' + table)
    (root / "deep" / "er").mkdir(parents=True)
    return root / "deep" / "er"


def test_tool_gdei_settings_apply_and_the_command_line_overrides(tmp_path, monkeypatch):
    here = _project(tmp_path, 'max-waste = "1%"\nformat = "json"\ntolerance = 2\n')
    monkeypatch.chdir(here)  # found by searching upward
    res = run("analyze", SAMPLES)
    assert res.exit_code == 1  # the file's gate
    doc = __import__("json").loads(res.stdout)  # the file's format
    assert doc["config"]["tolerance"] == 2
    cli = run("analyze", SAMPLES, "--format", "table", "--max-waste", "99%", "--tolerance", "0.5")
    assert cli.exit_code == 0 and cli.stdout.startswith("Where each run")


def test_unknown_setting_names_the_key_and_the_file(tmp_path, monkeypatch):
    here = _project(tmp_path, "tolerence = 1\n")
    monkeypatch.chdir(here)
    res = run("analyze", SAMPLES)
    assert res.exit_code == 2
    assert "unknown setting 'tolerence'" in res.stderr and str(tmp_path / "pyproject.toml") in res.stderr


def test_config_file_option_and_gdei_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pyproject.toml at or above /tmp/...
    own = tmp_path / "gdei.toml"
    own.write_text('max_waste = "90%"\ngpus = 8\n')
    res = run("analyze", SAMPLES, "--config", own, "--format", "json")
    assert res.exit_code == 1
    shown = run("config", "--config", own)
    assert shown.exit_code == 0
    lines = {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines()[1:]}
    assert lines["max-waste"] == ["90%", str(own)]
    assert lines["gpus"] == ["8", str(own)]
    assert lines["tolerance"] == ["0.5", "default"]


def test_nearest_pyproject_without_tool_gdei_ends_the_search(tmp_path, monkeypatch):
    _project(tmp_path, 'max-waste = "1%"\n')
    inner = tmp_path / "deep" / "er"
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    monkeypatch.chdir(inner)
    assert run("analyze", SAMPLES).exit_code == 0  # the outer gate does not apply
    assert "no [tool.gdei] settings" in run("config").stdout


def test_progress_bar_draws_for_large_reads_and_stays_silent_otherwise():
    import io

    from rich.console import Console

    from gdei_cli import report

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with report.progress_bar(True, console=console) as progress:
        assert progress is not None
        progress(0, 100 << 20)
        for _ in range(4):
            progress(25 << 20, None)
    assert "reading logs" in out.getvalue()
    quiet = io.StringIO()
    with report.progress_bar(True, console=Console(file=quiet, force_terminal=True)) as progress:
        progress(0, 1 << 20)  # small: no bar
        progress(1 << 20, None)
    assert quiet.getvalue() == ""
    with report.progress_bar(False) as progress:
        assert progress is None


def test_load_reports_progress_for_every_byte(write, tmp_path):
    from gdei_cli.loader import load

    for i in range(5):
        write(f"r{i}.csv", "step,loss\n" + "".join(f"{t},{1 / (t + 1)}\n" for t in range(100)))
    calls = []
    load([tmp_path], progress=lambda done, total: calls.append((done, total)))
    total = calls[0][1]
    assert calls[0][0] == 0 and total == sum((tmp_path / f"r{i}.csv").stat().st_size for i in range(5))
    assert sum(done for done, t in calls[1:]) == total and len(calls) == 6


def test_dash_reads_standard_input_with_an_input_format():
    data = (SAMPLES / "overfits.csv").read_text()
    res = runner.invoke(app, ["analyze", "-", "--input-format", "csv", "--format", "json"], input=data)
    assert res.exit_code == 0, res.output
    (only,) = __import__("json").loads(res.stdout)["runs"]
    assert only["run"] == "stdin" and only["verdict"] == "over-fitting"
    res = runner.invoke(app, ["analyze", "-"], input=data)
    assert res.exit_code == 2 and "needs --input-format" in res.stderr


def test_progress_bar_by_tasks_draws_for_any_count():
    import io

    from rich.console import Console

    from gdei_cli import report

    out = io.StringIO()
    with report.progress_bar(True, console=Console(file=out, force_terminal=True), tasks=True) as p:
        assert p is not None
        p(0, 3)
        for _ in range(3):
            p(1, None)
    assert "tasks done" in out.getvalue()

"""The command line through typer's CliRunner: exit codes, output, export."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gdei_cli.cli import app

from .conftest import SAMPLES

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def plateau_run(write, tmp_path):
    # converges by step ~20 of 200, then flat: wastes ~85%
    lines = ["step,loss"] + [f"{t},{1 + 9 * 0.8**t:.6f}" for t in range(201)]
    return write("plateau.csv", "\n".join(lines) + "\n")


def test_analyze_table_output(plateau_run):
    res = run("analyze", plateau_run)
    assert res.exit_code == 0, res.output
    assert "plateau.csv" in res.output
    assert "wasteful" in res.output
    assert "Total: 1 of 1 run(s) analysed" in res.output
    assert all(len(line) <= 80 for line in res.output.splitlines())
    assert "\x1b[" not in res.output  # NO_COLOR


def test_analyze_json_document(plateau_run):
    res = run(
        "analyze",
        plateau_run,
        "--format",
        "json",
        "--gpus",
        "2",
        "--gpu-hour-cost",
        "3",
        "--seconds-per-step",
        "10",
    )
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 2
    (r,) = doc["runs"]
    from gdei_cli.engine import SUMMARY_COLUMNS

    assert list(r)[: len(SUMMARY_COLUMNS)] == list(SUMMARY_COLUMNS)
    assert r["objective"] == "loss" and r["reason"]
    assert r["verdict"] == "wasteful"
    assert r["wall_saved_s"] == pytest.approx(10 * r["steps_saved"])
    assert r["cost_saved"] == pytest.approx(r["wall_saved_s"] / 3600 * 2 * 3)
    assert doc["skipped"] == []


def test_json_output_is_the_document_dumped(plateau_run, write):
    # what --format json prints is dumps() of the document, byte for byte
    from gdei_cli import report
    from gdei_cli.pipeline import analyze_paths

    write("two.csv", "step,loss\n" + "".join(f"{t},{5 - t / 100}\n" for t in range(300)))
    res = run("analyze", plateau_run.parent, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = report.analysis_document(*reversed(analyze_paths([plateau_run.parent])))
    assert res.stdout == report.dumps(doc) + "\n"


_json_keys = (
    st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_infinity=False)
).filter(lambda k: k == k)  # (json refuses a NaN key as it refuses a NaN value)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=6)
    | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(_json_keys, inner, max_size=6),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(doc=st.dictionaries(_json_keys, _json_values, max_size=8), pieces=st.integers(1, 40))
def test_write_json_writes_what_json_dumps_writes_in_pieces(doc, pieces):
    """The documents' JSON is the standard library's indented JSON, text for text
    (flat containers go through its C encoder, see documents._pieces), written a
    few pieces at a time."""
    from gdei_cli.report import documents

    writes: list[str] = []

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return super().write(text)

    want = json.dumps(doc, indent=2, allow_nan=False)
    assert documents.dumps(doc) == want
    out = Out()
    documents.write_json(doc, out, pieces=pieces)
    assert out.getvalue() == want + "\n"
    # never more than a few pieces' worth held: one write per *pieces* pieces
    assert len(writes) >= len(list(documents._pieces(doc))) // pieces


def test_write_json_refuses_nan_like_dumps():
    from gdei_cli.report import documents

    with pytest.raises(ValueError):
        documents.dumps({"x": float("nan")})
    with pytest.raises(ValueError):
        documents.write_json({"x": float("nan")}, io.StringIO())


def test_max_waste_gate_exit_codes(plateau_run):
    assert run("analyze", plateau_run, "--max-waste", "25%").exit_code == 1
    assert run("analyze", plateau_run, "--max-waste", "99").exit_code == 0
    res = run("analyze", plateau_run, "--max-waste", "lots")
    assert res.exit_code == 2
    assert "--max-waste" in res.stderr


def test_bad_input_exit_2_one_line_no_traceback(write):
    p = write("bad.jsonl", '{"step": 0, "loss": 1}\n{oops\n{"step": 2, "loss": 1}\n')
    res = run("analyze", p)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gdei: error: {p}:2: not valid JSON")
    assert "Traceback" not in res.output


def test_unknown_metric_exit_2_lists_metrics(plateau_run):
    res = run("analyze", plateau_run, "--metric", "accuracy")
    assert res.exit_code == 2
    assert "plateau.csv: loss" in res.stderr


def test_missing_path_and_bad_options_exit_2(tmp_path, plateau_run):
    assert run("analyze", tmp_path / "nope").exit_code == 2
    assert run("analyze", plateau_run, "--smoothing", "1.5").exit_code == 2
    assert run("analyze", plateau_run, "--window", "abc").exit_code == 2
    assert run("analyze", plateau_run, "--input-format", "xml").exit_code == 2
    assert run("analyze", plateau_run, "--format", "yaml").exit_code == 2


def test_folder_without_logs_exit_2(write, tmp_path):
    write("readme.txt", "nothing here")
    res = run("analyze", tmp_path)
    assert res.exit_code == 2
    assert "no training logs found" in res.stderr


def test_export_summary_round_trip_parquet(plateau_run, tmp_path):
    out = tmp_path / "summary.parquet"
    res = run("export", plateau_run, "-o", out)
    assert res.exit_code == 0, res.output
    back = pd.read_parquet(out)
    from gdei_cli import analyze, load

    expected = analyze(load([plateau_run]).frame).summary
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".md"])
def test_export_summary_other_formats(plateau_run, tmp_path, suffix):
    out = tmp_path / f"summary{suffix}"
    assert run("export", plateau_run, "-o", out).exit_code == 0
    text = out.read_text()
    assert "plateau.csv" in text and "wasteful" in text
    if suffix == ".csv":
        assert list(pd.read_csv(out).columns)[:3] == ["run", "metric", "objective"]
    if suffix == ".json":
        assert json.loads(text)["schema_version"] == 2


def test_export_points(plateau_run, tmp_path):
    out = tmp_path / "points.parquet"
    assert run("export", plateau_run, "--points", "-o", out).exit_code == 0
    back = pd.read_parquet(out)
    assert list(back.columns) == [
        "run",
        "metric",
        "step",
        "value",
        "wall_time",
        "smoothed",
        "index",
        "role",
    ]
    assert len(back) == 201


def test_export_bad_suffix_leaves_nothing(plateau_run, tmp_path):
    out = tmp_path / "summary.xlsx"
    res = run("export", plateau_run, "-o", out)
    assert res.exit_code == 2
    assert not out.exists()
    assert list(tmp_path.glob(".summary*")) == []


def test_export_failure_keeps_the_old_file(plateau_run, tmp_path, monkeypatch):
    out = tmp_path / "summary.csv"
    out.write_text("old content\n")
    import gdei_cli.report as report

    def boom(frame, path):
        Path(path).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, p, index=False: boom(self, p))
    from gdei_cli.errors import UsageError

    with pytest.raises(UsageError, match="disk full"):
        report.export_summary(
            __import__("gdei_cli").analyze(__import__("gdei_cli").load([plateau_run]).frame),
            __import__("gdei_cli").load([plateau_run]),
            out,
        )
    assert out.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".summary")] == []


def test_inspect_json(write, tmp_path):
    write("r.csv", "step,wall_time,loss\n0,1700000000,1\n1,1700000001,0.5\n0,1700000002,0.9\n")
    res = run("inspect", tmp_path, "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 2
    (r,) = doc["runs"]
    assert r["run"] == "r.csv" and r["format"] == "csv" and r["wall_time"] == "logged"
    assert r["metrics"] == [
        {"metric": "loss", "points": 1, "first_step": 0, "last_step": 0, "superseded": 2}
    ]


def test_inspect_table(write, tmp_path):
    write("t.jsonl", '{"step": 0, "loss": 1}\n{"step": 1, "lo')
    res = run("inspect", tmp_path)
    assert res.exit_code == 0
    assert "t.jsonl" in res.output and "skipped line 2" in res.output


def test_inspect_and_analyze_never_modify_inputs(plateau_run):
    before = plateau_run.read_bytes(), plateau_run.stat().st_mtime_ns
    assert run("analyze", plateau_run).exit_code == 0
    assert run("inspect", plateau_run).exit_code == 0
    assert (plateau_run.read_bytes(), plateau_run.stat().st_mtime_ns) == before


def test_samples_give_a_sensible_verdict_each():
    res = run("analyze", SAMPLES, "--format", "json")
    assert res.exit_code == 0
    verdicts = {r["run"]: r["verdict"] for r in json.loads(res.stdout)["runs"]}
    assert verdicts == {
        "converges_early.csv": "wasteful",
        "cosine_schedule": "still improving",
        "diverges.jsonl": "diverged",
        "noisy_minibatch.csv": "still improving",
        "overfits.csv": "over-fitting",
        "still_improving.jsonl": "still improving",
        "tensorboard_run": "wasteful",
    }


def test_readme_worked_example_numbers_are_the_real_ones():
    res = run("analyze", SAMPLES / "overfits.csv", "--format", "json")
    (r,) = json.loads(res.stdout)["runs"]
    assert (r["verdict"], r["stop_step"], r["best_step"], r["last_step"]) == (
        "over-fitting",
        83,
        107,
        299,
    )
    assert round(r["objective_best"], 3) == 6.643 and round(r["objective_final"], 2) == 7.83
    assert round(r["loss_at_stop"], 2) == 1.12 and round(r["final_loss"], 2) == 0.50
    assert round(r["waste_pct"]) == 72 and round(r["forgone_pct"], 1) == 0.8


def test_help_lists_every_command_and_python_m_works():
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("analyze", "export", "inspect"):
        assert cmd in res.output
        assert run(cmd, "--help").exit_code == 0
    proc = subprocess.run(
        [sys.executable, "-m", "gdei_cli", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith("gdei ")


def test_help_does_not_import_pandas():
    code = "import sys; from gdei_cli.cli import app; print('pandas' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_sample_logs_are_what_the_committed_script_makes(tmp_path):
    script = SAMPLES / "make_samples.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made
    for rel in made:
        if "tfevents" in rel.name:
            # the writer stamps its header with the time of writing: compare the points
            from gdei_cli.readers import tensorboard as tb

            new, old = tb.read(tmp_path / rel).frame, tb.read(SAMPLES / rel).frame
            pd.testing.assert_frame_equal(new, old)
        else:
            # numpy's exp, log and matrix products take the CPU's own vector
            # paths, and a diverging run multiplies a last-bit difference: the
            # text must be the same token for token, its numbers give the verdicts
            new_text, old_text = (tmp_path / rel).read_text(), (SAMPLES / rel).read_text()
            assert _NUMBER.sub("#", new_text) == _NUMBER.sub("#", old_text), rel
    assert _verdicts(tmp_path) == _verdicts(SAMPLES)


_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _verdicts(folder: Path) -> list[tuple[object, ...]]:
    res = run("analyze", folder, "--format", "json")
    keys = ("run", "verdict", "stop_step", "best_step", "last_step")
    return sorted(tuple(r[k] for k in keys) for r in json.loads(res.stdout)["runs"])


_summary_columns = st.fixed_dictionaries(
    {
        "f": st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=3, max_size=3),
        "i": st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=3, max_size=3),
        "b": st.lists(st.one_of(st.none(), st.booleans()), min_size=3, max_size=3),
        "s": st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=3, max_size=3),
        "n": st.lists(st.integers(-5, 5), min_size=3, max_size=3),
        "t": st.lists(st.booleans(), min_size=3, max_size=3),
        "o": st.lists(st.one_of(st.none(), st.text(max_size=3), st.floats()), min_size=3, max_size=3),
    }
)


@settings(max_examples=100, deadline=None)
@given(cols=_summary_columns)
def test_summary_records_are_each_value_cleaned(cols):
    """The records, converted a column at a time, are what cleaning each value of each
    row gives: the same values and the same Python types (None for NaN, inf and NA)."""
    from gdei_cli.report.documents import _clean, summary_records

    frame = pd.DataFrame(
        {
            "f": pd.Series(cols["f"], dtype="float64"),
            "i": pd.Series(cols["i"], dtype="Int64"),
            "b": pd.Series(cols["b"], dtype="boolean"),
            "s": pd.Series(cols["s"], dtype="str"),
            "n": pd.Series(cols["n"], dtype="int64"),
            "t": pd.Series(cols["t"], dtype="bool"),
            "o": pd.Series(cols["o"], dtype=object),
        }
    )
    want = [
        {c: _clean(v) for c, v in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    got = summary_records(frame)
    assert [[(type(v), v) for v in r.values()] for r in got] == [
        [(type(v), v) for v in r.values()] for r in want
    ]

"""Surviving a messy run folder: isolation, bounded resources, own errors, safe output.

The messy folder (:mod:`tests.messy`) holds good runs beside one of every bad
case a lab or an attacker leaves behind.  Every case is read under a
generous alarm (a hang or a runaway read fails the test instead of stalling
the suite; this is a bound, not a benchmark).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gdei_cli.cli import app
from gdei_cli.errors import InputError, UsageError
from gdei_cli.loader import load

from .messy import make_messy, remove_deep_tree, tb_events

runner = CliRunner()
CASE_SECONDS = 60


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, tuple[Path, str]]]]:
    root = tmp_path_factory.mktemp("messy")
    yield root, make_messy(root)
    remove_deep_tree(root / "deep")  # too deep for pytest's own clean-up


@pytest.fixture(scope="module")
def messy_dataset(messy):
    root, _ = messy
    with alarm(4 * CASE_SECONDS):
        return load([root])


def _sources(dataset) -> set[str]:
    return {src for info in dataset.runs.values() for src in info.sources}


def test_every_case_is_read_or_skipped_with_a_reason_in_bounded_time(messy):
    _, cases = messy
    for key, (path, expect) in cases.items():
        with alarm(CASE_SECONDS):
            got = load([path])
        reasons = [s.reason for s in got.skipped_files]
        assert not any("internal error" in r for r in reasons), (key, reasons)
        if expect == "run":
            assert got.runs, (key, reasons)
            assert not [s for s in got.skipped_files if s.problem], (key, reasons)
        elif expect == "skip":
            assert not got.runs, key
            assert got.skipped_files and all(s.problem for s in got.skipped_files), (key, reasons)


def test_the_folder_reports_every_good_run_and_lists_every_bad_file(messy, messy_dataset):
    root, cases = messy
    kept = _sources(messy_dataset)
    skipped = {s.path: s for s in messy_dataset.skipped_files}
    for key, (path, expect) in cases.items():
        if expect == "run":
            assert str(path) in kept or any(k.startswith(str(path)) for k in kept), key
        elif expect == "skip":
            assert str(path) in skipped, key
            assert skipped[str(path)].problem, key
    assert skipped[str(root / "bad.csv")].line == 3
    assert "expected 2 fields, got 3" in skipped[str(root / "bad.csv")].reason
    assert "FIFO" in skipped[str(root / "pipe.csv")].reason
    assert "device" in skipped[str(root / "zero.csv")].reason
    assert "dangling" in skipped[str(root / "dangling.csv")].reason
    assert "loop" in skipped[str(root / "loop_a")].reason
    assert "bomb" in skipped[str(root / "bomb.csv.gz")].reason
    assert not any("internal error" in s.reason for s in messy_dataset.skipped_files)


def test_cli_reports_the_rest_says_how_many_failed_and_strict_fails(messy):
    root, _ = messy
    with alarm(4 * CASE_SECONDS):
        res = run("analyze", root, "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    names = {r["run"] for r in doc["runs"]}
    assert {"good.csv", "good.jsonl", "good_run", "mlruns/1/abc"} <= names
    problems = [s for s in doc["skipped"] if s["problem"]]
    assert {"path", "line", "reason", "problem"} <= set(problems[0])
    assert any(s["path"].endswith("bad.csv") and s["line"] == 3 for s in problems)
    assert "gdei: warning: skipped" in res.stderr and "bad.csv:3" in res.stderr
    with alarm(4 * CASE_SECONDS):
        table = run("analyze", root)
    assert table.exit_code == 0
    assert f"{len(problems)} file(s) could not be read" in table.stdout
    with alarm(4 * CASE_SECONDS):
        strict = run("analyze", root, "--strict")
    assert strict.exit_code == 2
    assert "could not be read (--strict)" in strict.stderr


def test_one_bad_file_never_hides_the_good_one(write, tmp_path):
    write("good.csv", "step,loss\n0,2\n1,1\n2,0.5\n")
    write("bad.csv", "step,loss\n1,2\n2,3,4\n3,1\n")
    res = run("analyze", tmp_path)
    assert res.exit_code == 0, res.stderr
    assert "good.csv" in res.stdout
    assert "skipped" in res.stdout and "bad.csv:3" in res.stdout
    only_bad = run("analyze", tmp_path / "bad.csv")
    assert only_bad.exit_code == 2
    assert "bad.csv:3: expected 2 fields, got 3" in only_bad.stderr
    assert "Traceback" not in only_bad.output


def test_nothing_readable_is_exit_2(write, tmp_path):
    write("a/bad.csv", "step,loss\n1,2\n2,3,4\n")
    os.mkfifo(tmp_path / "a" / "pipe.csv")
    res = run("analyze", tmp_path / "a")
    assert res.exit_code == 2
    assert "no training logs found" in res.stderr


def test_unreadable_folder_is_listed(write, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any folder")  # the CI user is root: the loop check above covers
    write("r/good.csv", "step,loss\n0,2\n1,1\n")
    locked = tmp_path / "r" / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        got = load([tmp_path / "r"])
    finally:
        locked.chmod(0o755)
    assert any("cannot read folder" in s.reason for s in got.skipped_files)


# --------------------------------------------------------------------------- limits


def test_max_file_size_is_a_clear_skip(write, tmp_path):
    write("big.csv", "step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(2000)))
    write("small.csv", "step,loss\n0,1\n1,0.5\n")
    got = load([tmp_path], max_bytes=4096)
    assert list(got.runs) == ["small.csv"]
    (s,) = got.skipped_files
    assert "over the 4 KiB limit" in s.reason
    res = run("analyze", tmp_path, "--max-file-size", "4k")
    assert res.exit_code == 0 and "--max-file-size" in res.stderr
    assert run("analyze", tmp_path, "--max-file-size", "lots").exit_code == 2


def test_gzip_bomb_stops_early_and_a_cut_gzip_keeps_its_complete_rows(write, tmp_path):
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(b"step,loss\n") + b"".join(comp.compress(b"0" * (1 << 20)) for _ in range(200))
    write("bomb/b.csv.gz", bomb + comp.flush())
    got = load([tmp_path / "bomb"])
    assert not got.runs and "decompression bomb" in got.skipped_files[0].reason

    whole = gzip.compress(("step,loss\n" + "".join(f"{s},{1 / (1 + s)}\n" for s in range(20000))).encode(), mtime=0)
    write("cut/c.csv.gz", whole[: int(len(whole) * 0.7)])
    got = load([tmp_path / "cut"])
    (info,) = got.runs.values()
    n = len(got.frame)
    assert 10_000 < n < 20_000
    assert any("gzip data cut short" in w for w in info.warnings)
    assert any("cut short" in w for w in info.warnings)


def test_a_line_longer_than_the_limit_is_refused_not_parsed(write, tmp_path):
    write("long.jsonl", '{"step": 0, "loss": "' + "x" * 300_000 + '"}\n{"step": 1, "loss": 1}\n')
    got = load([tmp_path], max_bytes=64 << 20)  # line limit 256 KiB
    (s,) = got.skipped_files
    assert "a line longer than 256 KiB" in s.reason and s.line == 1


def test_billion_laughs_side_file_costs_only_the_attributes(write, tmp_path):
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        laughs += f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]\n"
    write("mlruns/0/r1/meta.yaml", laughs + "status: [1, 2]\nname: r\n")
    write("mlruns/0/r1/metrics/loss", "".join(f"{1700000000000 + s} {1 / (1 + s)} {s}\n" for s in range(10)))
    with alarm(CASE_SECONDS):
        got = load([tmp_path / "mlruns"])
    (info,) = got.runs.values()
    assert "status" not in info.attrs
    assert any("YAML aliases expand" in w for w in info.warnings)
    assert len(got.frame) == 10


def test_redos_line_is_linear(write, tmp_path):
    write("train.log", "a(" * 50_000 + "\n" + "a@" * 50_000 + "\nstep 1 loss 2.0\nstep 2 loss 1.0\n")
    with alarm(20):
        got = load([tmp_path], fmt="textlog")
    assert len(got.frame) == 2


# --------------------------------------------------------------------------- own errors


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("big_int.csv", "step,seed,loss\n0,1700000000123456789,1\n1,1700000000123456790,0.5\n", 4),
        ("y9999.csv", "step,time,loss\n0,9999-01-01T00:00:00,1\n1,9999-01-02T00:00:00,0.5\n", 2),
        ("huge.jsonl", '{"step": 0, "loss": ' + "9" * 400 + '}\n{"step": 1, "loss": 1}\n', 2),
        ("digits.jsonl", '{"step": 0, "loss": ' + "1" * 5000 + '}\n{"step": 1, "loss": 1}\n', 2),
        ("digits_nan.jsonl", '{"step": 0, "loss": ' + "1" * 5000 + '}\n{"step": 1, "loss": NaN}\n', 2),
        ("deep_ok.jsonl", '{"step": 0, "loss": 1, "x": ' + "[" * 6000 + "]" * 6000 + '}\n{"step": 1, "loss": 0.5}\n', 2),
        ("sur.jsonl", '{"step": 0, "\\ud800": 1, "loss": 1}\n{"step": 1, "loss": 0.5}\n', 3),
        ("cr.jsonl", '{"step": 0, "loss": 1}\r{"step": 1, "loss": 0.5}\r', 2),
        ("bom.jsonl", '\ufeff{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n', 2),
    ],
)
def test_ordinary_oddities_are_read(write, tmp_path, name, content, expect):
    write(name, content)
    got = load([tmp_path], strict=True)
    assert len(got.frame) == expect


def test_big_integers_keep_their_float_value(write, tmp_path):
    write("s.csv", "step,seed,loss\n0,1700000000123456789,1\n1,1700000000123456790,0.5\n")
    frame = load([tmp_path]).frame
    seed = frame.loc[frame["metric"] == "seed", "value"].to_numpy()
    assert seed[0] == float(1700000000123456789)


def test_year_9999_is_a_clock_not_an_error(write, tmp_path):
    write("t.csv", "step,time,loss\n0,9999-01-01T00:00:00,1\n1,9999-01-02T00:00:00,0.5\n")
    got = load([tmp_path], strict=True)
    assert set(got.frame["metric"].astype(str)) == {"loss"}  # a clock, not a metric


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        # (a NaN token sends the file to the Python parser, which reads 100,000 levels)
        ("deep.jsonl", '{"step": 0, "y": NaN, "x": ' + "[" * 200_000 + "]" * 200_000 + "}\n", "nested too deeply"),
        ("fake.csv", b"\x1f\x8bstep,loss\n0,1\n", "broken gzip data"),
        ("mmdet/x.log.json", '{"mode": "train", "epoch": 1, "iter": "ten", "loss": 1}\n', "'iter' is 'ten'"),
        ("w/wandb_export_x.csv", '"Step","r - loss","r - loss__MIN","r - loss__MAX"\n', "no values"),
        ("mlruns/0/r/metrics/loss", "1700000000000\n", "expected '<timestamp> <value>"),
        ("random.jsonl", bytes(range(256)) * 4, "not UTF-8"),
        ("events.out.tfevents.1.x", bytes(range(256)) * 64, "no valid record"),
    ],
)
def test_bad_content_is_gdeis_own_error_naming_the_file(write, tmp_path, name, content, says):
    if name.startswith("mlruns"):
        write("mlruns/0/r/meta.yaml", "status: 3\n")
    path = write(name, content)
    with pytest.raises(InputError) as err:
        load([path], strict=True)
    assert says in str(err.value)
    assert str(path) in str(err.value)
    res = run("analyze", path)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "internal error" not in res.stderr


def test_deep_folder_tree_is_walked_without_recursion(tmp_path):
    deep = tmp_path / "deep"
    os.mkdir(deep)
    for _ in range(1200):
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "metrics.csv").write_text("step,loss\n0,1\n1,0.5\n")
    try:
        got = load([tmp_path / "deep"])
    finally:
        remove_deep_tree(tmp_path / "deep")
    assert len(got.runs) == 1


# --------------------------------------------------------------------------- keep what can be kept


def test_cut_number_on_an_unterminated_last_line_is_dropped_with_a_warning(write, tmp_path):
    write("c.csv", "step,loss\n1,2.0\n2,1.0\n3,0.")
    got = load([tmp_path])
    (info,) = got.runs.values()
    assert list(got.frame["step"]) == [1, 2]
    assert any("cut short" in w for w in info.warnings)


def test_complete_unterminated_last_line_is_kept(write, tmp_path):
    write("c.csv", "step,loss\n1,2.0\n2,1.0\n3,0.5")
    assert list(load([tmp_path]).frame["step"]) == [1, 2, 3]


def test_mlflow_cut_last_line_is_dropped_with_a_warning(write, tmp_path):
    write("mlruns/0/r/meta.yaml", "status: 3\n")
    write("mlruns/0/r/metrics/loss", "".join(f"{1700000000000 + s} {1 / (1 + s)} {s}\n" for s in range(5)) + "1700000000100 0.0")
    got = load([tmp_path / "mlruns"], strict=True)
    (info,) = got.runs.values()
    assert len(got.frame) == 5
    assert any("cut short" in w for w in info.warnings)



def test_mlflow_bad_line_mid_file_is_an_error_naming_it(write, tmp_path):
    lines = [f"{1700000000000 + s} {1 / (1 + s)} {s}\n" for s in range(6)]
    lines[3] = "1700000000003 0.25 3 extra\n"
    write("mlruns/0/r/meta.yaml", "status: 3\n")
    write("mlruns/0/r/metrics/loss", "".join(lines))
    with pytest.raises(InputError, match="expected 3 fields, got 4") as err:
        load([tmp_path / "mlruns"], strict=True)
    assert err.value.line == 4

def _masked_crc(data: bytes) -> int:
    from gdei_cli.readers.tensorboard.framing import crc, mask

    return mask(crc(data))


def test_bad_length_header_mid_file_skips_one_record_not_the_rest(tmp_path):
    whole = tb_events(range(30))
    mid = len(tb_events(range(10)))
    bad = struct.pack("<Q", 1 << 30)
    bad += struct.pack("<I", _masked_crc(bad))
    path = tmp_path / "run" / "events.out.tfevents.1.x"
    path.parent.mkdir()
    path.write_bytes(whole[:mid] + bad + whole[mid:])
    got = load([path.parent])
    (info,) = got.runs.values()
    assert list(got.frame["step"]) == list(range(30))
    assert any("runs past the end of the file" in w for w in info.warnings)


def test_crafted_headers_give_up_in_linear_time(tmp_path):
    evil = struct.pack("<Q", 1 << 16)
    evil += struct.pack("<I", _masked_crc(evil))
    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(tb_events(range(5)) + evil * 200_000)
    with alarm(CASE_SECONDS):
        got = load([path])
    assert len(got.frame) == 5


def test_event_file_that_shrinks_while_read_is_a_warning_not_a_signal(tmp_path, monkeypatch):
    from gdei_cli.readers.tensorboard import reader

    path = tmp_path / "events.out.tfevents.1.s"
    data = tb_events(range(50))
    path.write_bytes(data)
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:  # the size seen before another process cut the file
        st = real_fstat(fd)
        fields = list(st)
        fields[stat.ST_SIZE] = len(data) + 10_000
        return os.stat_result(fields)

    monkeypatch.setattr(reader.os, "fstat", fstat)
    log = reader.read(path)
    assert len(log.frame) == 50
    assert any("shrank" in w for w in log.warnings)


# --------------------------------------------------------------------------- safe output


def test_names_cannot_drive_the_terminal_or_rich(write, tmp_path):
    write("m.csv", "step,loss,x[/b],acc[top1]\n0,1,1,0.1\n1,0.5,0.5,0.2\n")
    write("[link=ssh:evil]n.csv", "step,loss\n0,1\n1,0.5\n")
    write("esc\x1b]8;;evil\x07.csv", "step,loss\n0,1\n1,0.5\n")
    write("nl.jsonl", '{"step": 0, "lo\\nss\\u001b[2J\\u202e": 1}\n{"step": 1, "lo\\nss\\u001b[2J\\u202e": 0.5}\n')
    for cmd in ("analyze", "inspect"):
        res = run(cmd, tmp_path)
        assert res.exit_code == 0, res.output
        out = res.stdout + res.stderr
        assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
        assert "[link=ssh:evil]n.csv" in out
        assert "esc\\x1b]8;;evil\\x07.csv" in out
    inspect = run("inspect", tmp_path).stdout
    assert "x[/b]" in inspect and "acc[top1]" in inspect
    assert "lo\\nss\\x1b[2J\\u202e" in inspect


def test_exports_escape_formulas_and_markdown(write, tmp_path):
    write("=cmd|'x'!A1.csv", "step,loss\n0,1\n1,0.5\n")
    write("a|b\nc.jsonl", '{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n')
    out = tmp_path / "out"
    out.mkdir()
    assert run("export", tmp_path, "-o", out / "s.csv").exit_code == 0
    text = (out / "s.csv").read_text()
    assert "'=cmd" in text and "\n=cmd" not in text
    assert run("export", tmp_path, "-o", out / "s.md").exit_code == 0
    md = (out / "s.md").read_text().splitlines()
    assert all(line.startswith("|") for line in md)
    assert any("a\\|b c.jsonl" in line for line in md)



def test_job_summary_escapes_markdown_like_the_export(write, tmp_path):
    from gdei_cli.engine import analyze
    from gdei_cli.report import step_summary

    write("=cmd|x\\y.csv", "step,loss\n0,1\n1,0.5\n")
    ds = load([tmp_path])
    table = [line for line in step_summary(analyze(ds.frame), ds).splitlines() if "cmd" in line]
    assert table and table[0].startswith("| '=cmd\\|x\\\\y.csv |")

def test_export_never_overwrites_an_input(write, tmp_path):
    log = write("log.csv", "step,loss\n0,1\n1,0.5\n")
    before = log.read_bytes()
    res = run("export", log, "-o", log)
    assert res.exit_code == 2
    assert "one of the logs being read" in res.stderr
    assert log.read_bytes() == before
    os.link(log, tmp_path / "alias.csv")
    res = run("export", log, "-o", tmp_path / "alias.csv")
    assert res.exit_code == 2 and log.read_bytes() == before


def test_read_only_target_is_refused(write, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write read-only files; the check is os.access")
    write("log.csv", "step,loss\n0,1\n1,0.5\n")
    target = write("out.csv", "keep")
    target.chmod(0o444)
    res = run("export", tmp_path / "log.csv", "-o", target)
    assert res.exit_code == 2 and target.read_text() == "keep"


def test_gdeis_own_exports_in_a_folder_are_not_runs(write, tmp_path):
    write("log.csv", "step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(50)))
    assert run("export", tmp_path, "-o", tmp_path / "summary.csv").exit_code == 0
    assert run("export", tmp_path, "--points", "-o", tmp_path / "points.csv").exit_code == 0
    got = load([tmp_path])
    assert [info.sources for info in got.runs.values()] == [[str(tmp_path / "log.csv")]]
    reasons = {Path(s.path).name: s.reason for s in got.skipped_files}
    assert "gdei summary export" in reasons["summary.csv"]
    assert "gdei points export" in reasons["points.csv"]
    assert not any(s.problem for s in got.skipped_files)


def test_exports_keep_the_umask_mode(write, tmp_path):
    write("log.csv", "step,loss\n0,1\n1,0.5\n")
    old = os.umask(0o022)
    try:
        assert run("export", tmp_path / "log.csv", "-o", tmp_path / "s.csv").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "s.csv").st_mode) == 0o644


def test_sigterm_during_an_export_leaves_no_temporary_file(tmp_path):
    from gdei_cli.report import atomic_path

    target = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exit_, atomic_path(target) as tmp:
        tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
    assert exit_.value.code == 128 + signal.SIGTERM
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_export_target_errors_are_one_line(write, tmp_path):
    write("log.csv", "step,loss\n0,1\n1,0.5\n")
    (tmp_path / "dir.csv").mkdir()
    for target in (tmp_path / "dir.csv", tmp_path / "nowhere" / "x.csv"):
        res = run("export", tmp_path / "log.csv", "-o", target)
        assert res.exit_code == 2, res.output
        assert len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(UsageError):
        from gdei_cli.report import check_target

        check_target(tmp_path / "log.csv", [tmp_path / "log.csv"])

"""Many small CSV logs read by one Arrow parse (``csv.read_many``): each file's log
is the one ``csv.read`` gives it, or the file is left to ``csv.read``."""

from __future__ import annotations

import dataclasses
import gzip
import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdei_cli import assembly, load
from gdei_cli.discovery import discover
from gdei_cli.errors import InputError
from gdei_cli.readers import csv as csv_reader
from gdei_cli.readers import jsonl
from gdei_cli.readers.registry import ReadOptions

from .test_readers_text import _raw_summary


def _summary(log):
    """_raw_summary, plus what it leaves out: the order of the runs, and each log's
    metric names in their order (names no point uses included)."""
    runs = log.subruns or {"": log}
    return _raw_summary(log), [(k, list(v.points.metric_names)) for k, v in runs.items()]


def _alone(path, reader):
    try:
        return _summary(reader.read(path, ReadOptions()))
    except InputError as exc:
        return str(exc)


def _check_many(paths, reader=csv_reader):
    """*reader*'s read_many gives each file the log its read gives it (CSV by
    default); returns which files it took."""
    got = reader.read_many(paths, ReadOptions())
    assert len(got) == len(paths)
    for path, log in zip(paths, got, strict=True):
        if log is not None:
            assert _summary(log) == _alone(path, reader), path.name
    return [log is not None for log in got]


def test_plain_wide_logs_sharing_a_header_are_read_together(write):
    """Integers in one file and floats in another, a column empty in one file, absent
    cells, NaN and infinity tokens, CRLF line ends, gzip: every file is taken, as read
    reads it."""
    paths = [
        write("a.csv", "step,loss,acc\n0,1,\n1,2,\n2,3,\n"),
        write("b.csv", "step,loss,acc\n0,0.5,0.1\n1,nan,0.2\n2,inf,NA\n"),
        write("c.csv", "step,loss,acc\n5,-inf,1e400\n3,7,\n"),
        write("d.csv", "step,loss,acc\r\n0,1,2\r\n"),
        write("e.csv", "step,loss,acc\r\n4,1,2\r\n9,,3\r\n"),
        write("f.csv", "step,lr\n0,0.1\n1,0.2\n"),  # a header of its own, twice
        write("g.csv", "step,lr\n0,1\n"),
        write("h.csv.gz", gzip.compress(b"step,lr\n2,0.3\n")),  # decompressed first
    ]
    assert _check_many(paths) == [True] * len(paths)


def test_a_whole_number_past_2_53_is_read_as_its_own_file_reads_it(write):
    """A step of 2**53 + 1 is an exact int64 in its file's own parse; a table where
    another file makes that column floats would round it, so those files are not
    read together.  A metric of that size is a float in either parse: read together."""
    big = 2**53 + 1
    paths = [
        write("a.csv", f"step,loss\n{big},1\n{big + 2},2\n"),
        write("b.csv", "step,loss\n1.5,2\n"),
        write("c.csv", f"step,flops\n0,1\n1,{big}\n"),
        write("d.csv", "step,flops\n0,1.5e18\n1,inf\n"),
        write("e.csv", f"epoch,loss\n0,1\n{big},2\n"),
        write("f.csv", "epoch,loss\n1e300,1\n"),
    ]
    assert _check_many(paths) == [False, False, True, True, False, False]
    log = csv_reader.read(paths[0], ReadOptions())
    assert log.points.step.tolist() == [big, big + 2]


def test_json_lines_keep_a_step_past_2_53_exactly_alone_and_together(write):
    """An integer step in every record is an exact int64 whichever parser reads the
    file (pyarrow's, or Python's for a file with a NaN token); files read together
    keep it, unless another file's float steps would round it: those are read alone."""
    big = 2**53 + 1
    fast = write("a.jsonl", f'{{"step": {big}, "loss": 1}}\n{{"step": {big + 2}, "loss": 2}}\n')
    slow = write("s.jsonl", f'{{"step": {big}, "loss": NaN}}\n{{"step": {big + 2}, "loss": 2}}\n')
    for path in (fast, slow):
        assert jsonl.read(path, ReadOptions()).points.step.tolist() == [big, big + 2]
    twin = write("b.jsonl", f'{{"step": {big + 4}, "loss": 3}}\n')
    floats = write("c.jsonl", '{"step": 1.5, "loss": 2}\n')
    assert _check_many([fast, twin], jsonl) == [True, True]
    assert _check_many([fast, floats], jsonl) == [False, False]
    (got, _) = jsonl.read_many([fast, twin], ReadOptions())
    assert got is not None and got.points.step.tolist() == [big, big + 2]


def test_long_logs_and_run_columns_are_read_together(write):
    """Run and metric names: each file's own names, in its own order of first use
    (not the order over all the files), absent names, a file with none at all, and
    run names that are numbers."""
    paths = [
        write("a.csv", "run,metric,step,value\nx,loss,0,1\nx,acc,0,2\ny,loss,0,3\n"),
        write("b.csv", "run,metric,step,value\ny,acc,0,1\n,loss,1,2\nx,acc,1,NA\n"),
        write("c.csv", "run,metric,step,value\nNA,NA,0,1\n"),
        write("d.csv", "run,metric,step,value\nz,val/loss,3,0.5\nz,loss,3,0.25\n"),
        write("e.csv", "run,step,loss\n7,0,1\n8,0,2\n7,1,0.5\n"),
        write("f.csv", "run,step,loss\n8,0,1\n,1,2\n"),
    ]
    assert _check_many(paths) == [True] * len(paths)


def test_a_run_column_of_numbers_and_names_sends_its_table_back(write):
    """Numbers and names in one run column are an error in a file holding both, and
    no error in a file holding one kind: the files are read alone, each as it is."""
    paths = [
        write("a.csv", "run,step,loss\n7,0,1\n"),
        write("b.csv", "run,step,loss\nx,0,1\n"),
        write("c.csv", "run,step,loss\n7,0,1\nx,0,2\n"),
    ]
    assert _check_many(paths) == [False, False, False]


@pytest.mark.parametrize(
    ("name", "text", "why"),
    [
        ("quote.csv", 'step,loss\n0,"1"\n', "a quote"),
        ("cut.csv", "step,loss\n0,1\n1,0.", "no line end at the end"),
        ("bare.csv", "step,loss\n", "no rows"),
        ("cr.csv", "step,loss\r0,1\r1,2\r", "lone carriage returns"),
        ("accent.csv", "step,précision\n0,1\n", "not ASCII"),
    ],
)
def test_files_read_alone(write, name, text, why):
    """Files outside the plain case are left to read (None), whatever their company."""
    path = write(name, text)
    other = write("other_" + name, text.replace('"', "").replace("0.", "0.5\n"))
    assert _check_many([path, other])[0] is False, why


@pytest.mark.parametrize(
    "bad",
    [
        "step,loss\n0,1\n\n1,2\n",  # a blank line: the line ends no longer count the rows
        "step,loss\n0,1\n1,2,3\n",  # a row Arrow rejects
        "step,loss\n0,one\n",  # text in a column: not numbers only
        "step,loss\n0,true\n",  # booleans
        "step,loss\n0,2024-01-01\n",  # a date
    ],
)
def test_a_file_outside_the_plain_case_sends_its_whole_table_back(write, bad):
    """A table with anything but numbers (or rows that do not add up) is not cut up:
    every file sharing its header is read alone."""
    paths = [write("a.csv", "step,loss\n0,1\n1,2\n"), write("b.csv", bad)]
    assert _check_many(paths) == [False, False]


#: cells of the plain case (numbers of every kind, absent cells) ...
_NUMBER = st.sampled_from(
    ["0", "1", "-3", "2.5", "1e3", "", "NA", "null", "nan", "inf", "-inf", "1e400",
     "9223372036854775807", "99999999999999999999"]
)  # fmt: skip
#: (whole numbers past 2**53: exact int64 steps, or floats)
_HUGE = ("9223372036854775807", "99999999999999999999")
#: ... and cells outside it
_ODD = st.sampled_from(["x", '"4"', "true", " 7 ", "2024-01-01", "é"])
_HEADER = st.sampled_from(
    ["step,loss,acc", "step,loss,acc", "epoch,loss", "step,wall_time", "run,step,loss",
     "metric,step,value", "run,metric,step,value", "tag,value", "metric,run,value,step"]
)  # fmt: skip
#: run and metric names of the plain case (words and absent cells) ...
_NAME = st.sampled_from(["a", "b", "loss", "val/loss", "r1", "", "NA"])
#: ... and outside it (numbers among words, NaN spelled as a name)
_ODD_NAME = st.sampled_from(["7", "2.5", "nan", "x y", " a"])
_NAMED = ("run", "metric", "tag")


@st.composite
def _file(draw):
    """A small CSV log: mostly the plain case; now and then an odd cell, a ragged
    row, a lone carriage return, a blank line or a last line without its end."""
    header = draw(_HEADER)
    width = header.count(",") + 1
    odd = draw(st.sampled_from([False] * 4 + [True]))
    number = _NUMBER | _ODD if odd else _NUMBER
    name = _NAME | _ODD_NAME if odd else _NAME
    row = st.tuples(*(name if c in _NAMED else number for c in header.split(","))).map(list)
    if odd:
        row = row | st.lists(number | name, min_size=1, max_size=width + 1)
    rows = draw(st.lists(row, min_size=0 if odd else 1, max_size=6))
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"] if odd else ["\n", "\r\n"]))
    tail = draw(st.sampled_from([end, "", end + end] if odd else [end]))
    # a step of 2**53 or more may not be read with files whose steps are floats
    steps = [i for i, c in enumerate(header.split(",")) if c in ("step", "epoch")]
    huge = any(r[i] in _HUGE for r in rows for i in steps if i < len(r))
    return header + end, odd or huge, end.join([header, *(",".join(r) for r in rows)]) + tail


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(files=st.lists(_file(), min_size=1, max_size=6))
def test_read_many_reads_each_file_as_read_does_or_leaves_it(tmp_path, files):
    """Whatever the files hold (ragged rows, cut lines, blank lines, text, quotes, huge
    numbers, line ends of every kind), read_many never raises, each log it gives is
    the one read gives that file, and it takes every file of a header shared by two
    plain files or more and by no other."""
    folder = tmp_path / str(abs(hash(tuple(files))))
    folder.mkdir(exist_ok=True)
    paths = []
    for i, (_, _, text) in enumerate(files):
        path = folder / f"f{i}.csv"
        path.write_bytes(text.encode())
        paths.append(path)
    took = _check_many(paths)
    for header in {h for h, _, _ in files}:
        members = [i for i, (h, _, _) in enumerate(files) if h == header]
        if len(members) > 1 and not any(files[i][1] for i in members):
            assert all(took[i] for i in members), header


def test_a_folder_loads_the_same_with_or_without_reading_files_together(write, tmp_path):
    """load: the frame, the runs' bookkeeping and the skipped files are the same when
    every file is read alone; over a process pool, and in small batches each read on a
    thread while the one before is assembled, too (CSV and JSON lines)."""
    for i in range(12):
        rows = "".join(f"{s},{1 / (s + i + 1)},{'' if s % 3 else s}\n" for s in range(20))
        write(f"runs/r{i:02d}.csv", "step,loss,acc\n" + rows)
    write("runs/ragged.csv", "step,loss,acc\n0,1\n1,2,3\n")
    write("runs/restarted.csv", "step,loss,acc\n0,1,1\n1,2,2\n0,3,3\n1,4,4\n")
    write("runs/floats.csv", "step,loss,acc\n0,0.5,\n1,0.25,\n")
    write("runs/packed.csv.gz", gzip.compress(b"step,loss,acc\n0,1,2\n"))
    for i in range(3):  # JSON lines, read together too
        write(f"runs/j{i}.jsonl", "".join(f'{{"step": {s}, "loss": {i + s}}}\n' for s in range(5)))
    for i in range(2):  # files of two runs each (a run column), read and assembled together
        rows = "".join(f"{r},{s},{(i + 1) * (s + 1)}\n" for r in "ba" for s in (2, 0, 1))
        write(f"runs/s{i}.csv", "run,step,loss\n" + rows)
    together = load([tmp_path / "runs"], jobs=1)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(assembly, "BATCH_FILE_BYTES", -1)
        alone = load([tmp_path / "runs"], jobs=1)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(assembly, "POOL_MIN_BYTES", 0)
        pooled = load([tmp_path / "runs"], jobs=2)
    with pytest.MonkeyPatch.context() as m:  # batches of a few files, each read ahead
        m.setattr(assembly, "BATCH_BYTES", 700)
        ahead = load([tmp_path / "runs"], jobs=1)
    for other in (alone, pooled, ahead):
        pd.testing.assert_frame_equal(together.frame, other.frame)
        assert together.runs == other.runs
        assert together.skipped_files == other.skipped_files
    assert len(together.runs) == 22
    assert [s.path.rsplit("/", 1)[-1] for s in together.skipped_files] == ["ragged.csv"]


def test_read_in_batches_calls_read_many_once_for_a_run_of_small_files(write, tmp_path):
    """Consecutive small one-file sources of one format go to one read_many call;
    a source too large for a batch is read alone."""
    calls = []
    real = csv_reader.read_many

    def spy(paths, options=None):
        calls.append([p.name for p in paths])
        return real(paths, options)

    for i in range(3):
        write(f"runs/a{i}.csv", "step,loss\n0,1\n1,2\n")
    write("runs/b.csv", "step,loss\n" + "0,1\n" * 40)
    write("runs/c0.csv", "step,loss\n0,1\n")
    write("runs/c1.csv", "step,loss\n0,1\n")
    sources, _ = discover([tmp_path / "runs"])
    sizes = [p.stat().st_size for s in sources for p in s.paths]
    spied = dataclasses.replace(assembly.get("csv"), read_many=spy)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(assembly, "BATCH_FILE_BYTES", 100)
        m.setattr(assembly, "get", lambda name: spied)
        got = list(assembly.read_in_batches(sources, sizes))
    assert len(got) == 6
    assert calls == [["a0.csv", "a1.csv", "a2.csv"], ["c0.csv", "c1.csv"]]


def test_a_batch_read_that_fails_leaves_each_file_to_its_own_read(write, tmp_path):
    """A bug in read_many (or no memory for a batch) must not sink the folder: the
    files are then read one by one, with the same result."""
    for i in range(4):
        write(f"runs/r{i}.csv", f"step,loss\n0,{i}\n1,{i / 2}\n")
    whole = load([tmp_path / "runs"], jobs=1)
    spied = dataclasses.replace(assembly.get("csv"), read_many=_raises)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(assembly, "get", lambda name: spied)
        alone = load([tmp_path / "runs"], jobs=1)
    pd.testing.assert_frame_equal(whole.frame, alone.frame)
    assert len(alone.runs) == 4 and not alone.skipped_files


def _raises(paths, options=None):
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        ("lightning", "lightning_csv/*/metrics.csv"),
        ("keras", "keras_csv/*/training.log"),
        ("ultralytics", "yolo_csv/*/results.csv"),
    ],
)
def test_framework_csv_logs_are_read_together_as_their_reader_reads_them(
    tmp_path, fmt, pattern
):
    """The real logs of each CSV dialect, each run folder copied twice with its side
    files: read_many takes every copy and gives it the dialect's own log (points,
    names, the format's name, the attributes of hparams.yaml or args.yaml)."""
    from .conftest import shared_logs

    reader = assembly.get(fmt)
    originals = sorted(shared_logs().glob(pattern))
    assert originals, pattern
    paths = []
    for i, original in enumerate(originals):
        for copy in ("a", "b"):
            shutil.copytree(original.parent, tmp_path / f"{i}{copy}")
            paths.append(tmp_path / f"{i}{copy}" / original.name)
    got = reader.read_many(paths, ReadOptions())
    assert all(log is not None for log in got)
    for path, log in zip(paths, got, strict=True):
        alone = reader.read(path, ReadOptions())
        assert (_summary(log), log.format, log.attrs) == (
            _summary(alone),
            alone.format,
            alone.attrs,
        )
        assert log.format == fmt


# --------------------------------------------------------------------------- JSON lines


def test_plain_json_lines_are_read_together(write):
    """A key missing from one file, a key only ever null in another, integers in one
    file and floats in another, NaN and infinity words, names in UTF-8 and as
    escapes: each file's own columns, as its own read gives."""
    paths = [
        write("a.jsonl", '{"step": 0, "loss": 1, "acc": null}\n{"step": 1, "loss": 2}\n'),
        write("b.jsonl", '{"step": 0, "loss": 0.5, "lr": 0.1}\n{"step": 1, "loss": 0.25}\n'),
        write("c.jsonl", '{"_step": 3, "loss": 7, "acc": 0.5}\n'),
        write("d.jsonl.gz", gzip.compress(b'{"step": 5, "val_loss": 1e3}\n')),
        write("e.jsonl", '{"step": 0, "loss": NaN}\n{"step": 1, "loss": -Infinity}\n'),
        write("f.jsonl", '{"step": 0, "perte": 1, "é": 2, "\\u5b66": 3}\n'.encode()),
    ]
    assert _check_many(paths, jsonl) == [True] * len(paths)


def test_detectron2_and_deit_logs_are_read_together_as_alone(write, tmp_path):
    """Detectron2's ``metrics.json`` and DeiT's ``log.txt`` are JSON lines: many are
    parsed in one call, each its format's log as read alone gives it; a folder of
    them loads the same runs, read together or one by one."""
    from gdei_cli.readers import deit, detectron2

    d2 = [
        write(f"d2/r{i}/metrics.json", "".join(
            f'{{"iteration": {it}, "total_loss": {1.0 / (it + i + 1)}, "lr": 0.02}}\n'
            for it in range(19, 200, 20)) + ('{"iteration": 219, "total_loss": NaN}\n' if i else ""))
        for i in range(3)
    ]  # fmt: skip
    logs = detectron2.read_many(d2, ReadOptions())
    assert all(log is not None and log.format == "detectron2" for log in logs)
    assert _check_many(d2, detectron2) == [True] * 3
    dt = [
        write(f"deit/r{i}/log.txt", "".join(
            f'{{"epoch": {e}, "train_loss": {2.0 - e / 10}, "test_acc1": {e + i}}}\n'
            for e in range(5)))
        for i in range(3)
    ]  # fmt: skip
    logs = deit.read_many(dt, ReadOptions())
    assert all(log is not None and log.format == "deit" for log in logs)
    assert _check_many(dt, deit) == [True] * 3
    for folder in ("d2", "deit"):
        together = load([tmp_path / folder], jobs=1)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(assembly, "BATCH_FILE_BYTES", 0)  # every file read alone
            alone = load([tmp_path / folder], jobs=1)
        pd.testing.assert_frame_equal(together.frame, alone.frame)
        assert together.runs == alone.runs
        assert {r.format for r in together.runs.values()} == {
            "d2": {"detectron2"}, "deit": {"deit"}}[folder]  # fmt: skip


@pytest.mark.parametrize(
    "odd",
    [
        '{"step": 0, "loss": "NaN"}\n',  # a word in text (only the Python parser reads it)
        '{"step": 0, "loss": 1}\n\n{"step": 1, "loss": 2}\n',  # a blank line
        '{"step": 0, "loss": 1}',  # no line end at the end
        '{"step": 0, "loss": "1"}\n',  # text
        '{"step": 0, "loss": true}\n',  # a boolean
        '{"step": 0, "opt": {"lr": 1}}\n',  # an object
        '{"step": 0, "loss": [1]}\n',  # a list
        b'{"step": 0, "perte": 1, "\xe9": 2}\n',  # not UTF-8
        ' {"step": 0, "loss": 1}\n',  # not an object first
    ],
)
def test_json_lines_outside_the_plain_case_are_read_alone(write, odd):
    plain = write("a.jsonl", '{"step": 0, "loss": 1}\n')
    other = write("b.jsonl", odd)
    took = _check_many([plain, other], jsonl)
    assert took[1] is False


_JSON_VALUE = st.sampled_from(
    ["0", "1", "-3", "2.5", "1e3", "null", "9223372036854775807", "NaN", "-Infinity"]
)
_JSON_ODD = st.sampled_from(['"x"', '"7"', "true", "[1]", '{"a": 1}', "Infinity", "1e400"])


@st.composite
def _json_file(draw):
    """Small JSON lines: mostly plain records of numbers; now and then an odd value,
    a blank line, a missing last line end or a line that is not a record."""
    odd = draw(st.sampled_from([False] * 4 + [True]))
    value = _JSON_VALUE | _JSON_ODD if odd else _JSON_VALUE
    keys = st.lists(st.sampled_from(["step", "loss", "acc", "_step", "lr"]), unique=True)
    records = draw(st.lists(st.tuples(keys, st.data()), min_size=1, max_size=5))
    lines = []
    huge = False
    for names, data in records:
        drawn = [(k, data.draw(value)) for k in names]
        # a step of 2**53 or more may not be read with files whose steps are floats
        huge |= any(k in ("step", "_step") and v == "9223372036854775807" for k, v in drawn)
        lines.append("{" + ", ".join(f'"{k}": {v}' for k, v in drawn) + "}")
    if odd and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "[1, 2]", "{"])))
    tail = draw(st.sampled_from(["\n", ""])) if odd else "\n"
    return odd or huge, "\n".join(lines) + tail


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(files=st.lists(_json_file(), min_size=1, max_size=6))
def test_json_read_many_reads_each_file_as_read_does_or_leaves_it(tmp_path, files):
    """read_many never raises, each log it gives is the one read gives that file, and
    it takes every file when all of them are plain."""
    folder = tmp_path / str(abs(hash(tuple(files))))
    folder.mkdir(exist_ok=True)
    paths = []
    for i, (_, text) in enumerate(files):
        path = folder / f"f{i}.jsonl"
        path.write_bytes(text.encode())
        paths.append(path)
    took = _check_many(paths, jsonl)
    if len(files) > 1 and not any(odd for odd, _ in files):
        assert all(took)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 6), max_size=40), st.integers(0, 3))
def test_first_used_names_are_in_order_of_first_use(codes, extra):
    """A file's names (codes into the batch's, -1 absent) in order of first use: what
    pandas' unique gives, whether its first rows show them all or not."""
    import numpy as np

    from gdei_cli.readers.csv import _first_used

    arr = np.array(codes, dtype=np.int32)
    want = [c for c in pd.unique(arr) if c >= 0]
    assert _first_used(arr, 7 + extra).tolist() == want

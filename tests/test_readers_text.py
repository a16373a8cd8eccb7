"""CSV and JSONL readers, run naming and restarts, on tiny files written here."""

from __future__ import annotations

import gzip
import json
import math
import re
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gdei_cli import schema
from gdei_cli.errors import InputError
from gdei_cli.loader import discover, load, superseded_mask


def points(ds, metric, run=None):
    f = ds.frame
    sel = f["metric"] == metric
    if run is not None:
        sel &= f["run"] == run
    return f.loc[sel, ["step", "value"]].to_numpy().tolist()


def test_wide_csv(write, tmp_path):
    write("a.csv", "step,loss,acc\n0,2.0,0.1\n1,1.5,0.2\n2,1.0,0.3\n")
    ds = load([tmp_path])
    schema.check_frame(ds.frame)
    assert list(ds.runs) == ["a.csv"]
    assert points(ds, "loss") == [[0, 2.0], [1, 1.5], [2, 1.0]]
    assert ds.runs["a.csv"].wall_clock == "absent"
    assert ds.frame["wall_time"].isna().all()


def test_long_csv(write, tmp_path):
    write("long.csv", "tag,step,value\nloss,0,3\nlr,0,0.1\nloss,5,2\nlr,5,0.05\n")
    ds = load([tmp_path])
    assert points(ds, "loss") == [[0, 3.0], [5, 2.0]]
    assert points(ds, "lr") == [[0, 0.1], [5, 0.05]]


def test_sparse_rows_contribute_nothing(write, tmp_path):
    write(
        "metrics.csv",
        "epoch,step,train_loss,val_loss\n0,10,1.0,\n0,20,0.8,\n0,20,,0.9\n1,30,0.7,\n",
    )
    ds = load([tmp_path / "metrics.csv"])
    assert points(ds, "train_loss") == [[10, 1.0], [20, 0.8], [30, 0.7]]
    assert points(ds, "val_loss") == [[20, 0.9]]
    assert points(ds, "epoch") == [[10, 0.0], [20, 0.0], [30, 1.0]]


def test_step_column_preference_and_row_number_fallback(write, tmp_path):
    write("x/a.csv", "iteration,loss\n100,1\n200,0.5\n")
    write("x/b.csv", "loss\n1\n0.5\n0.2\n")
    ds = load([tmp_path / "x"])
    assert points(ds, "loss", "a.csv") == [[100, 1.0], [200, 0.5]]
    assert points(ds, "loss", "b.csv") == [[0, 1.0], [1, 0.5], [2, 0.2]]


def test_wall_clock_columns(write, tmp_path):
    write("abs.csv", "step,timestamp,loss\n0,1700000000.5,1\n1,1700000002.5,0.5\n")
    write("ms.csv", "step,_timestamp,loss\n0,1700000000500,1\n1,1700000002500,0.5\n")
    write(
        "rel.jsonl",
        '{"_step": 0, "_runtime": 0.0, "loss": 1}\n{"_step": 1, "_runtime": 3.0, "loss": 0.5}\n',
    )
    write("iso.csv", "step,time,loss\n0,2024-01-01T00:00:00Z,1\n1,2024-01-01T00:00:10Z,0.5\n")
    ds = load([tmp_path])
    f = ds.frame
    w = {r: f.loc[(f.run == r) & (f.metric == "loss"), "wall_time"].tolist() for r in ds.runs}
    assert w["abs.csv"] == [1700000000.5, 1700000002.5]
    assert w["ms.csv"] == [1700000000.5, 1700000002.5]
    assert w["rel.jsonl"] == [0.0, 3.0]
    assert w["iso.csv"] == [1704067200.0, 1704067210.0]
    assert ds.runs["rel.jsonl"].wall_clock == "relative"
    assert ds.runs["abs.csv"].wall_clock == "logged"
    assert set(f.metric.astype(str)) == {"loss"}  # clocks are not metrics


def test_small_time_column_is_a_metric_not_a_clock(write, tmp_path):
    write("d2.jsonl", '{"iteration": 19, "time": 0.41, "total_loss": 2}\n')
    ds = load([tmp_path])
    assert ds.runs["d2.jsonl"].wall_clock == "absent"
    assert points(ds, "time") == [[19, 0.41]]


def test_a_time_column_of_nan_only_is_a_metric_and_warns_nothing(write, tmp_path):
    """A wall-clock column holding no finite time is no clock: it stays a metric, and
    no numpy warning about an all-NaN median reaches the user (warnings are errors here)."""
    write("w.csv", "step,wall_time,loss\n0,nan,1\n1,inf,0.5\n")
    ds = load([tmp_path])
    assert ds.runs["w.csv"].wall_clock == "absent"
    assert set(ds.frame.metric.astype(str)) == {"loss", "wall_time"}


def test_jsonl_nan_tokens_are_values_and_missing_keys_are_not(write, tmp_path):
    write(
        "run.jsonl",
        '{"step": 0, "loss": 1.0, "acc": 0.5}\n'
        '{"step": 1, "loss": NaN}\n'
        '{"step": 2, "loss": Infinity, "acc": null}\n'
        '{"step": 3, "loss": -Infinity}\n',
    )
    ds = load([tmp_path])
    loss = points(ds, "loss")
    assert [s for s, _ in loss] == [0, 1, 2, 3]
    assert math.isnan(loss[1][1]) and loss[2][1] == math.inf and loss[3][1] == -math.inf
    assert points(ds, "acc") == [[0, 0.5]]


def test_csv_nan_and_inf_are_values_and_na_is_missing(write, tmp_path):
    write("k.csv", "epoch,loss,val_loss\n0,1.0,NA\n1,nan,0.5\n2,inf,\n")
    ds = load([tmp_path])
    loss = points(ds, "loss")
    assert len(loss) == 3 and math.isnan(loss[1][1]) and loss[2][1] == math.inf
    assert points(ds, "val_loss") == [[1, 0.5]]


def test_nested_json_becomes_slash_names(write, tmp_path):
    write("n.jsonl", '{"step": 1, "train": {"loss": 2.0}}\n{"step": 2, "train": {"loss": 1.0}}\n')
    ds = load([tmp_path])
    assert points(ds, "train/loss") == [[1, 2.0], [2, 1.0]]


def test_truncated_last_jsonl_line_is_dropped_with_a_warning(write, tmp_path):
    write("t.jsonl", '{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    ds = load([tmp_path])
    assert points(ds, "loss") == [[0, 1.0], [1, 0.5]]
    info = ds.runs["t.jsonl"]
    assert [s.line for s in info.skipped_lines] == [3]
    assert any("cut short" in w for w in info.warnings)


def test_truncated_last_csv_line_is_dropped_with_a_warning(write, tmp_path):
    write("t.csv", "step,loss,acc\n0,1,0.1\n1,0.5,0.2\n2,0.4")
    ds = load([tmp_path])
    assert points(ds, "loss") == [[0, 1.0], [1, 0.5]]
    assert [s.line for s in ds.runs["t.csv"].skipped_lines] == [4]


def test_bad_jsonl_line_in_the_middle_is_an_error_naming_the_line(write, tmp_path):
    p = write(
        "bad.jsonl", '{"step": 0, "loss": 1}\n\n{"step": 1, loss: 2}\n{"step": 2, "loss": 3}\n'
    )
    with pytest.raises(InputError) as err:
        load([p], strict=True)
    assert err.value.line == 3
    assert str(err.value).startswith(f"{p}:3: not valid JSON")


def test_jsonl_line_that_is_not_an_object_is_an_error(write, tmp_path):
    p = write("arr.jsonl", '{"step": 0, "loss": 1}\n[1, 2]\n{"step": 2, "loss": 3}\n')
    with pytest.raises(InputError, match="expected a JSON object") as err:
        load([p], strict=True)
    assert err.value.line == 2


def test_ragged_csv_row_in_the_middle_is_an_error_naming_the_line(write, tmp_path):
    p = write("bad.csv", "step,loss\n0,1\n1,2,3\n2,3\n")
    with pytest.raises(InputError, match="expected 2 fields, got 3") as err:
        load([p], strict=True)
    assert err.value.line == 3


def test_words_in_a_numeric_column_are_an_error(write, tmp_path):
    p = write("w.csv", "step,loss\n0,1.0\n1,oops\n2,0.5\n")
    with pytest.raises(InputError, match="'oops'") as err:
        load([p], strict=True)
    assert err.value.line == 3


def test_gzip_variants(write, tmp_path):
    write("a.csv.gz", gzip.compress(b"step,loss\n0,1\n1,0.5\n"))
    write("b.jsonl.gz", gzip.compress(b'{"step": 0, "loss": 1}\n'))
    ds = load([tmp_path])
    assert list(ds.runs) == ["a.csv.gz", "b.jsonl.gz"]


def test_json_document_is_skipped_while_walking_but_json_lines_are_read(write, tmp_path):
    write("lines.json", '{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n')
    write("doc.json", '{\n  "log_history": []\n}\n')
    write("notes.txt", "hello")
    ds = load([tmp_path])
    assert list(ds.runs) == ["lines.json"]
    assert sorted(s.reason for s in ds.skipped_files) == [
        "a JSON document, not JSON lines",
        "text without step/value lines",
    ]


def test_unknown_file_named_explicitly_is_an_error(write):
    p = write("notes.txt", "hello")
    with pytest.raises(InputError, match="cannot tell this file's format") as err:
        load([p], strict=True)
    assert str(p) in str(err.value)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load([tmp_path / "nope"])


def test_run_names_relative_to_common_root_and_generic_names(write, tmp_path):
    write("exp/a/metrics.csv", "step,loss\n0,1\n")
    write("exp/b/metrics.csv", "step,loss\n0,1\n")
    write("exp/c/run1.jsonl", '{"step": 0, "loss": 1}\n')
    write("exp/c/log.jsonl", '{"step": 0, "loss": 1}\n')
    sources, _ = discover([tmp_path / "exp"])
    assert [s.run for s in sources] == ["a", "b", "c", "c/run1.jsonl"]
    # a single generically named file is named by its folder
    sources, _ = discover([tmp_path / "exp" / "a" / "metrics.csv"])
    assert [s.run for s in sources] == ["a"]


def test_colliding_generic_names_fall_back_to_file_paths(write, tmp_path):
    write("r/metrics.csv", "step,loss\n0,1\n")
    write("r/log.jsonl", '{"step": 0, "loss": 1}\n')
    sources, _ = discover([tmp_path])
    assert [s.run for s in sources] == ["r/log.jsonl", "r/metrics.csv"]


def test_restart_supersedes_earlier_points(write, tmp_path):
    # crashed after step 5, resumed from the step-3 checkpoint
    rows = [
        (0, 1.0),
        (1, 0.9),
        (2, 0.8),
        (3, 0.7),
        (4, 0.6),
        (5, 0.5),
        (3, 0.75),
        (4, 0.65),
        (5, 0.55),
        (6, 0.45),
    ]
    write("r.csv", "step,loss\n" + "".join(f"{s},{v}\n" for s, v in rows))
    ds = load([tmp_path])
    assert points(ds, "loss") == [
        [0, 1.0],
        [1, 0.9],
        [2, 0.8],
        [3, 0.75],
        [4, 0.65],
        [5, 0.55],
        [6, 0.45],
    ]
    assert ds.runs["r.csv"].superseded == {"loss": 3}


def test_repeated_step_keeps_the_last_value(write, tmp_path):
    write("r.csv", "step,loss\n0,1\n1,0.9\n1,0.8\n2,0.7\n")
    ds = load([tmp_path])
    assert points(ds, "loss") == [[0, 1.0], [1, 0.8], [2, 0.7]]
    assert ds.runs["r.csv"].superseded == {"loss": 1}


def test_restart_is_per_metric(write, tmp_path):
    # val_loss logged sparsely at step 4; the restart to step 3 in loss must not drop it
    write("r.csv", "step,loss,val_loss\n3,1,\n4,0.9,0.95\n5,0.8,\n3,0.85,\n6,0.7,\n")
    ds = load([tmp_path])
    assert points(ds, "val_loss") == [[4, 0.95]]


def _reference_keep(codes, steps):
    """Restart rule by simulation: a backwards (or equal) step drops >= steps."""
    kept: dict[int, list[tuple[int, int]]] = {}
    for i, (c, s) in enumerate(zip(codes, steps, strict=True)):
        lst = kept.setdefault(c, [])
        if lst and s <= lst[-1][1]:
            lst[:] = [(j, t) for j, t in lst if t < s]
        lst.append((i, s))
    keep = np.zeros(len(steps), dtype=bool)
    for lst in kept.values():
        for j, _ in lst:
            keep[j] = True
    return keep


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(-5, 30)), min_size=0, max_size=60),
)
def test_superseded_mask_matches_a_simulation(rows):
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    steps = np.array([s for _, s in rows], dtype=np.int64)
    assert superseded_mask(codes, steps).tolist() == _reference_keep(codes, steps).tolist()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40)), min_size=1, max_size=60
    ),
)
def test_a_long_csv_run_is_its_restart_survivors_sorted(tmp_path_factory, rows):
    """Through the whole loader (interleaved metrics take a faster path when no
    step goes back): the frame is the simulation's survivors, by metric then step."""
    path = tmp_path_factory.mktemp("r") / "run.csv"
    path.write_text(
        "metric,step,value\n" + "".join(f"{m},{s},{i}\n" for i, (m, s) in enumerate(rows))
    )
    names = sorted({m for m, _ in rows})
    codes = np.array([names.index(m) for m, _ in rows], dtype=np.int64)
    steps = np.array([s for _, s in rows], dtype=np.int64)
    keep = _reference_keep(codes, steps)
    want = sorted((rows[i][0], rows[i][1], float(i)) for i in np.flatnonzero(keep))
    frame = load([path]).frame
    got = list(
        zip(frame.metric.astype(str), frame.step.tolist(), frame.value.tolist(), strict=True)
    )
    assert got == want


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"step": st.integers(0, 10**9)},
            optional={
                "loss": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                "acc": st.floats(allow_nan=False, allow_infinity=False),
            },
        ),
        min_size=1,
        max_size=30,
    )
)
def test_jsonl_round_trips_what_json_dumps_writes(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("p") / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    ds = load([path])
    # every present (non-null) loss value comes back, in step order after restarts
    got = ds.frame.loc[ds.frame["metric"] == "loss"]
    want = [(r["step"], r["loss"]) for r in records if r.get("loss", None) is not None]
    # apply the restart rule to the expectation
    keep = _reference_keep([0] * len(want), [s for s, _ in want])
    want = sorted((s, v) for (s, v), k in zip(want, keep, strict=True) if k)
    assert got["step"].tolist() == [s for s, _ in want]
    np.testing.assert_array_equal(
        got["value"].to_numpy(), np.array([v for _, v in want], dtype=float)
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**6), 10**6),
            st.one_of(st.none(), st.floats(width=32, allow_nan=True, allow_infinity=True)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_csv_reader_never_crashes_on_written_csv(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("c") / "run.csv"
    path.write_text(
        "step,loss\n" + "".join(f"{s},{'' if v is None else repr(v)}\n" for s, v in rows)
    )
    ds = load([path])
    schema.check_frame(ds.frame)
    assert len(ds.frame) <= sum(v is not None for _, v in rows)


def test_byte_order_mark_and_crlf(write, tmp_path):
    write("bom.csv", "\ufeffstep,loss\r\n0,1\r\n1,0.5\r\n".encode("utf-8"))
    ds = load([tmp_path])
    assert points(ds, "loss") == [[0, 1.0], [1, 0.5]]


def test_mmengine_scalars_json(write, tmp_path):
    # MMEngine's vis_data/scalars.json: a global "step" for train lines
    write(
        "vis_data/scalars.json",
        '{"lr": 0.02, "loss": 1.5, "epoch": 1, "iter": 50, "step": 50}\n'
        '{"lr": 0.02, "loss": 1.2, "epoch": 1, "iter": 100, "step": 100}\n'
        '{"coco/bbox_mAP": 0.2, "step": 1}\n',
    )
    ds = load([tmp_path])
    (run,) = ds.runs
    assert run == "vis_data"
    assert points(ds, "loss") == [[50, 1.5], [100, 1.2]]
    assert points(ds, "coco/bbox_mAP") == [[1, 0.2]]


def test_csv_that_is_not_utf8_is_an_error_naming_the_line(write, tmp_path):
    p = write("latin.csv", b"step,loss\n0,1\n1,0.5\xe9\n")
    with pytest.raises(InputError, match="not UTF-8") as err:
        load([p], strict=True)
    assert err.value.line == 3


names_st = st.lists(
    st.sampled_from(["loss", "val_loss", "acc", "lr", "z/last", "a/first"]),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=st.lists(names_st, min_size=1, max_size=4), order=st.randoms(use_true_random=False))
def test_frame_does_not_depend_on_how_files_are_named(tmp_path_factory, files, order):
    from gdei_cli import schema

    root = tmp_path_factory.mktemp("multi")
    paths = []
    for i, metrics in enumerate(files):
        lines = ["step," + ",".join(metrics)]
        lines += [
            f"{s}," + ",".join(f"{s * (j + 1)}" for j in range(len(metrics))) for s in range(3)
        ]
        paths.append(root / f"run{i}.csv")
        paths[-1].write_text("\n".join(lines) + "\n")
    whole = load([root]).frame
    shuffled = list(paths)
    order.shuffle(shuffled)
    named = load(shuffled).frame
    schema.check_frame(whole)  # sorted categories, order, one row per (run, metric, step)
    schema.check_frame(named)
    assert list(whole.metric.cat.categories) == sorted({m for ms in files for m in ms})
    import pandas as pd

    pd.testing.assert_frame_equal(whole, named)
    # one file alone: its categories are its own metrics, sorted
    alone = load([paths[0]]).frame
    assert list(alone.metric.cat.categories) == sorted(files[0])


def test_a_run_column_splits_one_file_into_its_runs(write, tmp_path):
    from gdei_cli.loader import load

    rows = "".join(f"r{r:03d},loss,{s},{1 / (s + 1 + r)}\n" for r in range(200) for s in range(15))
    write("many.csv", "run,metric,step,value\n" + rows)
    got = load([tmp_path / "many.csv"])
    assert len(got.runs) == 200
    assert len(got.frame) == 3000
    assert sum(sum(i.superseded.values()) for i in got.runs.values()) == 0
    assert "many.csv/r007" in got.runs


def test_a_numeric_run_id_in_a_wide_file_or_json_lines_splits_runs(write, tmp_path):
    from gdei_cli.loader import load

    write("w/wide.csv", "run_id,step,loss\n1,0,2\n1,1,1\n2,0,3\n2,1,2\n")
    write(
        "j/log.jsonl",
        '{"experiment": "x", "step": 0, "loss": 2}\n{"experiment": "y", "step": 0, "loss": 3}\n{"experiment": "x", "step": 1, "loss": 1}\n',
    )
    wide = load([tmp_path / "w"])
    assert sorted(wide.runs) == ["wide.csv/1", "wide.csv/2"]
    assert "run_id" not in set(wide.frame["metric"].astype(str))
    lines = load([tmp_path / "j"])
    assert sorted(lines.runs) == ["j/x", "j/y"]
    assert len(lines.frame) == 3


_VALUES = st.one_of(
    st.text(alphabet="aé学😀\x00\u2028 1.", max_size=4),
    st.integers(-(10**6), 10**6),
    st.floats(width=64),  # NaN and the infinities: words json.dumps writes, not JSON
    st.sampled_from(["1.5", " 2 ", "abc", "", "inf", "nan", "3e-4", "NaN", "-Infinity"]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
    st.fixed_dictionaries({"a": st.floats()}, optional={"b": st.integers(0, 3)}),
)
_RECORDS = st.lists(
    st.dictionaries(
        st.sampled_from(["step", "loss", "acc", "lr", "name2", "nest", "NaN_count", "损失"]),
        _VALUES,
        max_size=5,
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(records=_RECORDS, ascii=st.booleans())
def test_fast_json_lines_path_equals_the_python_parser(records, ascii):
    """pyarrow's reader (when it takes a file) gives exactly the Python parser's frame
    (text as UTF-8 or as escapes)."""
    import json as _json

    lines = (_json.dumps(r, ensure_ascii=ascii) + "\n" for r in records)
    _fast_reads_as_python("".join(lines).encode())


_WORDS = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"-NaN", b" NaN ", b"null", b"1"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    records=_RECORDS,
    edits=st.lists(st.tuples(st.integers(0, 10**6), _WORDS, st.integers(0, 3)), max_size=4),
)
def test_words_anywhere_in_json_lines_never_mislead_the_fast_path(records, edits):
    """``NaN`` and ``Infinity`` written where a value goes, in a key or a string, glued
    to a number, a sign or another word, or over some of the text: the fast path
    reads what the Python parser reads, or leaves the file to it."""
    import json as _json

    data = bytearray("".join(_json.dumps(r) + "\n" for r in records).encode())
    for at, word, drop in edits:
        i = at % (len(data) + 1)
        data[i : i + drop] = word
    _fast_reads_as_python(bytes(data))


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b'{"a": 1}', b'{"a": NaN}', b'{"N": -Infinity}', b"{NaN"])),
    end=st.booleans(),
)
def test_the_lines_holding_a_word_are_found_and_copied_whole(lines, end):
    """The second parse's lines: every line holding a word, in order, each with its
    line end (the file's last line may have none), lines next to each other in one
    piece."""
    from gdei_cli.readers._json import _TOKENS, _lines_with, _word_places

    body = b"\n".join(lines) + (b"\n" if end else b"")
    found = _word_places(body, _TOKENS)
    words = tuple(w for w in _TOKENS if w in body)
    assert tuple(found) == words
    for word, at in found.items():  # every place of each word
        assert at.tolist() == [m.start() for m in re.finditer(re.escape(word), body)]
    if not words:
        return
    rows, spans = _lines_with(body, list(found.values()))
    want = [i for i, ln in enumerate(lines) if any(w in ln for w in words)]
    assert rows.tolist() == want
    text = b"".join(body[a:b] for a, b in spans)
    assert text.rstrip(b"\n") == b"".join(lines[i] + b"\n" for i in want).rstrip(b"\n")
    # the pieces: lines next to each other are one, and pieces never touch
    assert all(b1 < a2 for (_, b1), (a2, _) in pairwise(spans))
    assert len(spans) == sum(1 for k, i in enumerate(want) if k == 0 or want[k - 1] != i - 1)


_OUTSIDE = st.lists(st.sampled_from(["{", "}", ": ", ", ", "1", "NaN", "-Infinity", "\n"]))
_INSIDE = st.lists(st.sampled_from(["a", " ", "NaN", "Infinity", "\\\\", '\\"', "\\n"]))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(_OUTSIDE, _INSIDE), max_size=6), words=st.sampled_from(
    [(b"NaN",), (b"Infinity",), (b"NaN", b"Infinity")]))  # fmt: skip
def test_a_word_inside_a_string_is_told_from_one_outside(parts, words):
    """Words between strings (values) and in them (keys, texts, after escaped quotes
    and backslashes): the check finds a word inside a string exactly when there is
    one."""
    from gdei_cli.readers._json import _outside_strings

    text = "".join("".join(out) + '"' + "".join(ins) + '"' for out, ins in parts)
    inside = any(w.decode() in "".join(ins) for _, ins in parts for w in words)
    if not any(w in text.encode() for w in words):
        return
    assert _outside_strings(text.encode(), words) == (not inside)


def test_a_word_in_a_key_leaves_the_file_to_the_python_parser():
    """A key holding a word is renamed by either parse (``xnull``, ``x1``), and the
    second name may be another key's: the file is the Python parser's."""
    from gdei_cli.readers._json import fast_columns

    for data in (
        b'{"step": 0, "xNaN": 1, "a": NaN}\n{"step": 1, "x1": 2}\n',
        b'{"step": 0, "xInfinity": 1, "a": NaN}\n{"step": 1, "xnull": 2}\n',
        b'{"step": 0, "x\\"NaN": 1, "a": NaN}\n',
    ):
        assert fast_columns(data) is None
        _fast_reads_as_python(data)
    assert fast_columns(b'{"step": 0, "x\\\\": NaN}\n') is not None  # (an escaped backslash)


_PLAIN_NAMED = st.dictionaries(
    st.sampled_from(["x1", "x2", "xnull", "step"]),
    st.one_of(st.sampled_from([1, 2, -2, 0.5]), st.floats(), st.none()),
    max_size=3,
)
_WORD_NAMED = st.dictionaries(
    st.sampled_from(["xNaN", "xInfinity", "x-Infinity", "x1"]),
    st.sampled_from([1, 2, -2, 0.5, math.nan]),
    min_size=1,
    max_size=2,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    plain=st.lists(_PLAIN_NAMED, min_size=1, max_size=5),
    named=st.lists(st.tuples(st.integers(0, 5), _WORD_NAMED), min_size=1, max_size=3),
)
def test_words_in_keys_never_mislead_the_fast_path(plain, named):
    """Keys holding a word (renamed ``xnull`` by the first parse, ``x1`` or ``x2`` by
    the second) in some lines, keys of those names in others: the fast path reads
    what the Python parser reads, or leaves the file to it."""
    import json as _json

    records = list(plain)
    for at, record in named:
        records.insert(at % (len(records) + 1), record)
    _fast_reads_as_python("".join(_json.dumps(r) + "\n" for r in records).encode())


_INNER = st.fixed_dictionaries(
    {},
    optional={
        "a": st.floats(),
        "b": st.integers(0, 3),
        "c": st.fixed_dictionaries({}, optional={"d": st.floats()}),
    },
)
_NESTED = st.fixed_dictionaries(
    {"step": st.integers(0, 9)}, optional={"e": st.one_of(_INNER, st.none()), "x": st.floats()}
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(records=st.lists(_NESTED, min_size=1, max_size=6))
@example(records=[{"step": 0, "x": math.inf, "e": {}}])
@example(records=[{"step": 0, "e": {"b": 1}}, {"step": 1, "e": {"a": math.nan}}])
@example(records=[{"step": 0, "e": {"b": 1}}, {"step": 1, "e": None, "x": math.nan}])
def test_words_in_nested_objects_read_as_the_python_parser_reads_them(records):
    """Words in objects and objects in objects, keys some lines lack, empty objects
    and null ones: the fast path reads what the Python parser reads, or leaves the
    file to it (an empty object beside a word once failed inside pyarrow)."""
    import json as _json

    _fast_reads_as_python("".join(_json.dumps(r) + "\n" for r in records).encode())


def _fast_reads_as_python(data: bytes) -> None:
    """The fast path's log of *data*, when it takes the file, is the Python parser's."""
    from pathlib import Path as _Path

    from gdei_cli.errors import InputError
    from gdei_cli.readers._json import fast_columns, fast_to_raw, frame_to_raw, parse_lines

    path = _Path("x.jsonl")
    try:
        # a bytearray (a reader's own file) is written into for the parse, then back
        held = bytearray(data)
        got_fast = fast_columns(held)
        assert held == data
        fast = None if got_fast is None else fast_to_raw(path, got_fast, "jsonl", [])
        assert (fast_columns(bytes(data)) is None) == (fast is None)  # (bytes: a copy)
    except InputError as exc:
        fast_err = str(exc)
        fast = None
    else:
        fast_err = None
    if fast is None and fast_err is None:
        return  # pyarrow declined: only the Python parser reads it
    try:
        got = parse_lines(path, data)
        slow = frame_to_raw(path, "jsonl", got.frame, got.line_numbers, got.skipped, [])
    except InputError as exc:
        assert fast_err == str(exc)
        with pytest.raises(InputError, match=re.escape(str(exc))):
            got = parse_lines(path, bytearray(data))  # (what the readers give it now)
            frame_to_raw(path, "jsonl", got.frame, got.line_numbers, got.skipped, [])
        return
    again = parse_lines(path, bytearray(data))
    pd.testing.assert_frame_equal(again.frame, got.frame)
    np.testing.assert_array_equal(again.line_numbers, got.line_numbers)
    assert fast_err is None, fast_err
    assert fast is not None
    assert not slow.skipped_lines  # (a line the Python parser drops: pyarrow refuses it)
    cols = ["metric", "step", "value", "wall_time"]
    a = fast.frame.assign(metric=fast.frame["metric"].astype(str))[cols]
    b = slow.frame.assign(metric=slow.frame["metric"].astype(str))[cols]
    a = a.sort_values(["metric", "step", "value"], kind="stable").reset_index(drop=True)
    b = b.sort_values(["metric", "step", "value"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=True)
    assert fast.warnings == slow.warnings


def test_fast_json_lines_path_takes_ordinary_logs_and_declines_the_rest():
    from gdei_cli.readers._json import fast_columns

    plain = b'{"step": 0, "loss": 1.5, "eval": {"loss": 2}}\n{"step": 1, "loss": 1.25}\n'
    assert fast_columns(plain) is not None
    words = b'{"step": 2, "loss": NaN, "eval": {"loss": -Infinity}, "lr":Infinity }\n'
    assert fast_columns(plain + words) is not None  # a diverged run's words
    text = '{"step": 2, "perte": 1, "note": "café 学习 \\u00e9\\u4e60"}\n'.encode()
    assert fast_columns(plain + text) is not None  # UTF-8 text and its escapes
    for odd in (
        plain + b'{"step": 2, "note": "\\ud83d\\ude00"}\n',  # a surrogate escape
        plain + b'{"step": 2, "note": "caf\xe9"}\n',  # not UTF-8
        plain + b'{"step": 2, "loss": "NaN"}\n',  # a word in a string (Python's exact text)
        plain + b'{"step": 2, "loss": 1',  # a cut last line
        plain.replace(b"\n", b"\r\n"),  # CR line ends
        plain.replace(b"\n", b"\n\n", 1),  # a blank line
        plain + b'{"step": 2, "loss": "ok"}\n{"step": 3, "loss": [1]}\n',  # a type change
    ):
        assert fast_columns(odd) is None, odd


@pytest.mark.parametrize(
    "glued",
    [b"1NaN", b"NaN1", b"-NaN", b"--Infinity", b"1Infinity", b"Infinity5", b"1.NaN", b"NaNe1"],
)
def test_a_word_glued_to_a_number_is_never_read_as_one(glued):
    """The first parse writes each word as a zero of its length (``0e0``): ``1NaN``
    would then read as ``10e0``.  A word that does not stand alone where a value
    goes leaves the file to the Python parser, which says what is wrong."""
    from gdei_cli.readers._json import fast_columns

    data = b'{"step": 0, "loss": NaN}\n{"step": 1, "loss": ' + glued + b"}\n"
    assert fast_columns(bytearray(data)) is None
    _fast_reads_as_python(data)
    for alone in (b"NaN", b"-Infinity", b"NaN,\"acc\":-Infinity", b" Infinity "):
        data = b'{"step": 0, "loss": NaN}\n{"step": 1, "loss":' + alone + b"}\n"
        assert fast_columns(data) is not None, alone
        _fast_reads_as_python(data)


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ('{"step": 0, "loss": 1}{"step": 1, "loss": 2}\n{"step": 2, "loss": 3}\n', 1, "Extra"),
        ('{"step": 0, "loss": 1}\nnull\n{"step": 2, "loss": 3}\n', 2, "JSON object"),
        ('{"step": 0, "loss": 1}\n{"step": 1, "loss": NaN} 7\n{"step": 2}\n', 2, "Extra"),
    ],
)
def test_a_line_that_is_not_one_record_is_an_error_naming_it(write, text, line, why):
    """pyarrow reads two objects on one line as two rows, and a ``null`` line as an
    empty one; the fast path counts a row a line, so such a file is the Python
    parser's, which names the line (it was read silently, its rows off by one)."""
    from gdei_cli.readers import jsonl

    path = write("two.jsonl", text)
    with pytest.raises(InputError, match=why) as err:
        jsonl.read(path)
    assert err.value.line == line


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet='[]{}a"\n', max_size=300), limit=st.integers(0, 40))
def test_the_nesting_check_is_the_running_depth_of_brackets(text, limit):
    from gdei_cli.readers._json import _nested_deeper_than

    assert _nested_deeper_than(text.encode(), limit) == (_deepest(text) > limit)


def _deepest(text: str) -> int:
    """The deepest running depth of the brackets in *text*."""
    depth = deepest = 0
    for ch in text:
        depth += 1 if ch in "[{" else -1 if ch in "]}" else 0
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize("limit", [0, 1, 2, 32])
@pytest.mark.parametrize(
    "text", ['{"a": 1}\n' * 50, '{"a": 1}\n' * 50 + '{"b": {"c": 2}}\n', "{}" * 40 + "{", "{}" * 40]
)
def test_the_nesting_check_of_flat_records(text, limit):
    """Flat records (one level: the shortcut) and near misses, as the running depth says."""
    from gdei_cli.readers._json import _nested_deeper_than

    assert _nested_deeper_than(text.encode(), limit) == (_deepest(text) > limit)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"{", b"}", b"[", b"]", b"NaN", b"Infinity", b"\\u", b"\n", b"\r", b" ", b"\t",
             b"N", b"I", b"\\", b"a", b'"k": 1', b"{" * 20, b"}" * 20, b"d8", b"D", b"b"]
        ),
        max_size=40,
    )
)
def test_the_fast_path_prescan_is_the_plain_checks_in_one_pass(parts):
    """The one-pass prescan (brackets and marker starts kept, exact searches only when
    a marker could be there) decides as the separate whole-file checks did."""
    from gdei_cli.readers._json import (
        _FAST_MAX_DEPTH,
        _SLOW_MARKERS,
        _TOKENS,
        _fast_path_may_read,
        _nested_deeper_than,
    )

    body = b"".join(parts)
    lines = body.split(b"\n")
    if not re.sub(rb"[^][{}NI\\]", b"", lines[-1]):
        lines.pop()  # (text after the last line end without a bracket is no line:
        # pyarrow reads what it holds, if anything, as a row more, or refuses it)
    plain = (
        bool(body.strip())
        and not any(m in body for m in _SLOW_MARKERS)
        and not re.search(rb"\\u[dD][89a-fA-F]", body)
        and body.lstrip()[:1] == b"{"
        # each line's first bracket (or word, or backslash) opens an object
        and all(re.sub(rb"[^][{}NI\\]", b"", ln)[:1] == b"{" for ln in lines)
        and not _nested_deeper_than(body, _FAST_MAX_DEPTH)
    )
    got = _fast_path_may_read(body)
    if not plain:
        assert got is None
    else:
        assert got is not None
        # (the words that may be there: each one there is, and no more than start so)
        assert {w for w in _TOKENS if w in body} <= set(got.words)
        assert got.words == tuple(w for w in _TOKENS if w[:1] in body)
        assert got.lines == len(lines)


def test_deeply_nested_json_lines_skip_pyarrow_and_are_read_up_to_the_depth_limit(tmp_path):
    """pyarrow's type inference took 12 s on one 12 KB line nested 6,000 deep; the fast
    path now leaves such a file to the Python parser, which reads it (a thread with a
    large stack) up to DEEP_MAX levels and refuses deeper records at once."""
    from gdei_cli.readers import _json, jsonl

    def deep(levels: int) -> bytes:
        x = b"[" * levels + b"]" * levels
        return b'{"step": 0, "loss": 1, "x": ' + x + b'}\n{"step": 1, "loss": 0.5}\n'

    path = tmp_path / "d.jsonl"
    assert _json.fast_columns(deep(6000)) is None
    path.write_bytes(deep(6000))
    log = jsonl.read(path)
    assert log.frame["value"].tolist() == [1.0, 0.5]
    path.write_bytes(deep(_json.DEEP_MAX + 1))
    with pytest.raises(InputError, match="nested too deeply"):
        jsonl.read(path)
    shallow = b'{"step": 0, "loss": 1, "x": {"y": [1, 2]}}\n{"step": 1, "loss": 0.5}\n'
    assert _json.fast_columns(shallow) is not None


@pytest.mark.parametrize("name", ["m.csv", "m.jsonl"])
def test_a_large_arrow_read_hands_its_freed_memory_back(tmp_path, monkeypatch, name):
    """CSV and JSON lines parsed by Arrow ask its pool to release the parse's buffers
    once a file is large enough to matter, and leave small files alone."""
    import pyarrow as pa

    from gdei_cli.readers import _io
    from gdei_cli.readers import csv as gcsv
    from gdei_cli.readers import jsonl as gjsonl

    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(50)))
    else:
        path.write_text("".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(50)))
    read = gcsv.read if name.endswith(".csv") else gjsonl.read
    pool = pa.default_memory_pool()
    calls: list[int] = []

    class Pool:
        def release_unused(self) -> None:
            calls.append(1)
            pool.release_unused()

    monkeypatch.setattr(pa, "default_memory_pool", lambda: Pool())
    assert read(path).n_points == 50
    assert calls == []  # a small file: not worth the call
    monkeypatch.setattr(_io, "ARROW_RELEASE_BYTES", 0)
    assert read(path).n_points == 50
    # JSON lines: after the parse, and once the table is gone; CSV: before each of its
    # two columns is converted (the parse's buffers, then the last column's), and after
    assert len(calls) == (3 if name.endswith(".csv") else 2)


@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**63), 2**63).map(float),
            st.sampled_from([0.5, -0.0, 2.0**62, -(2.0**62), 2.0**62 - 1024]),
        ),
        max_size=8,
    ),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
@settings(max_examples=300, deadline=None)
def test_a_step_column_is_whole_exactly_when_every_present_value_is(
    values: list[float], present: list[bool]
) -> None:
    """A numeric column can be the step column when each present value is a finite
    whole number below 2**62 in size (and there is one)."""
    from gdei_cli.readers._table import Column, _is_integral

    vals = np.array(values, dtype=np.float64)
    mask = np.array(present[: vals.size], dtype=bool)
    kept = [v for v, p in zip(values, present, strict=False) if p]
    want = bool(kept) and all(
        math.isfinite(v) and v == math.floor(v) and abs(v) < 2.0**62 for v in kept
    )
    assert _is_integral(Column(name="step", values=vals, present=mask)) == want
    if all(math.isfinite(v) and v == math.floor(v) for v in kept):
        # a column parsed as integers (the hint skips the rounding check): same answer
        assert _is_integral(Column(name="step", values=vals, present=mask, whole=True)) == want


def _raw_summary(log):
    """A RawLog's runs as plain lists: names, then each point's metric name, step,
    value and wall time, for comparing two reads exactly."""

    def pts(p):
        names = [p.metric_names[c] for c in p.metric_codes.tolist()]
        floats = [repr(v) for v in p.value.tolist()], [repr(w) for w in p.wall_time.tolist()]
        return list(zip(names, p.step.tolist(), *floats, strict=True))  # repr: NaN == NaN

    runs = log.subruns or {"": log}
    return (
        {k: pts(v.points) for k, v in runs.items()},
        log.warnings,
        [(s.line, s.reason) for s in log.skipped_lines],
    )


def _read_both_ways(path, monkeypatch, max_bytes=None):
    """The CSV reader's result, and the same read with every column left to Arrow's
    inference (text as strings, dictionary-encoded afterwards)."""
    from gdei_cli.readers import csv as csv_reader
    from gdei_cli.readers.registry import ReadOptions

    options = ReadOptions() if max_bytes is None else ReadOptions(max_bytes=max_bytes)

    def outcome():
        try:
            return _raw_summary(csv_reader.read(path, options))
        except InputError as exc:
            return str(exc)

    typed = outcome()
    with monkeypatch.context() as m:
        m.setattr(csv_reader, "_text_column_types", lambda data, delimiter: {})
        inferred = outcome()
    return typed, inferred


_CELLS = st.sampled_from(["a", "b", " a", "7", "7.0", "", "NA", "nan", '"b"', "x,y", "é"])


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    header=st.sampled_from(
        ["run,metric,step,value", "metric,run,value,step", "name,tag,Value,step",
         "experiment,step,loss", "run,run_id,metric,value", "tag,value", "run,metric,run,value"]
    ),  # fmt: skip
    rows=st.lists(st.tuples(_CELLS, _CELLS, st.integers(0, 5), st.floats(-2, 2)), max_size=12),
)
def test_run_and_metric_columns_parsed_as_dictionaries_read_as_strings_do(
    tmp_path, monkeypatch, header, rows
):
    """The run and metric columns are typed as dictionaries for Arrow's parse: the
    read equals the one where Arrow infers them as text (numbers in a run column,
    absent cells, quoted and padded names, repeated column names)."""
    order = {"run": 0, "run_id": 0, "name": 0, "experiment": 0, "metric": 1, "tag": 1,
             "step": 2, "value": 3, "Value": 3, "loss": 3}  # fmt: skip
    lines = [header]
    for row in rows:
        fields = []
        for col in header.split(","):
            cell = row[order[col]]
            fields.append('"x,y"' if cell == "x,y" else str(cell))
        lines.append(",".join(fields))
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typed, inferred = _read_both_ways(path, monkeypatch)
    assert typed == inferred


def test_run_and_metric_dictionaries_over_many_parse_blocks(tmp_path, monkeypatch):
    """A file of several Arrow blocks, each with its own dictionary: a run and a
    metric first seen in a late block, absent run cells, and runs revisited, keep
    the names and order a text read gives."""
    rng = np.random.default_rng(5)
    n = 120_000  # about 3 MB: several 1 MiB blocks
    runs = np.array(["r0", "r1", "NA", "r2"], dtype=object)[rng.integers(0, 3, n)]
    runs[n // 2 :] = np.where(rng.random(n - n // 2) < 0.3, "late", runs[n // 2 :])
    metrics = np.array(["loss", "val_loss"])[rng.integers(0, 2, n)]
    metrics[-1000:] = "acc"
    steps = np.arange(n) // 4
    body = "".join(
        f"{r},{m},{s},{v:.6f}\n"
        for r, m, s, v in zip(runs, metrics, steps, rng.random(n), strict=True)
    )
    path = tmp_path / "long.csv"
    path.write_text("run,metric,step,value\n" + body)
    # a 64 MiB limit: 1 MiB parse blocks (a block holds the longest line allowed)
    typed, inferred = _read_both_ways(path, monkeypatch, max_bytes=64 << 20)
    assert isinstance(typed, tuple)
    assert sorted(typed[0]) == ["late", "r0", "r1"]
    assert typed == inferred


def test_a_line_longer_than_a_parse_block_is_read_in_larger_blocks(write, tmp_path):
    """Arrow parses in 1 MiB blocks first; a line too long for them (a long run name,
    within the line limit: 16 MiB under a 4 GiB file limit) makes it parse again in
    blocks that hold the longest line allowed."""
    from gdei_cli.readers import csv as csv_reader
    from gdei_cli.readers.registry import ReadOptions

    rows = "".join(f"r,{s},{s / 10}\n" for s in range(60_000))
    long_name = "x" * (9 << 20)  # (more than two blocks: Arrow's parse fails on it)
    path = write("long_line.csv", f"run,step,loss\n{rows}{long_name},0,1\n{rows}")
    log = csv_reader.read(path, ReadOptions(max_bytes=4 << 30))
    assert sorted(log.subruns) == ["r", long_name]
    assert len(log.subruns["r"].points) == 120_000


def test_the_header_prefilter_knows_every_run_and_metric_column_name():
    """The CSV reader skips parsing a header holding none of these bytes: each run
    and long-metric column name must contain one of them."""
    from gdei_cli.readers._table import LONG_METRIC_NAMES, RUN_NAMES
    from gdei_cli.readers.csv import _TEXT_NAMES

    for name in (*RUN_NAMES, *LONG_METRIC_NAMES):
        assert any(part in name.encode() for part in _TEXT_NAMES), name


def test_a_run_column_of_dates_or_booleans_names_runs_as_written(write, tmp_path):
    """The run column is read as text: dates name runs as written (Arrow alone would
    read them as timestamps, and the runs as POSIX seconds), and booleans split runs
    (Arrow alone would read a boolean column, which is no run column at all)."""
    from gdei_cli.readers import csv as csv_reader

    write("d.csv", "run,step,loss\n2023-01-01T10:00:00,0,1\n2023-01-02T10:00:00,0,2\n")
    write("b.csv", "name,step,loss\ntrue,0,1\ntrue,1,0.5\nfalse,0,2\n")
    dates = csv_reader.read(tmp_path / "d.csv")
    assert sorted(dates.subruns or {}) == ["2023-01-01T10:00:00", "2023-01-02T10:00:00"]
    flags = csv_reader.read(tmp_path / "b.csv")
    assert {k: len(v.points) for k, v in (flags.subruns or {}).items()} == {"true": 2, "false": 1}


@pytest.mark.parametrize("layout", ["wide", "long"])
@pytest.mark.parametrize("n_metrics", [127, 128, 129, 300])
def test_many_metrics_with_a_restart_assemble_in_order(write, tmp_path, n_metrics, layout):
    """Assembly keeps metric codes in the smallest signed dtype: at the int8 edge (128
    metrics) and past it, a log whose metrics are not in name order (a wide log's
    columns, or a long log's rows interleaved), resumed from a checkpoint, gives each
    metric's last value per step, sorted."""
    names = [f"m{(i * 37) % n_metrics:03d}" for i in range(n_metrics)]  # not sorted
    steps = [0, 1, 2, 3, 2, 3, 4]  # resumed at step 2
    points = [(names[j], s, float(r * 1000 + j)) for r, s in enumerate(steps) for j in range(n_metrics)]
    if layout == "wide":
        rows = [
            ",".join([str(s)] + [str(r * 1000 + j) for j in range(n_metrics)])
            for r, s in enumerate(steps)
        ]
        write("w.csv", "step," + ",".join(names) + "\n" + "\n".join(rows) + "\n")
    else:
        body = "".join(f"{m},{s},{v}\n" for m, s, v in points)
        write("w.csv", "metric,step,value\n" + body)
    frame = load([tmp_path / "w.csv"]).frame
    want = (
        pd.DataFrame(points, columns=["metric", "step", "value"])
        .drop_duplicates(["metric", "step"], keep="last")
        .sort_values(["metric", "step"])
        .reset_index(drop=True)
    )
    got = frame[["metric", "step", "value"]].astype({"metric": str}).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=3000).filter(lambda b: b[:2] != b"\x1f\x8b"), packed=st.booleans())
def test_a_mutable_read_is_the_file_in_a_bytearray(tmp_path_factory, content, packed):
    """``read_bytes(mutable=True)`` (the JSON-lines readers' read: a NaN word is written
    over in place) gives the file's bytes, plain or gzip, in a bytearray; its
    limits are the plain read's."""
    from gdei_cli.readers._io import read_bytes

    path = tmp_path_factory.mktemp("m") / "x.jsonl"
    path.write_bytes(gzip.compress(content) if packed else content)
    plain = read_bytes(path, [], max_bytes=1 << 20, lines=False)
    held = read_bytes(path, [], max_bytes=1 << 20, lines=False, mutable=True)
    assert isinstance(held, bytearray) and held == plain == content
    if not packed and content:
        with pytest.raises(InputError, match="limit"):
            read_bytes(path, [], max_bytes=len(content) - 1, lines=False, mutable=True)


@pytest.mark.parametrize("told", [-5, -1, 1, 4096])
def test_a_mutable_read_of_a_file_that_changed_size_while_read(tmp_path, monkeypatch, told):
    """The size the read starts from is what ``fstat`` said; a file longer (it grew)
    or shorter (it shrank) by the time it is read still reads whole, as it is."""
    import types

    from gdei_cli.readers import _io

    path = tmp_path / "x.jsonl"
    content = b'{"step": 0, "loss": NaN}\n' * 100
    path.write_bytes(content)
    real = _io.os.fstat

    def fstat(fd: int) -> object:
        st = real(fd)
        return types.SimpleNamespace(st_mode=st.st_mode, st_size=st.st_size + told)

    monkeypatch.setattr(_io.os, "fstat", fstat)
    got = _io.read_bytes(path, [], max_bytes=1 << 20, mutable=True)
    assert isinstance(got, bytearray) and got == content

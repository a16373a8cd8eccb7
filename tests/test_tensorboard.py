"""TensorBoard event files: exact against TensorBoard's reader, and robust to damage."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdei_cli import load
from gdei_cli.readers import tensorboard as tb

from .conftest import DATA, shared_logs
from .tb_reference import assert_same, reference_points

tensorboardX = pytest.importorskip("tensorboardX")


def event_file(folder: Path) -> Path:
    (path,) = sorted(folder.glob("events.out.tfevents.*"))
    return path


def tbx_run(folder: Path, steps=range(300), purge_step=None, extra=True, suffix="") -> Path:
    w = tensorboardX.SummaryWriter(str(folder), purge_step=purge_step, filename_suffix=suffix)
    for s in steps:
        w.add_scalar("train/loss", 3.0 / (1 + s) + 0.01 * math.sin(s), s, walltime=1.7e9 + s)
        if s % 7 == 0:
            w.add_scalar("lr", 0.1 * 0.97**s, s, walltime=1.7e9 + s)
        if extra and s == 40:
            w.add_histogram("weights", np.arange(100.0), s)
            w.add_text("note", "hello", s)
            w.add_image("img", np.zeros((3, 4, 4)), s)
    w.close()
    return folder


# --------------------------------------------------------------------------- exactness


def test_tensorboardx_file_matches_tensorboard(tmp_path):
    folder = tbx_run(tmp_path / "run")
    path = event_file(folder)
    assert_same(path, tb.read(path))


def test_steps_across_varint_widths_and_special_values(tmp_path):
    w = tensorboardX.SummaryWriter(str(tmp_path))
    steps = [0, 1, 127, 128, 129, 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**62]
    specials = [0.0, -0.0, 1e-45, 3.4e38, math.inf, -math.inf, math.nan, 1.5, -2.25, 7.0, 1e-3]
    for s, v in zip(steps, specials, strict=True):
        w.add_scalar("x", v, s, walltime=1.7e9 + s % 1000)
        w.add_scalar("a/long/tag/name/with/many/parts", v, s)
    w.close()
    path = event_file(tmp_path)
    log = tb.read(path)
    assert_same(path, log)
    assert log.frame.loc[log.frame.metric == "x", "step"].tolist() == steps


@pytest.mark.parametrize("name", ["tf2_tensor_scalars", "tf1_merged"])
def test_committed_tf_style_files_match_tensorboard(name):
    path = event_file(DATA / name)
    assert_same(path, tb.read(path))


def test_committed_tf_style_files_are_what_the_script_makes(tmp_path):
    subprocess.run([sys.executable, str(DATA / "make_tf2_events.py"), str(tmp_path)], check=True)
    for name in ("tf2_tensor_scalars", "tf1_merged"):
        assert event_file(tmp_path / name).read_bytes() == event_file(DATA / name).read_bytes()


def test_tensor_scalars_need_the_scalars_plugin():
    log = tb.read(event_file(DATA / "tf2_tensor_scalars"))
    assert "image_like" not in set(log.frame.metric.astype(str))
    assert "image_like" in log.attrs.get("non-scalar tensor tags", "")


def test_every_real_tensorboard_log_matches_tensorboard():
    files = sorted((shared_logs() / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(files) >= 6
    for path in files:
        assert_same(path, tb.read(path))


def test_torch_summarywriter_file_matches_tensorboard(tmp_path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    w = torch_tb.SummaryWriter(str(tmp_path))
    for s in range(200):
        w.add_scalar("loss", 1.0 / (1 + s), s)
        w.add_scalar("acc", s / 200, s, new_style=True)  # a tensor scalar with metadata
    w.close()
    path = event_file(tmp_path)
    log = tb.read(path)
    assert_same(path, log)
    assert set(log.frame.metric.astype(str)) == {"loss", "acc"}


#: val steps at uneven intervals: long runs of the cycle, then short ones (the framer
#: checks the next stretch as long as the last one at once, and must stop where it breaks)
_UNEVEN = frozenset(np.cumsum([0, 1000, 3, 500, 1, 1, 900, 7, 60, 200, 2, 250]).tolist())


@pytest.mark.parametrize(
    ("val_steps", "tags", "vals"),
    [
        (range(0, 3000, 97), 1, 1),
        (range(0, 3000, 50), 2, 1),
        (range(0, 3000, 1000), 3, 1),
        (range(0, 3000, 3), 1, 1),
        (_UNEVEN, 1, 1),
        (_UNEVEN, 2, 1),
        (range(0, 3000, 100), 1, 3),  # val loss, accuracy and F1 in a row
        (_UNEVEN, 2, 12),  # more odd records in a row than are framed alone
    ],
)
def test_a_tag_every_n_steps_beside_per_step_tags_is_framed_exactly(
    tmp_path, val_steps, tags, vals
):
    """The usual layout (a val loss every N steps beside per-step tags) breaks the
    predicted cycle of record lengths once per N steps: every record is still framed
    where it is, and the points are TensorBoard's."""
    from gdei_cli.readers.tensorboard.framing import Framer

    w = tensorboardX.SummaryWriter(str(tmp_path))
    for s in range(3000):
        for t in range(tags):
            w.add_scalar(f"train/t{t}", 1.0 / (1 + s + t), s, walltime=1.7e9 + s)
        if s in val_steps:
            for v in range(vals):
                w.add_scalar(f"val/m{'x' * v}", 2.0 / (1 + s), s, walltime=1.7e9 + s)
    w.close()
    path = event_file(tmp_path)
    assert_same(path, tb.read(path))
    data = path.read_bytes()
    starts, lengths, _, status = Framer(np.frombuffer(data, dtype=np.uint8)).walk(0, len(data))
    assert status == "eof"
    ends = np.concatenate(starts) + 16 + np.concatenate(lengths)
    assert ends.tolist() == record_ends(data)


scalars = st.lists(
    st.tuples(
        st.sampled_from(["loss", "lr", "val/loss", "ü-tag"]),
        st.integers(-(2**40), 2**40),
        st.floats(width=32, allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=2e9),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=scalars)
def test_any_scalar_stream_matches_tensorboard(tmp_path_factory, points):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = tmp_path_factory.mktemp("h") / "events.out.tfevents.1.x"
    with path.open("wb") as fh:
        w = RecordWriter(fh)
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for tag, step, value, wall in points:
            v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
            w.write(
                event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=[v]))
                .SerializeToString()
            )
    assert_same(path, tb.read(path))


# --------------------------------------------------------------------------- runs and restarts


def test_folder_of_event_files_is_one_run(tmp_path):
    tbx_run(tmp_path / "exp" / "a", steps=range(50))
    tbx_run(tmp_path / "exp" / "a", steps=range(50, 80), suffix=".2")
    tbx_run(tmp_path / "exp" / "b", steps=range(10))
    ds = load([tmp_path / "exp"])
    assert list(ds.runs) == ["a", "b"]
    assert len(ds.runs["a"].sources) == 2
    loss = ds.frame[(ds.frame.run == "a") & (ds.frame.metric == "train/loss")]
    assert loss.step.tolist() == list(range(80))


def test_purge_step_discards_earlier_points_across_files(tmp_path):
    run = tmp_path / "run"
    tbx_run(run, steps=range(100), extra=False)
    # resumed from the step-60 checkpoint: SummaryWriter(purge_step=60)
    tbx_run(run, steps=range(60, 90), purge_step=60, extra=False, suffix=".2")
    ds = load([run])
    f = ds.frame
    loss = f[f.metric == "train/loss"]
    assert loss.step.tolist() == list(range(90))
    # points 60..89 come from the second file (their wall times say so)
    assert ds.runs["run"].superseded["train/loss"] == 40
    assert ds.runs["run"].superseded["lr"] == len(range(63, 100, 7))


def test_purge_step_discards_earlier_points_a_resumed_file_never_rewrote(tmp_path):
    """Resumed at step 60 but first logging at 70: the marker alone removes the first
    file's 60..69 (no later point at a step <= theirs supersedes them)."""
    run = tmp_path / "run"
    tbx_run(run, steps=range(100), extra=False)
    tbx_run(run, steps=range(70, 90), purge_step=60, extra=False, suffix=".2")
    f = load([run]).frame
    assert f[f.metric == "train/loss"].step.tolist() == [*range(60), *range(70, 90)]


def test_purge_within_one_file(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = tmp_path / "events.out.tfevents.1.x"

    def scalar(step, value):
        v = summary_pb2.Summary.Value(tag="loss", simple_value=value)
        return event_pb2.Event(wall_time=1.0 + step, step=step, summary=summary_pb2.Summary(value=[v]))

    with path.open("wb") as fh:
        w = RecordWriter(fh)
        for s in range(10):
            w.write(scalar(s, 1.0).SerializeToString())
        start = event_pb2.Event(step=4, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
        w.write(start.SerializeToString())
        for s in range(4, 12):
            w.write(scalar(s, 2.0).SerializeToString())
    ds = load([path])
    f = ds.frame
    assert f.step.tolist() == list(range(12))
    assert f.value.tolist() == [1.0] * 4 + [2.0] * 8
    assert ds.runs[next(iter(ds.runs))].superseded == {"loss": 6}


def test_add_scalars_subfolders_become_metrics_of_the_parent_run(tmp_path):
    w = tensorboardX.SummaryWriter(str(tmp_path / "run"))
    for s in range(20):
        w.add_scalars("loss", {"train": 1.0 / (1 + s), "val": 1.2 / (1 + s)}, s)
        w.add_scalar("lr", 0.1, s)
    w.close()
    ds = load([tmp_path])
    assert list(ds.runs) == ["run"]
    metrics = set(ds.frame.metric.astype(str))
    assert {"loss/train", "loss/val", "lr"} <= metrics


def test_add_hparams_subfolder_joins_its_run(tmp_path):
    w = tensorboardX.SummaryWriter(str(tmp_path / "run"))
    for s in range(20):
        w.add_scalar("train/loss", 1.0 / (1 + s), s)
    w.add_hparams({"lr": 0.01, "optimizer": "adam"}, {"hparam/final_loss": 0.05})
    w.close()
    assert any(p.is_dir() for p in (tmp_path / "run").iterdir())  # <timestamp>/
    ds = load([tmp_path])
    assert list(ds.runs) == ["run"]  # not an extra "no metric" run beside it
    info = ds.runs["run"]
    assert info.attrs["hparam.lr"] == "0.01" and info.attrs["hparam.optimizer"] == "adam"
    assert {"train/loss", "hparam/final_loss"} <= set(ds.frame.metric.astype(str))


# --------------------------------------------------------------------------- damage


@pytest.fixture
def small_file(tmp_path) -> tuple[Path, bytes]:
    tbx_run(tmp_path / "src", steps=range(12), extra=False)
    path = event_file(tmp_path / "src")
    return path, path.read_bytes()


def record_ends(data: bytes) -> list[int]:
    ends, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 16 + n
        if pos <= len(data):
            ends.append(pos)
    return ends


def test_truncation_at_every_byte_keeps_every_complete_record(small_file, tmp_path):
    src, data = small_file
    full = reference_points(src)
    total = sum(map(len, full.values()))
    ends = record_ends(data)
    cut_path = tmp_path / "cut" / "events.out.tfevents.1.cut"
    cut_path.parent.mkdir()
    kept = []
    for cut in range(len(data) + 1):
        cut_path.write_bytes(data[:cut])
        log = tb.read(cut_path)  # a truncated file is never an error: it keeps what is whole
        # every complete record is kept: the count equals the reference on the same bytes
        expected = sum(map(len, reference_points(cut_path).values())) if cut else 0
        assert len(log.frame) == expected, cut
        if cut not in (0, *ends):
            assert any("cut short" in w for w in log.warnings), cut
        kept.append(len(log.frame))
    assert kept == sorted(kept)  # more bytes never lose a point
    assert kept[-1] == total == len(tb.read(src).frame)


def test_payload_crc_mismatch_drops_one_record_and_says_where(small_file, tmp_path):
    _, data = small_file
    ends = record_ends(data)
    start = ends[4]  # the sixth record
    bad = bytearray(data)
    bad[start + 14] ^= 0xFF  # a byte inside its payload
    path = tmp_path / "bad" / "events.out.tfevents.1.bad"
    path.parent.mkdir()
    path.write_bytes(bytes(bad))
    log = tb.read(path)
    good = tb.read(small_file[0])
    assert len(log.frame) == len(good.frame) - 1
    assert any(f"byte {start}" in w and "CRC" in w for w in log.warnings)
    assert [s.offset for s in log.skipped_lines] == [start]


def test_corrupt_length_resumes_at_next_valid_record(small_file, tmp_path):
    _, data = small_file
    ends = record_ends(data)
    start = ends[3]
    bad = bytearray(data)
    bad[start : start + 8] = struct.pack("<Q", 10**12)  # impossible length
    path = tmp_path / "bad" / "events.out.tfevents.1.bad"
    path.parent.mkdir()
    path.write_bytes(bytes(bad))
    log = tb.read(path)
    good = tb.read(small_file[0])
    assert len(log.frame) == len(good.frame) - 1  # only the damaged record is lost
    (msg,) = [w for w in log.warnings if "damaged record" in w]
    assert f"byte {start}" in msg and f"next valid record at byte {ends[4]}" in msg


def test_garbage_in_the_middle_is_skipped(small_file, tmp_path):
    _, data = small_file
    ends = record_ends(data)
    junk = b"\x00\xff" * 37
    path = tmp_path / "g" / "events.out.tfevents.1.g"
    path.parent.mkdir()
    path.write_bytes(data[: ends[5]] + junk + data[ends[5] :])
    log = tb.read(path)
    assert len(log.frame) == len(tb.read(small_file[0]).frame)
    assert any(f"skipped {len(junk)} byte(s)" in w for w in log.warnings)


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e").mkdir()
    empty = tmp_path / "e" / "events.out.tfevents.1.empty"
    empty.write_bytes(b"")
    log = tb.read(empty)
    assert len(log.frame) == 0 and "empty event file" in log.warnings
    w = tensorboardX.SummaryWriter(str(tmp_path / "h"))
    w.close()
    assert len(tb.read(event_file(tmp_path / "h")).frame) == 0


def test_nan_wall_time_and_unknown_fields(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = tmp_path / "events.out.tfevents.1.x"
    with path.open("wb") as fh:
        w = RecordWriter(fh)
        for s in range(5):
            v = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (s + 1))
            ev = event_pb2.Event(wall_time=math.nan, step=s, summary=summary_pb2.Summary(value=[v]))
            w.write(ev.SerializeToString() + b"\xf8\x07\x01")  # unknown field 127 (varint)
    log = tb.read(path)
    assert_same(path, log)
    assert log.frame.wall_time.isna().all()


def test_sample_tensorboard_run_reads(tmp_path):
    from .conftest import SAMPLES

    folders = [p.parent for p in SAMPLES.rglob("events.out.tfevents.*")]
    assert folders, "sample_logs/ holds a TensorBoard run"
    for path in SAMPLES.rglob("events.out.tfevents.*"):
        assert_same(path, tb.read(path))
    shutil.copytree(folders[0], tmp_path / "copy")
    assert len(load([tmp_path / "copy"]).frame) > 0


def test_process_pool_gives_the_same_frame_in_the_same_order(tmp_path, monkeypatch):
    from gdei_cli import assembly as loader

    for i in range(4):
        tbx_run(tmp_path / f"run{i}", steps=range(30 + i), extra=False)
    one = load([tmp_path], jobs=1)
    monkeypatch.setattr(loader, "POOL_MIN_BYTES", 0)
    two = load([tmp_path], jobs=2)
    assert list(two.runs) == list(one.runs) == [f"run{i}" for i in range(4)]
    import pandas as pd

    pd.testing.assert_frame_equal(one.frame, two.frame)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete", "overwrite"]),
            st.floats(min_value=0, max_value=1, exclude_max=True),
            st.binary(min_size=1, max_size=24),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_damaged_files_never_crash_and_never_invent_points(small_file, tmp_path, edits):
    _, data = small_file
    complete = len(tb.read(small_file[0]).frame)
    buf = bytearray(data)
    for kind, where, blob in edits:
        i = int(where * len(buf))
        if kind == "flip":
            buf[i] ^= blob[0] or 1
        elif kind == "insert":
            buf[i:i] = blob
        elif kind == "delete":
            del buf[i : i + len(blob)]
        else:
            buf[i : i + len(blob)] = blob
    path = tmp_path / "fuzz" / "events.out.tfevents.1.fuzz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(bytes(buf))
    log = tb.read(path)  # damage is reported and skipped, never an error or a crash
    assert len(log.frame) <= complete
    if bytes(buf) != data:
        assert log.warnings or len(log.frame) <= complete

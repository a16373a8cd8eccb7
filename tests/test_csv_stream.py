"""A large plain CSV parsed by Arrow straight from the file (``csv._parse_file``):
each log is the one the whole read (bytes first, every check) gives the file, and
any file the stream cannot vouch for goes to the whole read."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdei_cli import assembly
from gdei_cli.errors import InputError
from gdei_cli.readers import csv as csv_reader
from gdei_cli.readers.registry import ReadOptions

from .test_csv_many import _file, _summary


def _both_ways(path, monkeypatch, reader=csv_reader, options=None):
    """*reader*'s outcome (log summary, format and attributes, or the error) with every
    file over 0 bytes streamed, and with none; and whether the stream took it."""
    options = options or ReadOptions()
    streamed = csv_reader._parse_file
    took = []

    def outcome():
        try:
            log = reader.read(path, options)
        except InputError as exc:
            return str(exc)
        return _summary(log), log.format, log.attrs, log.wall_clock

    def watched(*args):
        got = streamed(*args)
        took.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(csv_reader, "STREAM_BYTES", 0)
        m.setattr(csv_reader, "_parse_file", watched)
        first = outcome()
    with monkeypatch.context() as m:
        m.setattr(csv_reader, "_parse_file", lambda *args: None)
        whole = outcome()
    return first, whole, any(took)


#: cells that only a file outside the stream's case holds: not UTF-8, a quoted
#: line end, a header name twice (as a header), a BOM
_STRANGE = st.sampled_from([b"\xff", b"caf\xc3", b'"a\nb"', b'"1,5"', b"\xef\xbb\xbf"])


@st.composite
def _odd_bytes(draw):
    """A file of :func:`~tests.test_csv_many._file`, as bytes, now and then with a
    strange cell or header."""
    _, odd, text = draw(_file())
    data = text.encode()
    if draw(st.booleans()):
        cell = draw(_STRANGE)
        at = draw(st.integers(0, len(data)))
        data = data[:at] + cell + data[at:]
        odd = True
    if draw(st.sampled_from([False] * 5 + [True])):
        data = b"step,step,loss\n" + data.partition(b"\n")[2]
        odd = True
    return odd, data


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(file=_odd_bytes())
def test_a_streamed_file_reads_as_the_whole_read_reads_it(tmp_path, monkeypatch, file):
    """Whatever a file holds (text, huge numbers, NaN and absent cells, ragged rows,
    cut or blank lines, bytes that are not UTF-8, a repeated name), the streamed
    read gives what the whole read gives, message included; and every plain file
    (numbers and names, each line ended) is streamed."""
    odd, data = file
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    streamed, whole, took = _both_ways(path, monkeypatch)
    assert streamed == whole
    if not odd:
        assert took


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("gzip.csv.gz", gzip.compress(b"step,loss\n0,1\n1,2\n")),
        ("cut.csv", b"step,loss\n0,1\n1,2."),  # a last line cut short: dropped
        ("ragged.csv", b"step,loss\n0,1\n1,2,3\n"),  # an error naming line 3
        ("utf8.csv", b"step,note\n0,a\n1,\xff\n"),  # not UTF-8: an error naming line 3
        ("header.csv", b"step,l\xffss\n0,1\n"),
        ("blank.csv", b"\n\n"),
        ("noend.csv", b"step,loss"),  # the header alone, without its line end
    ],
)
def test_files_the_stream_leaves_to_the_whole_read(write, monkeypatch, name, data):
    """gzip, a last line without its end, a rejected row, bytes that are not UTF-8 in
    a cell or the header, no header: the whole read reads the file, with its own
    warnings and errors."""
    streamed, whole, took = _both_ways(write(name, data), monkeypatch)
    assert streamed == whole
    assert not took


def test_a_plain_long_log_is_parsed_with_every_type_known(write):
    """The run and metric names as dictionaries, the step as integers, the values as
    floats, though they are written as integers: Arrow then needs to keep no block
    of its parse to infer types."""
    rows = "".join(f"r{i % 3},{'loss' if i % 2 else 'acc'},{i},{i % 5}\n" for i in range(90000))
    path = write("long.csv", "run,metric,step,value\n" + rows)
    assert path.stat().st_size > csv_reader.STREAM_BYTES
    table, size = csv_reader._parse_file(path, ",", ReadOptions(), None)
    assert size == path.stat().st_size
    text = pa.dictionary(pa.int32(), pa.string())
    assert table.schema.types == [text, text, pa.int64(), pa.float64()]


def test_a_column_that_is_not_numbers_is_left_to_arrow(write, monkeypatch):
    """A column of words, of dates, of booleans, a step written as floats: the parse
    with every type known fails, the one with Arrow's inference streams the file."""
    rows = "".join(
        f"{i}.0,{i / 3},w{i % 4},2024-01-0{1 + i % 9},{i % 2 == 0}\n" for i in range(40000)
    )
    path = write("wide.csv", "step,loss,phase,date,flag\n" + rows)
    assert path.stat().st_size > csv_reader.STREAM_BYTES
    table, _ = csv_reader._parse_file(path, ",", ReadOptions(), None)
    assert table.schema.types == [pa.float64(), pa.float64(), pa.string(), pa.date32(), pa.bool_()]
    streamed, whole, took = _both_ways(path, monkeypatch)
    assert streamed == whole
    assert took


def test_a_line_longer_than_two_blocks_goes_to_the_whole_read(write, monkeypatch):
    """Arrow parses a line of up to two blocks: the stream is only taken under a
    line limit no lower than that (a lower one is the whole read's to check), and
    a longer line fails the stream, for the whole read to parse in larger blocks."""
    block = csv_reader.SMALL_BLOCK
    rows = "".join(f"{i},x\n" for i in range(100000))
    # (a line that starts 0.75 block in and ends before the end of the next block)
    middle = write("middle.csv", f"step,note\n{rows}0,{'7' * (block * 11 // 10)}\n{rows}")
    streamed, whole, took = _both_ways(middle, monkeypatch)
    assert streamed == whole
    assert isinstance(streamed, tuple)
    assert took
    one_block = ReadOptions(max_bytes=256 * block)  # lines of at most one block
    streamed, whole, took = _both_ways(middle, monkeypatch, options=one_block)
    assert streamed == whole
    assert "a line longer than 1 MiB" in streamed
    assert not took
    longer = write("longer.csv", f"step,note\n0,{'7' * (2 * block + 10)}\n1,x\n")
    streamed, whole, took = _both_ways(longer, monkeypatch)
    assert streamed == whole
    assert isinstance(streamed, tuple)
    assert not took


def test_a_file_that_changes_while_it_is_parsed_is_read_again(write, monkeypatch):
    """A file written to during the stream's parse: the whole read reads it again,
    as it then is."""
    path = write("growing.csv", "step,loss\n0,1\n1,2\n")
    parse = csv_reader._parse

    def parse_then_append(*args):
        got = parse(*args)
        with path.open("a") as f:
            f.write("2,3\n")
        return got

    monkeypatch.setattr(csv_reader, "STREAM_BYTES", 0)
    monkeypatch.setattr(csv_reader, "_parse", parse_then_append)
    assert csv_reader._parse_file(path, ",", ReadOptions(), None) is None


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        ("csv", "*/*/*.csv"),
        ("lightning", "lightning_csv/*/metrics.csv"),
        ("keras", "keras_csv/*/training.log"),
        ("ultralytics", "yolo_csv/*/results.csv"),
    ],
)
def test_real_csv_logs_stream_as_they_read_whole(monkeypatch, fmt, pattern):
    """Every real log of each CSV reader that ends in a line end is streamed (a W&B
    export does not), and each gives the log of the whole read."""
    from .conftest import shared_logs

    reader = assembly.get(fmt)
    paths = sorted(shared_logs().glob(pattern))
    assert paths, pattern
    for path in paths:
        streamed, whole, took = _both_ways(path, monkeypatch, reader=reader)
        assert streamed == whole, path
        assert took == path.read_bytes().endswith((b"\n", b"\r")), path

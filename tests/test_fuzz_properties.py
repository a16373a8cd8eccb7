"""Property tests per reader: arbitrary bytes and mutated valid files give a
frame or gdei's own error, never another exception (and never a hang).

The long, coverage-guided version of this is ``make fuzz`` (atheris); these
run a few dozen cases per format on every ``make test``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdei_cli.errors import GdeiError
from gdei_cli.readers.base import RawLog

from .fuzzing import PLACES, pipeline, place, read_one, seeds

FORMATS = sorted(PLACES)
_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


def _check(fmt: str, data: bytes, *, whole: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = place(fmt, data, Path(tmp))
        try:
            got = read_one(fmt, path)
        except GdeiError:
            return
        assert isinstance(got, RawLog)
        if whole:
            pipeline(fmt, path)


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> bytes:
    """A seed file of *fmt* with a few random edits (flip, cut, insert, repeat)."""
    pool = seeds(fmt, shared=False)
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "truncate", "insert", "repeat", "delete"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 200))] * draw(st.integers(1, 50))
        else:
            del data[at : at + 1]
    return bytes(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_arbitrary_bytes_are_a_frame_or_gdeis_error(fmt):
    @_SETTINGS
    @given(data=st.binary(max_size=3000))
    def prop(data: bytes) -> None:
        _check(fmt, data)

    prop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_valid_files_are_a_frame_or_gdeis_error(fmt):
    @_SETTINGS
    @given(data=mutated(fmt))
    def prop(data: bytes) -> None:
        _check(fmt, data)

    prop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_through_the_whole_pipeline(fmt):
    @settings(_SETTINGS, max_examples=6)
    @given(data=mutated(fmt))
    def prop(data: bytes) -> None:
        _check(fmt, data, whole=True)

    prop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_seed_reads_cleanly(fmt):
    for data in seeds(fmt, shared=False):
        with tempfile.TemporaryDirectory() as tmp:
            got = read_one(fmt, place(fmt, data, Path(tmp)))
            assert isinstance(got, RawLog)
            frame = got.frame if got.subruns is None else next(iter(got.subruns.values())).frame
            assert len(frame) > 0, fmt


CRASHES = sorted((Path(__file__).parent / "data" / "fuzz_crashes").iterdir())


@pytest.mark.parametrize("path", CRASHES, ids=[p.name for p in CRASHES])
def test_inputs_the_fuzzer_crashed_on_are_handled(path):
    """Every crash ``make fuzz`` found, kept as named ``<format>-<what it broke>``."""
    fmt = path.name.split("-", 1)[0]
    _check(fmt, path.read_bytes(), whole=True)

"""TensorBoard's own reader as the reference for differential tests."""

from __future__ import annotations

import collections
import struct
from pathlib import Path


def reference_points(path: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every scalar point of an event file, per tag in file order, read by TensorBoard.

    Uses TensorBoard's ``EventFileLoader`` (record framing with CRC checks and
    ``Event`` protos); a tag is a scalar when it holds ``simple_value`` or
    rank-0 numeric tensors whose metadata names the ``scalars`` plugin.
    """
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    seqs: dict[str, list[tuple[int, float, float]]] = collections.defaultdict(list)
    plugins: dict[str, str] = {}
    tensor_tags: set[str] = set()
    simple_tags: set[str] = set()
    for e in EventFileLoader(str(path)).Load():
        if not e.HasField("summary"):
            continue
        for v in e.summary.value:
            if v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
                plugins.setdefault(v.tag, v.metadata.plugin_data.plugin_name)
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                simple_tags.add(v.tag)
                seqs[v.tag].append((e.step, float(v.simple_value), e.wall_time))
            elif kind == "tensor":
                arr = tensor_util.make_ndarray(v.tensor)
                if arr.ndim == 0 and arr.dtype.kind in "fiub":
                    tensor_tags.add(v.tag)
                    seqs[v.tag].append((e.step, float(arr.item()), e.wall_time))
    return {
        t: s for t, s in seqs.items() if t in simple_tags or plugins.get(t) == "scalars"
    }


def gdei_points(log) -> dict[str, list[tuple[int, float, float]]]:
    """The same view of a gdei RawLog (per metric, in file order)."""
    f = log.frame
    out: dict[str, list[tuple[int, float, float]]] = {}
    for tag in f["metric"].cat.categories:
        sub = f[f["metric"] == tag]
        out[str(tag)] = list(zip(sub["step"].tolist(), sub["value"].tolist(), sub["wall_time"].tolist(), strict=True))
    return out


def bits(points: dict[str, list[tuple[int, float, float]]]) -> dict[str, list[tuple[int, bytes, bytes]]]:
    """Points with floats as their exact bytes (NaN payloads included)."""
    return {
        t: [(s, struct.pack("<d", v), struct.pack("<d", w)) for s, v, w in pts]
        for t, pts in points.items()
    }


def assert_same(path: Path, log) -> None:
    ref = bits(reference_points(path))
    got = bits(gdei_points(log))
    assert sorted(got) == sorted(ref)
    for tag in ref:
        assert got[tag] == ref[tag], tag
    assert sum(map(len, ref.values())) == len(log.frame)

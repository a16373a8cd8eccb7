"""The general decoder: protobuf ``Event`` messages, for records no template matches.

Handles ``SessionLog.START`` (restarts), multi-value summaries, tensor
scalars (which count only with the ``scalars`` plugin, remembered per tag),
and the hparams plugin's ``session_start_info`` (run attributes).  Its output
is batched per window: plain Python lists, turned into arrays once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdei_cli.readers.tensorboard.proto import DTYPES, SESSION_START, event_class, hparams_class
from gdei_cli.readers.tensorboard.templates import as_float64


def tensor_scalar(t: Any) -> float | None:
    """The value of a rank-0 numeric TensorProto, or None."""
    if len(t.tensor_shape.dim):
        return None
    dt = DTYPES.get(int(t.dtype))
    if dt is None:
        return None
    if t.tensor_content:
        raw = np.frombuffer(t.tensor_content, dtype=np.uint8)
        size = 2 if dt == "bf16" else np.dtype(dt).itemsize
        if raw.size != size:
            return None
        return float(as_float64(raw[None, :], dt)[0])
    for name in (
        "float_val",
        "double_val",
        "int_val",
        "int64_val",
        "uint32_val",
        "uint64_val",
        "bool_val",
    ):
        vals = getattr(t, name)
        if len(vals) == 1:
            return float(vals[0])
    if len(t.half_val) == 1:
        return float(np.array([t.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


class Tags:
    """Tag codes and what is known of each tag (plugin, simple or tensor values)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.plugins: dict[str, str] = {}
        self.tensor: set[int] = set()
        self.simple: set[int] = set()

    def code(self, tag: str) -> int:
        got = self.codes.get(tag)
        if got is None:
            got = self.codes[tag] = len(self.codes)
        return got


class SlowBatch:
    """Points the general decoder found in one window, as plain lists (made arrays once)."""

    def __init__(self) -> None:
        self.tag: list[int] = []
        self.step: list[int] = []
        self.value: list[float] = []
        self.wall: list[float] = []
        self.rec: list[int] = []

    def __len__(self) -> int:
        return len(self.tag)


def decode_event(
    payload: bytes,
    rec: int,
    tags: Tags,
    batch: SlowBatch,
    purges: list[tuple[int, int]],
    hparams: dict[str, str],
) -> str | None:
    """Decode one record; ``None``, or why it was dropped."""
    from google.protobuf.message import DecodeError

    try:
        ev = event_class().FromString(payload)
    except DecodeError as exc:
        return f"not a valid Event ({exc})"
    if ev.HasField("session_log"):
        if ev.session_log.status == SESSION_START:
            purges.append((rec, int(ev.step)))
        return None
    if not ev.HasField("summary"):
        return None
    step, wall = int(ev.step), float(ev.wall_time)
    for v in ev.summary.value:
        if v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
            tags.plugins.setdefault(v.tag, v.metadata.plugin_data.plugin_name)
            if v.metadata.plugin_data.plugin_name == "hparams":
                _hparams(v.metadata.plugin_data.content, hparams)
        kind = v.WhichOneof("value")
        if kind == "simple_value":
            code = tags.code(v.tag)
            tags.simple.add(code)
            value = float(v.simple_value)
        elif kind == "tensor":
            got = tensor_scalar(v.tensor)
            if got is None:
                continue
            code = tags.code(v.tag)
            tags.tensor.add(code)
            value = got
        else:
            continue
        batch.tag.append(code)
        batch.step.append(step)
        batch.value.append(value)
        batch.wall.append(wall)
        batch.rec.append(rec)
    return None


def _hparams(content: bytes, out: dict[str, str]) -> None:
    """Hyperparameters of an hparams ``session_start_info``, as run attributes."""
    from google.protobuf.message import DecodeError

    try:
        data = hparams_class().FromString(content)
    except DecodeError:
        return
    for entry in data.session_start_info.hparams:
        kind = entry.value.WhichOneof("kind")
        if kind is not None and kind != "null_value":
            value = getattr(entry.value, kind)
            text = f"{value:g}" if isinstance(value, float) else str(value)
            out[entry.key] = text

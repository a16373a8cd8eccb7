"""Write small TF2-style event files (tensor scalars) without TensorFlow.

TF2's ``tf.summary.scalar`` (and Keras, TF Object Detection) store a scalar as
a rank-0 ``TensorProto`` whose ``SummaryMetadata`` names the ``scalars``
plugin.  TensorFlow is too heavy to install for tests, so this script builds
those events with TensorBoard's own protos and writes them with TensorBoard's
own ``RecordWriter`` (the TFRecord framing with masked CRC32C).  Fixed wall
times make the output byte-for-byte reproducible.

Run: python tests/data/make_tf2_events.py  (writes tests/data/tf2_*/)
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scalar_value(tag, value, dtype, encoding, with_metadata):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    t = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto())
    if encoding == "content":
        fmt = {types_pb2.DT_FLOAT: "<f", types_pb2.DT_DOUBLE: "<d", types_pb2.DT_INT64: "<q",
               types_pb2.DT_INT32: "<i", types_pb2.DT_HALF: "<e"}[dtype]
        t.tensor_content = struct.pack(fmt, value)
    elif encoding == "float_val":
        t.float_val.append(value)
    elif encoding == "double_val":
        t.double_val.append(value)
    elif encoding == "int64_val":
        t.int64_val.append(int(value))
    v = summary_pb2.Summary.Value(tag=tag, tensor=t)
    if with_metadata:
        v.metadata.plugin_data.plugin_name = "scalars"
        v.metadata.plugin_data.content = b"\x08\x00"  # a ScalarPluginData proto
    return v


def write(path: Path, events) -> None:
    from tensorboard.summary.writer.record_writer import RecordWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        w = RecordWriter(fh)
        for e in events:
            w.write(e.SerializeToString())
        w.flush()


def main(out: Path = HERE) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2

    t0 = 1_700_000_000.0
    events = [event_pb2.Event(wall_time=t0, file_version="brain.Event:2")]
    specs = [
        ("loss", types_pb2.DT_FLOAT, "content"),
        ("lr", types_pb2.DT_DOUBLE, "content"),
        ("epoch", types_pb2.DT_INT64, "content"),
        ("acc", types_pb2.DT_FLOAT, "float_val"),
        ("wd", types_pb2.DT_DOUBLE, "double_val"),
        ("tokens", types_pb2.DT_INT64, "int64_val"),
        ("half", types_pb2.DT_HALF, "content"),
    ]
    for step in range(0, 300, 3):
        for tag, dtype, enc in specs:
            value = {"loss": 2.0 / (1 + step), "lr": 1e-3 * 0.99**step, "epoch": step // 30,
                     "acc": step / 300, "wd": 1e-4, "tokens": step * 4096, "half": 0.5 + step / 1000}[tag]
            # TF2's writers put the metadata on the first value of a tag only
            v = scalar_value(tag, value, dtype, enc, with_metadata=(step == 0))
            events.append(event_pb2.Event(wall_time=t0 + step * 0.25, step=step,
                                          summary=summary_pb2.Summary(value=[v])))
        if step == 150:
            # an image-plugin tensor and a text summary: not scalars
            img = scalar_value("image_like", 1.0, types_pb2.DT_FLOAT, "content", False)
            img.metadata.plugin_data.plugin_name = "images"
            events.append(event_pb2.Event(wall_time=t0 + 99, step=step,
                                          summary=summary_pb2.Summary(value=[img])))
    write(out / "tf2_tensor_scalars" / "events.out.tfevents.1700000000.gdei-test.1.v2", events)

    # a TF1-style merged summary: several values in one event
    merged = [event_pb2.Event(wall_time=t0, file_version="brain.Event:2")]
    for step in range(50):
        vals = [summary_pb2.Summary.Value(tag=f"m{i}", simple_value=float(i * step)) for i in range(3)]
        merged.append(event_pb2.Event(wall_time=t0 + step, step=step, summary=summary_pb2.Summary(value=vals)))
    write(out / "tf1_merged" / "events.out.tfevents.1700000000.gdei-test.2", merged)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)

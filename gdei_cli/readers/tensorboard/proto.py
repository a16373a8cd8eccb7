"""The slice of TensorBoard's protobuf schema gdei needs, built at run time.

The general (slow-path) decoder uses Google's protobuf library with message
classes made from a descriptor written here, so gdei needs neither TensorFlow
nor TensorBoard.  Field numbers and types follow ``tensorboard/compat/proto``
(``event.proto``, ``summary.proto``, ``tensor.proto``, ``tensor_shape.proto``).
Payloads gdei never looks at (images, histograms, audio, graphs) are declared
as ``bytes``, so protobuf skips over them without decoding them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: DataType enum values (tensorflow/core/framework/types.proto) -> numpy dtype
#: of a tensor's little-endian ``tensor_content``
DTYPES: dict[int, str] = {
    1: "<f4",  # DT_FLOAT
    2: "<f8",  # DT_DOUBLE
    3: "<i4",  # DT_INT32
    4: "u1",  # DT_UINT8
    5: "<i2",  # DT_INT16
    6: "i1",  # DT_INT8
    9: "<i8",  # DT_INT64
    10: "u1",  # DT_BOOL
    14: "bf16",  # DT_BFLOAT16 (upper half of a float32)
    17: "<u2",  # DT_UINT16
    19: "<f2",  # DT_HALF
    22: "<u4",  # DT_UINT32
    23: "<u8",  # DT_UINT64
}

SESSION_START = 1


@cache
def event_class() -> Any:
    """The ``Event`` message class (built once)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "gdei_tensorboard_subset.proto"
    fdp.package = "gdei.tb"
    fdp.syntax = "proto3"
    t = descriptor_pb2.FieldDescriptorProto

    def message(name: str, fields: list[tuple[str, int, int, str | None, bool]]) -> None:
        msg = fdp.message_type.add()
        msg.name = name
        for fname, number, ftype, type_name, repeated in fields:
            f = msg.field.add()
            f.name = fname
            f.number = number
            f.type = ftype
            f.label = t.LABEL_REPEATED if repeated else t.LABEL_OPTIONAL
            if type_name:
                f.type_name = f".gdei.tb.{type_name}"

    message(
        "Dim", [("size", 1, t.TYPE_INT64, None, False), ("name", 2, t.TYPE_STRING, None, False)]
    )
    message(
        "TensorShape",
        [("dim", 2, t.TYPE_MESSAGE, "Dim", True), ("unknown_rank", 3, t.TYPE_BOOL, None, False)],
    )
    message(
        "Tensor",
        [
            ("dtype", 1, t.TYPE_INT32, None, False),
            ("tensor_shape", 2, t.TYPE_MESSAGE, "TensorShape", False),
            ("tensor_content", 4, t.TYPE_BYTES, None, False),
            ("float_val", 5, t.TYPE_FLOAT, None, True),
            ("double_val", 6, t.TYPE_DOUBLE, None, True),
            ("int_val", 7, t.TYPE_INT32, None, True),
            ("int64_val", 10, t.TYPE_INT64, None, True),
            ("bool_val", 11, t.TYPE_BOOL, None, True),
            ("half_val", 13, t.TYPE_INT32, None, True),
            ("uint32_val", 16, t.TYPE_UINT32, None, True),
            ("uint64_val", 17, t.TYPE_UINT64, None, True),
        ],
    )
    message(
        "PluginData",
        [("plugin_name", 1, t.TYPE_STRING, None, False), ("content", 2, t.TYPE_BYTES, None, False)],
    )
    message("Metadata", [("plugin_data", 1, t.TYPE_MESSAGE, "PluginData", False)])
    message(
        "Value",
        [
            ("tag", 1, t.TYPE_STRING, None, False),
            ("simple_value", 2, t.TYPE_FLOAT, None, False),
            ("image", 4, t.TYPE_BYTES, None, False),
            ("histo", 5, t.TYPE_BYTES, None, False),
            ("audio", 6, t.TYPE_BYTES, None, False),
            ("tensor", 8, t.TYPE_MESSAGE, "Tensor", False),
            ("metadata", 9, t.TYPE_MESSAGE, "Metadata", False),
        ],
    )
    # simple_value is a member of a oneof in summary.proto: presence matters
    value = fdp.message_type[-1]
    value.oneof_decl.add().name = "value"
    for f in value.field:
        if f.name in ("simple_value", "image", "histo", "audio", "tensor"):
            f.oneof_index = 0
    message("Summary", [("value", 1, t.TYPE_MESSAGE, "Value", True)])
    message(
        "SessionLog",
        [
            ("status", 1, t.TYPE_INT32, None, False),
            ("checkpoint_path", 2, t.TYPE_STRING, None, False),
            ("msg", 3, t.TYPE_STRING, None, False),
        ],
    )
    message(
        "Event",
        [
            ("wall_time", 1, t.TYPE_DOUBLE, None, False),
            ("step", 2, t.TYPE_INT64, None, False),
            ("file_version", 3, t.TYPE_STRING, None, False),
            ("graph_def", 4, t.TYPE_BYTES, None, False),
            ("summary", 5, t.TYPE_MESSAGE, "Summary", False),
            ("log_message", 6, t.TYPE_BYTES, None, False),
            ("session_log", 7, t.TYPE_MESSAGE, "SessionLog", False),
            ("tagged_run_metadata", 8, t.TYPE_BYTES, None, False),
            ("meta_graph_def", 9, t.TYPE_BYTES, None, False),
        ],
    )
    event = fdp.message_type[-1]
    event.oneof_decl.add().name = "what"
    for f in event.field:
        if f.number >= 3:
            f.oneof_index = 0
    # the hparams plugin's payload (tensorboard/plugins/hparams/plugin_data.proto):
    # session_start_info.hparams is a map<string, google.protobuf.Value>, which
    # on the wire is a repeated (key=1, value=2) entry
    message(
        "StructValue",
        [
            ("null_value", 1, t.TYPE_INT32, None, False),
            ("number_value", 2, t.TYPE_DOUBLE, None, False),
            ("string_value", 3, t.TYPE_STRING, None, False),
            ("bool_value", 4, t.TYPE_BOOL, None, False),
        ],
    )
    sv = fdp.message_type[-1]
    sv.oneof_decl.add().name = "kind"
    for f in sv.field:
        f.oneof_index = 0
    message(
        "HParamEntry",
        [
            ("key", 1, t.TYPE_STRING, None, False),
            ("value", 2, t.TYPE_MESSAGE, "StructValue", False),
        ],
    )
    message(
        "SessionStartInfo",
        [
            ("hparams", 1, t.TYPE_MESSAGE, "HParamEntry", True),
            ("group_name", 4, t.TYPE_STRING, None, False),
            ("start_time_secs", 5, t.TYPE_DOUBLE, None, False),
        ],
    )
    message(
        "HParamsPluginData",
        [
            ("version", 1, t.TYPE_INT32, None, False),
            ("session_start_info", 3, t.TYPE_MESSAGE, "SessionStartInfo", False),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    _classes["hparams"] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("gdei.tb.HParamsPluginData")
    )
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("gdei.tb.Event"))


_classes: dict[str, Any] = {}


@cache
def hparams_class() -> Any:
    """The hparams plugin's ``HParamsPluginData`` message class."""
    event_class()
    return _classes["hparams"]

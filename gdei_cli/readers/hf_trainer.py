"""Hugging Face ``Trainer`` state: ``trainer_state.json`` (a JSON document).

``log_history`` holds train entries (``loss``, ``grad_norm``,
``learning_rate``, ``epoch``, ``step``), eval entries (``eval_*``) and a final
summary entry (``train_runtime``, ``train_loss``, ``total_flos``...), which is
not a metric point and is left out.  Entries carry no timestamps: when the
summary gives ``train_runtime``, wall-clock per step is *derived* as
``step / global_step * train_runtime`` seconds since the start (evaluation
time included, spread evenly), and the run says so.  ``best_metric``,
``best_model_checkpoint``, ``best_global_step``, ``max_steps``,
``global_step``, an early-stopping callback's state and the trainer's
``should_training_stop`` flag become run attributes (the engine's framework
evidence).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import read_bytes
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

NAME: Final = "hf_trainer"
SUMMARY_KEYS: Final = frozenset({"train_runtime", "train_samples_per_second", "total_flos"})


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """Read a ``trainer_state.json`` into a :class:`RawLog`."""
    import numpy as np

    from gdei_cli.readers._json import records_to_raw

    options = options or ReadOptions()
    warnings: list[str] = []
    data = read_bytes(path, warnings, max_bytes=options.max_bytes, lines=False)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not a valid trainer_state.json: {exc.msg}", path=path, line=exc.lineno
        ) from None
    except RecursionError:
        raise InputError("not a valid trainer_state.json: nested too deeply", path=path) from None
    except ValueError as exc:
        raise InputError(f"not a valid trainer_state.json: {exc}", path=path) from None
    history = doc.get("log_history") if isinstance(doc, dict) else None
    if not isinstance(history, list):
        raise InputError("trainer_state.json has no log_history list", path=path)
    entries = [e for e in history if isinstance(e, dict)]
    summary = [e for e in entries if SUMMARY_KEYS & e.keys()]
    points = [e for e in entries if not (SUMMARY_KEYS & e.keys())]
    log = records_to_raw(path, NAME, points, list(range(1, len(points) + 1)), [], warnings)
    runtime = next((e.get("train_runtime") for e in summary if "train_runtime" in e), None)
    steps = [e["step"] for e in entries if type(e.get("step")) in (int, float)]
    last = doc.get("global_step")
    if type(last) not in (int, float) or not last:
        last = max(steps, default=0)
    if isinstance(runtime, (int, float)) and last:
        frame = log.frame
        frame["wall_time"] = frame["step"].to_numpy(dtype=np.float64) / float(last) * runtime
        log.wall_clock = "derived"
    attrs: dict[str, Any] = {
        k: doc[k]
        for k in (
            "best_metric",
            "best_model_checkpoint",
            "best_global_step",
            "max_steps",
            "num_train_epochs",
        )
        if doc.get(k) is not None
    }
    if isinstance(doc.get("global_step"), int):
        attrs["global_step"] = doc["global_step"]
    callbacks = doc.get("stateful_callbacks") or {}
    early = callbacks.get("EarlyStoppingCallback") if isinstance(callbacks, dict) else None
    if early:
        attrs["early_stopping"] = json.dumps(early, sort_keys=True)
    control = callbacks.get("TrainerControl") if isinstance(callbacks, dict) else None
    if isinstance(control, dict) and isinstance(control.get("args"), dict):
        stop = control["args"].get("should_training_stop")
        if isinstance(stop, bool):
            attrs["should_training_stop"] = stop
    for e in summary:
        for k in ("train_runtime", "train_loss"):
            if k in e:
                attrs[k] = e[k]
    log.attrs = {k: str(v) for k, v in attrs.items()}
    return log


FORMAT: Final = Format(
    name=NAME,
    description="Hugging Face `trainer_state.json`",
    read=read,
    recognise=lambda s: s.name == "trainer_state.json",
    order=2,
    generic_names=frozenset({"trainer_state"}),
    run_doc="its folder",
    metric_doc="`loss` (objective: `metric_for_best_model`)",
)

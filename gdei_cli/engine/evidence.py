"""What the framework itself recorded about a run: plan, status, its own best and stop.

Readers keep framework facts as run attributes (strings); this module turns
them into :class:`Evidence`, in the run's own step units, without any I/O:

* Hugging Face ``trainer_state.json``: ``max_steps`` (the plan),
  ``best_global_step`` / ``best_model_checkpoint`` and ``best_metric``,
  ``EarlyStoppingCallback`` state (did it stop the run?);
* Ultralytics ``args.yaml``: ``epochs`` (the plan) and ``patience``;
* MMDetection's config line: ``max_epochs`` / ``total_epochs`` (the plan);
* MLflow: the run ``status`` (``FAILED``/``KILLED`` ended early) and an
  ``epochs`` parameter (the plan, Keras autolog writes it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """A run's framework facts, in its own step units (``None``: not recorded)."""

    framework: str | None = None
    planned_last_step: float | None = None
    plan: str = ""  # how the plan was recorded, e.g. "max_steps 400"
    ended_early_status: str | None = None  # e.g. "MLflow status KILLED"
    best_step: float | None = None
    best_metric: float | None = None
    early_stopped: bool = False  # the framework stopped the run itself
    patience: float | None = None  # in evaluations


NONE = Evidence()


def _num(attrs: Mapping[str, str], key: str) -> float | None:
    raw = attrs.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def from_attrs(fmt: str, attrs: Mapping[str, str], first_step: float, last_step: float) -> Evidence:
    """The evidence of one run, from its format and attributes."""
    if fmt == "hf_trainer":
        return _hf(attrs, last_step)
    if fmt == "ultralytics":
        return _ultralytics(attrs, first_step, last_step)
    if fmt == "mmdet":
        return _mmdet(attrs)
    if fmt == "mlflow":
        return _mlflow(attrs, last_step)
    return NONE


def _hf(attrs: Mapping[str, str], last_step: float) -> Evidence:
    best_step = _num(attrs, "best_global_step")
    ckpt = attrs.get("best_model_checkpoint") or ""
    m = re.search(r"checkpoint-(\d+)\s*$", ckpt)
    if best_step is None and m:
        best_step = float(m.group(1))
    max_steps = _num(attrs, "max_steps")
    early = False
    patience = None
    raw = attrs.get("early_stopping")
    if raw:
        try:
            state = json.loads(raw)
            counter = state.get("attributes", {}).get("early_stopping_patience_counter")
            patience = state.get("args", {}).get("early_stopping_patience")
            early = (
                isinstance(counter, int | float)
                and isinstance(patience, int | float)
                and counter >= patience
            )
        except (ValueError, AttributeError):
            pass
    stop_flag = attrs.get("should_training_stop") == "True"
    if stop_flag and max_steps is not None and last_step < max_steps - 1:
        early = True
    return Evidence(
        framework="Hugging Face Trainer",
        planned_last_step=max_steps,
        plan=f"max_steps {max_steps:g}" if max_steps is not None else "",
        best_step=best_step,
        best_metric=_num(attrs, "best_metric"),
        early_stopped=early,
        patience=float(patience) if isinstance(patience, int | float) else None,
    )


def _ultralytics(attrs: Mapping[str, str], first_step: float, last_step: float) -> Evidence:
    epochs = _num(attrs, "epochs")
    patience = _num(attrs, "patience")
    planned = None
    if epochs is not None:
        planned = epochs - 1 + (1 if first_step >= 1 else 0)  # 1-based epochs since 8.1
    # whether its patience stopped it depends on where fitness was best: the
    # engine decides (see ``patience_stopped``)
    return Evidence(
        framework="Ultralytics",
        planned_last_step=planned,
        plan=f"epochs {epochs:g}" if epochs is not None else "",
        patience=patience,
    )


def patience_stopped(ev: Evidence, best_step: float, last_step: float) -> bool:
    """Ultralytics stops a run when ``patience`` epochs passed without a better fitness."""
    if ev.framework != "Ultralytics" or ev.patience is None or ev.planned_last_step is None:
        return ev.early_stopped
    return bool(last_step < ev.planned_last_step and last_step - best_step >= ev.patience)


def _mmdet(attrs: Mapping[str, str]) -> Evidence:
    epochs = _num(attrs, "max_epochs")
    per = _num(attrs, "iters_per_epoch")
    planned = epochs * per if epochs is not None and per is not None else None
    return Evidence(
        framework="MMDetection",
        planned_last_step=planned,
        plan=f"max_epochs {epochs:g}" if epochs is not None else "",
    )


def _mlflow(attrs: Mapping[str, str], last_step: float) -> Evidence:
    status = attrs.get("status")
    ended = f"MLflow status {status}" if status in ("FAILED", "KILLED") else None
    planned = None
    plan = ""
    for key in ("param.epochs", "param.num_epochs", "param.max_epochs"):
        epochs = _num(attrs, key)
        # an epoch count is a plan only where the steps are epochs
        if epochs is not None and epochs >= 1 and last_step < 2 * epochs:
            planned, plan = epochs - 1, f"{key[6:]} {epochs:g}"
            break
    return Evidence(
        framework="MLflow",
        planned_last_step=planned,
        plan=plan,
        ended_early_status=ended,
    )

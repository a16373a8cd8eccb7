"""Which series of a run gdei reads: its training loss, its objective, their direction.

* The **training loss** carries the index: ``--metric``, else the first of
  :data:`DEFAULT_LOSS_NAMES`, else the sum of the run's ``train/*_loss``
  components (Ultralytics writes no total), else, for a run with a single
  usable metric, that metric.
* The **objective** says whether the model got better: ``--objective``, else
  the framework's own (Hugging Face's ``metric_for_best_model``, recovered
  from ``best_metric``; Ultralytics' fitness ``0.1*mAP50 + 0.9*mAP50-95``),
  else a validation loss, else a validation score (mAP, accuracy...), else
  an episode reward (reinforcement learning), else the training loss.
* **Direction**: by name (:data:`MAX_WORDS`, :data:`MIN_WORDS`), else the way
  the series moved over the run (a score rises, a loss falls).

Everything here works on metric *names* (a few per run), never on points,
except the two look-ups that need values (the framework's best metric, and
the direction of an unknown name).
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from gdei_cli.config import Mode
from gdei_cli.errors import UsageError

#: training-loss names tried, in order, when no ``--metric`` is given
DEFAULT_LOSS_NAMES: Final = (
    "loss",
    "train/loss",
    "train_loss",
    "training_loss",
    "total_loss",
    "train/total_loss",
    "loss/train",
    "Loss/train",
    "train/loss_step",
    "train_loss_step",
    "Loss/total_loss",
    "train/loss_epoch",
    "train_loss_epoch",
    "epoch_loss",
    "trl",
)

#: validation-loss names tried first, in order (then any name with a
#: validation marker and the word "loss")
VALIDATION_LOSS_NAMES: Final = (
    "val_loss",
    "val/loss",
    "loss/val",
    "Loss/val",
    "validation_loss",
    "validation/loss",
    "loss/validation",
    "Loss/validation",
    "valid_loss",
    "valid/loss",
    "eval_loss",
    "eval/loss",
    "val_loss_epoch",
    "val/total_loss",
    "perf/val_loss",
    "epoch_val_loss",
    "tel",
    "test_loss",
    "test/loss",
)

VAL_MARKERS: Final = frozenset({"val", "valid", "validation", "eval", "evaluation", "dev"})
TEST_MARKERS: Final = frozenset({"test"})
#: words (a token, optionally followed by digits) of metrics where higher is better
MAX_WORDS: Final = (
    "acc", "accuracy", "top", "auc", "auroc", "f1", "fscore", "map", "ap", "precision",
    "recall", "iou", "miou", "dice", "bleu", "rouge", "rougel", "ssim", "psnr", "r2",
    "fitness", "kappa", "mcc", "spearman", "pearson", "em", "score", "reward", "rew",
    "return", "success",
)  # fmt: skip
#: words of metrics where lower is better (these win over MAX_WORDS)
MIN_WORDS: Final = (
    "loss", "wer", "cer", "perplexity", "ppl", "mse", "mae", "rmse", "error", "err", "nll",
    "bpb", "bpc", "fid", "lpips", "tel", "trl",
)  # fmt: skip
#: learning-rate series, for the schedule check
LR_NAMES: Final = ("lr", "learning_rate", "lr-Adam", "lr-AdamW", "lr-SGD", "lr/pg0", "lr_0")

_TOKEN = re.compile(r"[^a-z0-9]+")
_MAX_RE = re.compile(r"^(?:" + "|".join(MAX_WORDS) + r")\d*$")
_MIN_RE = re.compile(r"^(?:" + "|".join(MIN_WORDS) + r")\d*$")

#: derived series: name -> (component, weight) pairs summed at common steps
ULTRALYTICS_FITNESS: Final = "fitness"
LOSS_SUM_PREFIX: Final = "sum of "


def tokens(name: str) -> list[str]:
    return [t for t in _TOKEN.split(name.lower()) if t]


@functools.lru_cache(maxsize=4096)
def direction_by_name(name: str) -> Mode | None:
    """``MIN``/``MAX`` when the name says so, else ``None``."""
    toks = tokens(name)
    if any(_MIN_RE.match(t) for t in toks):
        return Mode.MIN
    if any(_MAX_RE.match(t) for t in toks):
        return Mode.MAX
    return None


def direction_by_values(values: np.ndarray) -> Mode:
    """A score rises over a run, a loss falls: compare the first value with the median."""
    v = values[np.isfinite(values)]
    if v.size < 2:
        return Mode.MIN
    return Mode.MAX if float(np.median(v)) > float(v[0]) else Mode.MIN


def is_lr(name: str) -> bool:
    toks = tokens(name)
    return name in LR_NAMES or (bool(toks) and toks[0] in ("lr", "learning"))


@dataclass(frozen=True)
class Derived:
    """A series computed from others: sum of weight * component at common steps."""

    name: str
    parts: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Pick:
    """What one run is judged on."""

    loss: str | Derived
    objective: str | Derived
    objective_mode: Mode | None  # None: decide from the values
    objective_source: str  # how the objective was chosen, for the reason
    note: str = ""


def _match(names: list[str], pattern: str, option: str, run: str) -> str | None:
    if pattern in names:
        return pattern
    hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if len(hits) > 1:
        raise UsageError(
            f"{option} {pattern!r} matches {len(hits)} metrics of run {run}: " + ", ".join(hits),
            hint=f"pass one name to {option}",
        )
    return hits[0] if hits else None


def _val_marked(name: str, markers: frozenset[str]) -> bool:
    return any(t in markers for t in tokens(name))


def default_loss(names: list[str]) -> str | Derived | None:
    present = set(names)
    hit = next((n for n in DEFAULT_LOSS_NAMES if n in present), None)
    if hit is not None:
        return hit
    parts = sorted(
        n
        for n in names
        if re.fullmatch(r"train[/_][A-Za-z0-9]+_loss", n) and not _val_marked(n, VAL_MARKERS)
    )
    if len(parts) >= 2:
        return Derived(LOSS_SUM_PREFIX + "train/*_loss", tuple((p, 1.0) for p in parts))
    # a log of one metric (a chart export, say): that metric
    usable = [n for n in names if tokens(n) not in (["epoch"], ["step"])]
    return usable[0] if len(usable) == 1 and not is_lr(usable[0]) else None


def validation_loss(names: list[str]) -> str | None:
    present = set(names)
    hit = next((n for n in VALIDATION_LOSS_NAMES if n in present), None)
    if hit is not None:
        return hit
    for markers in (VAL_MARKERS, TEST_MARKERS):
        cands = [n for n in names if _val_marked(n, markers) and "loss" in tokens(n)]
        if cands:
            return min(cands, key=lambda n: (len(tokens(n)), len(n), n))
    return None


def _score_rank(name: str) -> tuple[int, int, str]:
    toks = tokens(name)
    if name in ("bbox_mAP", "segm_mAP", "mAP", "map"):
        kind = 0
    elif any(t.startswith("map") for t in toks):
        kind = 1
    elif any(re.match(r"^(acc|accuracy|top)\d*$", t) for t in toks):
        kind = 2
    else:
        kind = 3
    return kind, len(name), name


def validation_score(names: list[str]) -> str | None:
    """A held-out score: a validation-marked metric of known direction, or an mAP."""
    cands = [
        n
        for n in names
        if (_val_marked(n, VAL_MARKERS) and direction_by_name(n) is not None)
        or (any(t.startswith("map") for t in tokens(n)) and direction_by_name(n) is Mode.MAX)
    ]
    if not cands:
        cands = [
            n
            for n in names
            if _val_marked(n, VAL_MARKERS | TEST_MARKERS)
            and not is_lr(n)
            and direction_by_name(n) is None
            and "runtime" not in tokens(n)
            and not {"per", "second", "samples", "steps"} & set(tokens(n))
        ]
    return min(cands, key=_score_rank) if cands else None


def episode_reward(names: list[str]) -> str | None:
    """A reinforcement-learning run's reward: what gets better as the policy learns."""
    ranked = ("eval/mean_reward", "rollout/ep_rew_mean", "episode_reward", "reward")
    hit = next((n for n in ranked if n in names), None)
    if hit is not None:
        return hit
    cands = [n for n in names if {"reward", "rew", "return"} & set(tokens(n))]
    return min(cands, key=lambda n: (len(n), n)) if cands else None


def ultralytics_fitness(names: list[str]) -> Derived | None:
    present = set(names)
    parts: list[tuple[str, float]] = []
    for kind in ("B", "M"):
        m50, m5095 = f"metrics/mAP50({kind})", f"metrics/mAP50-95({kind})"
        if m50 in present and m5095 in present:
            parts += [(m50, 0.1), (m5095, 0.9)]
    return Derived(ULTRALYTICS_FITNESS, tuple(parts)) if parts else None


def pick(
    run: str,
    names: list[str],
    *,
    metric: str | None,
    objective: str | None,
    mode: Mode,
    framework_objective: str | None = None,
) -> Pick | None:
    """The series one run is judged on (``None``: the run has no usable loss)."""
    names = sorted(names)
    loss: str | Derived | None
    loss = _match(names, metric, "--metric", run) if metric else default_loss(names)
    forced = None if mode is Mode.AUTO else mode
    obj: str | Derived | None = None
    source = ""
    if objective:
        obj = _match(names, objective, "--objective", run)
        source = "--objective"
        if obj is None:
            return (
                None
                if loss is None
                else Pick(
                    loss,
                    loss,
                    forced,
                    "training loss",
                    note=f"no {objective!r}: judged on the loss",
                )
            )
    elif framework_objective and framework_objective in names:
        obj, source = framework_objective, "the framework's metric_for_best_model"
    elif (fit := ultralytics_fitness(names)) is not None:
        obj, source = fit, "Ultralytics fitness (0.1 mAP50 + 0.9 mAP50-95)"
    elif (vl := validation_loss(names)) is not None:
        obj, source = vl, "validation loss"
    elif (vs := validation_score(names)) is not None:
        obj, source = vs, "validation score"
    elif (rw := episode_reward(names)) is not None:
        obj, source = rw, "episode reward"
    if loss is None:
        if obj is None or metric:
            return None
        loss, note = obj, "no training loss: the index is computed on the objective"
        return Pick(loss, obj, forced, source, note=note)
    if obj is None:
        obj, source = loss, "training loss"
    return Pick(loss, obj, forced, source)


def resolve_mode(name: str, forced: Mode | None, values: np.ndarray) -> Mode:
    if forced is not None:
        return forced
    if name == ULTRALYTICS_FITNESS:
        return Mode.MAX
    return direction_by_name(name) or direction_by_values(values)


def ceiling(values: np.ndarray) -> float:
    """The ``B`` of a maximised metric's loss-like form ``B - value``.

    1 for metrics within [0, 1], 100 within [0, 100], else the next power of
    ten above the largest value; multiplying a metric by 1000 multiplies
    ``B`` by 1000 too, so the rule stays free of units.
    """
    v = values[np.isfinite(values)]
    top = float(np.max(np.abs(v))) if v.size else 1.0
    if top <= 1.0:
        return 1.0
    if top <= 100.0:
        return 100.0
    return float(10.0 ** math.ceil(math.log10(top) + 1e-12))


def hf_objective(attrs: Mapping[str, str], values_at: dict[str, float]) -> str | None:
    """Hugging Face's ``metric_for_best_model``: the eval metric equal to ``best_metric``.

    *values_at* maps each eval metric to its value at the best step.
    """
    try:
        best = float(attrs["best_metric"])
    except (KeyError, ValueError):
        return None
    hits = [k for k, v in values_at.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=0)]
    if len(hits) == 1:
        return hits[0]
    if "eval_loss" in hits:
        return "eval_loss"
    return None


def name_list(names: list[str], limit: int = 12) -> str:
    """``a, b, c`` for a sentence: at most *limit* names, then how many more."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit:,} more"

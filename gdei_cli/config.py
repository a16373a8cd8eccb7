"""What the engine is asked: how to smooth, which rule, what counts as improvement, costs.

Importable without pandas or numpy (``gdei --help`` reads its defaults here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from gdei_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np


class Verdict(StrEnum):
    """What gdei concludes about a run (the JSON ``verdict`` values)."""

    STILL_IMPROVING = "still improving"
    EFFICIENT = "efficient"
    WASTEFUL = "wasteful"
    OVER_FITTING = "over-fitting"
    DIVERGED = "diverged"
    INDEX_UNDEFINED = "index undefined"
    NO_METRIC = "no metric"


class Rule(StrEnum):
    """How the stop is found."""

    #: the earliest step after which the objective never again improved by
    #: more than the tolerance (needs the whole run: for finished runs)
    HINDSIGHT = "hindsight"
    #: the paper-style plateau rule a live run could have applied: the first
    #: step where the index gained less than ``threshold`` over ``window``
    LIVE = "live"


class Mode(StrEnum):
    """Direction of the objective."""

    AUTO = "auto"
    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Span:
    """A length in steps, or as a percentage of each run's length."""

    amount: float
    percent: bool

    @classmethod
    def parse(cls, text: str | float | int, *, name: str) -> Span:
        """``"10%"`` or ``"400"``; *name* is the parameter, for the error message."""
        raw = str(text).strip()
        try:
            if raw.endswith("%"):
                amount = float(raw[:-1])
                if not 0 < amount <= 100:
                    raise ValueError
                return cls(amount, True)
            amount = float(raw)
            if not (amount > 0 and math.isfinite(amount)):
                raise ValueError
            return cls(amount, False)
        except ValueError:
            raise UsageError(
                f"{name} must be a positive number of steps or a percentage in (0, 100], "
                f"like 10%; got {raw!r}"
            ) from None

    def steps(self, run_length: np.ndarray) -> np.ndarray:
        """This span in steps, for runs of the given lengths."""
        import numpy as np

        if self.percent:
            return np.asarray(run_length, dtype=np.float64) * (self.amount / 100.0)
        return np.full(np.shape(run_length), self.amount, dtype=np.float64)

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.percent else f"{self.amount:g}"


#: defaults, chosen on the labelled corpus (``make eval``; see the README)
DEFAULT_TOLERANCE: Final = 0.5
DEFAULT_END_WINDOW: Final = 5.0
DEFAULT_EFFICIENT_WASTE: Final = 10.0


@dataclass(frozen=True)
class Config:
    """How the index is computed and how a run is judged.

    * ``smoothing``: TensorBoard's EMA weight in [0, 1); ``None`` ("auto")
      gives each series an EMA spanning 1% of its points (none under 200).
    * ``rule``: ``hindsight`` (default) or ``live``.
    * ``tolerance``: index points (1 point = 1% of a series' first value): an
      objective change smaller than this is not an improvement.
    * ``end_window``: percent of the run at its end; an improvement there
      means the run was still improving.
    * ``efficient_waste``: percent of the run after the stop up to which a
      finished run is efficient rather than wasteful.
    * ``window``, ``threshold``, ``warmup``: the live rule (the index gained
      less than ``threshold`` points over ``window``, after ``warmup``).
    """

    smoothing: float | None = None
    rule: Rule = Rule.HINDSIGHT
    tolerance: float = DEFAULT_TOLERANCE
    end_window: float = DEFAULT_END_WINDOW
    efficient_waste: float = DEFAULT_EFFICIENT_WASTE
    window: Span = Span(10.0, True)
    threshold: float = 1.0
    warmup: Span = Span(10.0, True)
    mode: Mode = Mode.AUTO

    def __post_init__(self) -> None:
        if self.smoothing is not None and not (
            math.isfinite(self.smoothing) and 0 <= self.smoothing < 1
        ):
            raise UsageError(f"smoothing must be in [0, 1), got {self.smoothing}")
        try:
            object.__setattr__(self, "rule", Rule(self.rule))
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for name in ("tolerance", "threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a number >= 0, got {value}")
        for name in ("end_window", "efficient_waste"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value < 100):
                raise UsageError(f"{name} must be a percentage in (0, 100), got {value}")


@dataclass(frozen=True)
class Costs:
    """What a step and a GPU-hour cost, for the savings columns."""

    gpus: float = 1.0
    gpu_hour_cost: float | None = None
    seconds_per_step: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gpus) and self.gpus > 0):
            raise UsageError(f"gpus must be > 0, got {self.gpus}")
        for name in ("gpu_hour_cost", "seconds_per_step"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a number >= 0, got {value}")

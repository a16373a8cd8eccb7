"""Stable-Baselines3's CSV logger: ``progress.csv``.

One row per logger dump, columns named ``<group>/<key>`` (``rollout/``,
``time/``, ``train/``, ``eval/``); the step is ``time/total_timesteps`` (the
environment steps), not the row.  ``EvalCallback`` rows carry only
``eval/*`` (and the timestep), other rows leave ``eval/*`` empty.  The run's
objective is its evaluation reward (``eval/mean_reward``) or, without one,
the training episodes' reward (``rollout/ep_rew_mean``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import csv
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

STEP: Final = "time/total_timesteps"


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    log = csv.read(path, options, step_names=(STEP,))
    log.format = FORMAT.name
    return log


def _recognise(s: Sniff) -> bool:
    return s.is_csv and s.name.startswith("progress.") and STEP in s.header


FORMAT: Final = Format(
    name="sb3",
    description="Stable-Baselines3 `progress.csv` (`time/total_timesteps` steps)",
    read=read,
    recognise=_recognise,
    order=14,
    generic_names=frozenset({"progress"}),
    run_doc="its folder",
    metric_doc="`train/loss` (objective: `eval/mean_reward`, `rollout/ep_rew_mean`)",
)

"""``make eval``: gdei's verdicts against runs whose truth is known.

Two labelled sets, analysed as a user would (``gdei analyze FOLDER``, defaults):

* ``tests/data/eval/``: small real training runs written by real writer
  libraries, labelled from each training loop's own record
  (``tests/data/eval_scenarios.py``, ``labels.json``);
* ``../shared/real_logs/``: genuine public logs, labelled in
  ``tests/data/real_logs_truth.json`` from their ``SOURCES.md``.

A verdict is right when it is the label's verdict (or its stated
alternative), the stop lies within the label's bounds where it gives them,
and a run labelled cut short is flagged so.  Prints one row per run and
``N/M right``; ``--set KEY=VALUE`` overrides a :class:`~gdei_cli.Config`
field (for choosing defaults); ``--sweep`` prints the score over a grid.

Run: ``python -m tests.eval_corpus [--sweep] [--set tolerance=0.5 ...]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "eval"
SHARED = REPO.parent / "shared" / "real_logs"
REAL_TRUTH = REPO / "tests" / "data" / "real_logs_truth.json"


@dataclass
class Row:
    run: str
    truth: str
    verdict: str
    stop: float
    right: bool
    why: str


def labelled_sets() -> list[tuple[str, Path, dict[str, Any]]]:
    sets = [("writers", CORPUS, json.loads((CORPUS / "labels.json").read_text()))]
    if SHARED.is_dir():
        truth = json.loads(REAL_TRUTH.read_text())
        truth.pop("_about", None)
        sets.append(("real", SHARED, truth))
    return sets


def load_sets() -> list[tuple[str, Any, dict[str, Any]]]:
    from gdei_cli.loader import load

    return [(name, load([root]), labels) for name, root, labels in labelled_sets()]


def judge_row(run: str, label: dict[str, Any], rec: dict[str, Any] | None) -> Row:
    """Right: an accepted verdict, the stop within the label's bounds (give or take 1% of
    the run, for smoothing and for snapping to logged steps), cut short where labelled."""
    if rec is None:
        return Row(run, label["truth"], "(missing)", math.nan, False, "gdei reported no such run")
    verdict = str(rec["verdict"])
    stop = float(rec["stop_step"]) if rec["stop_step"] is not None else math.nan
    accepted = {label["truth"], *label.get("also", [])}
    why = []
    if verdict not in accepted:
        why.append(f"verdict {verdict}")
    lo, hi = label.get("stop_min"), label.get("stop_max")
    if rec["first_step"] is not None and rec["last_step"] is not None:
        slack = 0.01 * (float(rec["last_step"]) - float(rec["first_step"]))
        lo = None if lo is None else lo - slack
        hi = None if hi is None else hi + slack
    if verdict in accepted and verdict not in ("diverged", "index undefined", "no metric"):
        if lo is not None and not stop >= lo:
            why.append(f"stop {stop:g} < {lo:g}")
        if hi is not None and verdict != "still improving" and not stop <= hi:
            why.append(f"stop {stop:g} > {hi:g}")
    if label.get("cut_short") and not rec.get("cut_short"):
        why.append("not flagged cut short")
    return Row(run, label["truth"], verdict, stop, not why, "; ".join(why))


def evaluate(loaded: list[tuple[str, Any, dict[str, Any]]], config: Any) -> list[Row]:
    from gdei_cli.engine import analyze

    rows: list[Row] = []
    for _name, data, labels in loaded:
        a = analyze(
            data.frame,
            config=config,
            attrs={r: i.attrs for r, i in data.runs.items()},
            formats={r: i.format for r, i in data.runs.items()},
        )
        recs = {str(r["run"]): r for r in a.summary.to_dict("records")}
        for run, label in sorted(labels.items()):
            rec = recs.get(run)
            if rec is not None:
                rec = {k: (None if _missing(v) else v) for k, v in rec.items()}
            rows.append(judge_row(run, label, rec))
    return rows


def _missing(v: Any) -> bool:
    import pandas as pd

    return bool(v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))


def print_table(rows: list[Row]) -> None:
    width = max(len(r.run) for r in rows)
    width = min(width, 70)
    print(f"{'run':<{width}} | {'truth':<15} | {'verdict':<15} | {'stop':>9} | right?")
    print("-" * (width + 58))
    for r in rows:
        name = r.run if len(r.run) <= width else "…" + r.run[-(width - 1) :]
        stop = "—" if math.isnan(r.stop) else f"{r.stop:,.0f}"
        mark = "yes" if r.right else f"NO ({r.why})"
        print(f"{name:<{width}} | {r.truth:<15} | {r.verdict:<15} | {stop:>9} | {mark}")
    good = sum(r.right for r in rows)
    print(f"\n{good}/{len(rows)} right")


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            out[key] = float(raw)
        except ValueError:
            out[key] = raw
    return out


def main(argv: list[str] | None = None) -> int:
    from gdei_cli.engine import Config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], help="Config field=value")
    ap.add_argument("--sweep", action="store_true", help="score a grid of defaults")
    args = ap.parse_args(argv)
    loaded = load_sets()
    base = replace(Config(), **parse_sets(args.set))
    if args.sweep:
        grid = {
            "tolerance": (0.1, 0.25, 0.5, 1.0, 2.0),
            "end_window": (5.0, 10.0, 20.0),
            "efficient_waste": (10.0, 20.0),
        }
        for combo in itertools.product(*grid.values()):
            cfg = replace(base, **dict(zip(grid, combo, strict=True)))
            rows = evaluate(loaded, cfg)
            good = sum(r.right for r in rows)
            print(" ".join(f"{k}={v:g}" for k, v in zip(grid, combo, strict=True)),
                  f"-> {good}/{len(rows)}", flush=True)
        return 0
    rows = evaluate(loaded, base)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

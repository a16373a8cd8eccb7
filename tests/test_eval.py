"""The labelled corpus (``make eval``): gdei's verdicts against known truth."""

from __future__ import annotations

import json
import os

import pytest

from tests import eval_corpus

from .conftest import SHARED, shared_logs


@pytest.fixture(scope="module")
def rows():
    from gdei_cli.engine import Config

    return eval_corpus.evaluate(eval_corpus.load_sets(), Config())


def test_corpus_is_big_enough_and_labelled_from_the_loops():
    labels = json.loads((eval_corpus.CORPUS / "labels.json").read_text())
    assert len(labels) >= 30
    writers = {v["writer"] for v in labels.values()}
    assert writers >= {"tb", "tbx", "mlflow", "lightning", "keras", "hf"}
    assert all(v["why"] for v in labels.values())
    if SHARED.is_dir() or os.environ.get("GDEI_REQUIRE_SHARED_LOGS"):
        shared_logs()
        real = json.loads(eval_corpus.REAL_TRUTH.read_text())
        real.pop("_about")
        assert len(real) == 20


def test_at_least_90_percent_right(rows):
    right = sum(r.right for r in rows)
    assert right >= 0.9 * len(rows), "\n".join(f"{r.run}: {r.why}" for r in rows if not r.right)


def test_no_stop_advised_on_a_run_still_improving(rows):
    # the one mistake a user cannot afford: "stop earlier" on a run that was still improving
    wrong = [
        r.run
        for r in rows
        if r.truth == "still improving" and r.verdict in ("wasteful", "efficient")
        and not r.right
    ]
    assert wrong == []


def test_judge_row_checks_verdict_bounds_and_cut_short():
    label = {"truth": "wasteful", "stop_min": 10, "stop_max": 20, "cut_short": False}
    rec = {"verdict": "wasteful", "stop_step": 15, "first_step": 0, "last_step": 100}
    assert eval_corpus.judge_row("r", label, rec).right
    assert not eval_corpus.judge_row("r", label, {**rec, "stop_step": 40}).right
    assert not eval_corpus.judge_row("r", label, {**rec, "verdict": "efficient"}).right
    cut = {"truth": "still improving", "cut_short": True}
    rec2 = {"verdict": "still improving", "stop_step": 100, "first_step": 0, "last_step": 100}
    assert not eval_corpus.judge_row("r", cut, {**rec2, "cut_short": False}).right
    assert eval_corpus.judge_row("r", cut, {**rec2, "cut_short": True}).right
    assert not eval_corpus.judge_row("r", label, None).right

"""The batched pipeline gives the answer of loading everything and judging it at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdei_cli import analyze, load, pipeline
from gdei_cli.errors import InputError, MetricNotFoundError
from tests import fleet
from tests.conftest import SAMPLES, shared_logs


def _write_fleet(root: Path, n: int) -> Path:
    for rel, data in fleet.files(n):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _at_once(paths, **kw) -> pd.DataFrame:
    data = load(paths)
    return analyze(
        data.frame,
        attrs={r: i.attrs for r, i in data.runs.items()},
        formats={r: i.format for r, i in data.runs.items()},
        keep_points=False,
        **kw,
    ).summary


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory) -> Path:
    return _write_fleet(tmp_path_factory.mktemp("fleet"), 240)


@pytest.mark.parametrize("batch_runs", [1, 7, 10_000])
def test_batches_equal_the_whole_folder_judged_at_once(fleet_dir, batch_runs):
    whole = _at_once([fleet_dir])
    dataset, got = pipeline.analyze_paths([fleet_dir], batch_runs=batch_runs)
    pd.testing.assert_frame_equal(got.summary, whole)
    assert whole["run"].str.endswith("/b").sum() == 30  # the sweep files hold two runs each
    assert set(whole["verdict"]) >= {"wasteful", "still improving", "over-fitting", "no metric"}
    assert list(dataset.runs) == sorted(dataset.runs)
    assert [s.path for s in dataset.skipped_files if s.problem]  # the broken files, named


def test_real_logs_samples_and_the_eval_corpus_in_batches_of_one(tmp_path):
    """make eval scores load + analyze; gdei analyze (the batched pipeline) says the same."""
    from tests.eval_corpus import CORPUS

    for paths in ([SAMPLES], [shared_logs()], [CORPUS]):
        whole = _at_once(paths)
        _, got = pipeline.analyze_paths(paths, batch_runs=1)
        pd.testing.assert_frame_equal(got.summary, whole)


def test_batches_by_bytes_and_over_a_process_pool(fleet_dir, monkeypatch):
    """Tiny byte budgets make one batch per run, judged over a pool of two processes
    (240 small runs are below the pool's threshold: it is lowered for the test)."""
    import concurrent.futures

    pools = []

    class Counted(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *a, **kw):
            pools.append(kw.get("max_workers"))
            super().__init__(*a, **kw)

    whole = _at_once([fleet_dir])
    monkeypatch.setattr(pipeline, "worth_a_pool", lambda runs, size: True)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Counted)
    _, got = pipeline.analyze_paths([fleet_dir], jobs=2, batch_bytes=20_000)
    pd.testing.assert_frame_equal(got.summary, whole)
    assert pools == [2]


def test_small_work_stays_in_one_process_and_large_work_is_spread():
    from gdei_cli import batching

    assert not batching.worth_a_pool(200, 3_000_000)
    assert batching.worth_a_pool(800, 3_000_000)
    assert batching.worth_a_pool(2, 64 << 20)


def test_points_kept_per_batch_equal_the_points_judged_at_once(tmp_path):
    root = _write_fleet(tmp_path, 24)
    data = load([root])
    whole = analyze(
        data.frame,
        attrs={r: i.attrs for r, i in data.runs.items()},
        formats={r: i.format for r, i in data.runs.items()},
    ).points
    _, got = pipeline.analyze_paths([root], batch_runs=5, keep_points=True)
    pd.testing.assert_frame_equal(got.points, whole)


@pytest.fixture(scope="module")
def small_fleet(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = _write_fleet(tmp_path_factory.mktemp("small"), 40)
    return root, _at_once([root])


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch_runs=st.integers(1, 45), batch_bytes=st.integers(1, 100_000))
def test_any_batch_size_gives_the_same_summary(small_fleet, batch_runs, batch_bytes):
    root, whole = small_fleet
    _, got = pipeline.analyze_paths([root], batch_runs=batch_runs, batch_bytes=batch_bytes)
    pd.testing.assert_frame_equal(got.summary, whole)


def test_tensorboard_sub_folders_stay_with_their_run(tmp_path):
    """add_scalars sub-folders are joined to their run: never cut into another batch."""
    from tensorboardX import SummaryWriter

    for name in ("a", "b"):
        w = SummaryWriter(str(tmp_path / name))
        for step in range(30):
            w.add_scalar("loss", 1 / (step + 1), step)
            w.add_scalars("pair", {"train": 1.0 / (step + 1), "val": 2.0 / (step + 1)}, step)
        w.close()
    whole = _at_once([tmp_path])
    _, got = pipeline.analyze_paths([tmp_path], batch_runs=1)
    pd.testing.assert_frame_equal(got.summary, whole)
    assert list(got.summary["run"]) == ["a", "b"]


def test_no_loss_in_any_batch_is_the_same_error(tmp_path):
    for i in range(6):
        (tmp_path / f"r{i}.csv").write_text("step,lr\n1,0.5\n2,0.4\n")
    with pytest.raises(MetricNotFoundError) as whole:
        _at_once([tmp_path])
    with pytest.raises(MetricNotFoundError) as batched:
        pipeline.analyze_paths([tmp_path], batch_runs=2)
    assert str(batched.value) == str(whole.value)


def test_strict_stops_at_the_first_unreadable_file(fleet_dir):
    with pytest.raises(InputError, match="broken.jsonl"):
        pipeline.analyze_paths([fleet_dir], strict=True, batch_runs=3)


def test_no_run_data_waits_for_the_cyclic_garbage_collector(fleet_dir, tmp_path):
    """Whatever a batch is done with is freed when it is dropped, not at the cyclic
    collector's next pass (which numpy-heavy work rarely triggers): a reference
    cycle through a reader's columns held a whole file's values through the engine."""
    import gc

    import numpy as np

    nested = tmp_path / "nested.jsonl"  # a struct column: the reader's recursion
    nested.write_text(
        "".join(f'{{"step": {s}, "loss": {1 / (s + 1)}, "eval": {{"loss": {2 / (s + 1)}}}}}\n'
                for s in range(50))
    )  # fmt: skip
    paths = [fleet_dir, SAMPLES, nested]
    pipeline.analyze_paths(paths)  # (imports and first-use caches: not this test's garbage)
    gc.collect()
    gc.disable()
    try:
        dataset, got = pipeline.analyze_paths(paths)
        assert len(got.summary) > 200
        del dataset, got
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        holding = [
            type(o).__name__
            for o in gc.garbage
            if any(isinstance(r, np.ndarray) and r.size for r in gc.get_referents(o))
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert holding == []

"""``--engine dask`` gives the local engine's answer, row for row and value for value,
on a real Dask ``LocalCluster`` of two worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fsspec.implementations.memory import MemoryFileSystem
from typer.testing import CliRunner

from gdei_cli.cli import app
from tests import fleet
from tests.conftest import SAMPLES, shared_logs

distributed = pytest.importorskip("dask.distributed")

from gdei_cli.dask_engine import local_cluster  # noqa: E402 (after the skip)

runner = CliRunner()
FLEET = 2000


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, sized and quietened as gdei's own local cluster is."""
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        yield cluster.scheduler_address, client


@pytest.fixture(scope="module")
def fleet_files():
    return list(fleet.files(FLEET))


def _json(args: list[str]) -> tuple[dict, str]:
    got = runner.invoke(app, [*args, "--format", "json"])
    assert got.exit_code in (0, 1), got.output
    return json.loads(got.stdout), got.stderr


def _same(local: dict, far: dict) -> None:
    assert far["runs"] == local["runs"]
    assert far["totals"] == local["totals"]
    assert far["skipped"] == local["skipped"]


@pytest.mark.parametrize("which", ["samples", "real_logs"])
def test_dask_equals_local_on_the_bundled_and_the_real_logs(cluster, which):
    address, _ = cluster
    tree = str(SAMPLES if which == "samples" else shared_logs())
    local, _ = _json(["analyze", tree, "--engine", "local"])
    far, err = _json(["analyze", tree, "--engine", "dask", "--scheduler", address])
    _same(local, far)
    assert "gdei: worker tcp://" in err


@pytest.fixture(scope="module")
def fleet_on_disk(fleet_files, tmp_path_factory) -> tuple[Path, dict]:
    """The fleet written to disk, and the local engine's JSON of it (computed once)."""
    root = tmp_path_factory.mktemp("fleet")
    for rel, data in fleet_files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, _json(["analyze", str(root)])[0]


def test_dask_equals_local_on_a_fleet_on_disk(cluster, fleet_on_disk):
    address, _ = cluster
    root, local = fleet_on_disk
    far, err = _json(["analyze", str(root), "--engine", "dask", "--scheduler", address])
    _same(local, far)
    assert len(far["runs"]) == FLEET  # the broken files' runs skipped, the sweeps' doubled
    # both workers took tasks: each says how many, and the unreadable files it met
    lines = [x for x in err.splitlines() if x.startswith("gdei: worker tcp://")]
    assert len(lines) == 2
    assert sum(int(x.split(", ")[2].split()[0]) for x in lines) == FLEET // fleet.KINDS


def _fill_memory(files: list[tuple[str, bytes]]) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    for rel, data in files:
        fs.pipe(f"/dask-fleet/{rel}", data)


def test_dask_equals_local_on_a_fleet_in_memory_urls(cluster, fleet_files, fleet_on_disk):
    """memory:// is per process: the client and each worker get the same files.  The
    local engine's answer is the one it gives for the same files on disk (memory://
    and disk agree: tests/test_remote.py), with the files named by URL."""
    address, client = cluster
    root, local = fleet_on_disk
    _fill_memory(fleet_files)
    client.run(_fill_memory, fleet_files)
    far, _ = _json(["analyze", "memory://dask-fleet", "--engine", "dask", "--scheduler", address])
    for s in local["skipped"]:
        s["path"] = s["path"].replace(str(root), "memory://dask-fleet", 1)
    _same(local, far)
    assert all(s["path"].startswith("memory://dask-fleet/") for s in far["skipped"])


def test_export_through_dask_writes_the_local_table(cluster, tmp_path):
    address, _ = cluster
    a, b = tmp_path / "local.csv", tmp_path / "dask.csv"
    assert runner.invoke(app, ["export", str(SAMPLES), "-o", str(a)]).exit_code == 0
    got = runner.invoke(
        app, ["export", str(SAMPLES), "-o", str(b), "--engine", "dask", "--scheduler", address]
    )
    assert got.exit_code == 0, got.output
    assert b.read_bytes() == a.read_bytes()


def test_an_unreachable_scheduler_is_one_line_and_exit_2():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        got = runner.invoke(
            app,
            ["analyze", str(SAMPLES), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"],
        )
    assert got.exit_code == 2
    assert got.stderr.startswith(
        "gdei: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )
    assert got.stderr.count("\n") == 1


def test_a_scheduler_without_the_dask_engine_is_a_usage_error():
    got = runner.invoke(app, ["analyze", str(SAMPLES), "--scheduler", "tcp://127.0.0.1:9"])
    assert got.exit_code == 2
    assert "--scheduler needs --engine dask" in got.stderr


def test_a_usage_error_inside_a_task_comes_back_as_itself(cluster, tmp_path):
    """An ambiguous --metric glob is raised in the task and reported like the local one."""
    address, _ = cluster
    (tmp_path / "r.csv").write_text("step,loss_a,loss_b\n1,2,3\n2,1,2\n")
    local = runner.invoke(app, ["analyze", str(tmp_path), "--metric", "loss_*"])
    far = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path),
            "--metric",
            "loss_*",
            "--engine",
            "dask",
            "--scheduler",
            address,
        ],
    )
    assert local.exit_code == far.exit_code == 2
    assert far.stderr == local.stderr
    assert "matches 2 metrics" in far.stderr


def test_dask_without_a_scheduler_starts_a_local_cluster(tmp_path):
    got = runner.invoke(app, ["analyze", str(SAMPLES), "--engine", "dask", "--format", "json"])
    assert got.exit_code == 0, got.output
    local, _ = _json(["analyze", str(SAMPLES)])
    assert json.loads(got.stdout)["runs"] == local["runs"]


def test_the_fleet_fixture_is_what_the_tests_think(fleet_files):
    kinds = {Path(rel).name for rel, _ in fleet_files}
    assert {"results.csv", "args.yaml", "broken.jsonl", "sweep.csv"} <= kinds


def test_the_library_takes_a_connected_client_and_leaves_it_open(cluster):
    import pandas as pd

    from gdei_cli import pipeline

    _, client = cluster
    _, local = pipeline.analyze_paths([SAMPLES])
    _, far = pipeline.analyze_paths([SAMPLES], engine="dask", scheduler=client)
    pd.testing.assert_frame_equal(far.summary, local.summary)
    assert client.status == "running"


def test_points_parts_are_written_by_the_workers(cluster, tmp_path):
    import pandas as pd

    address, _ = cluster
    single = tmp_path / "points.parquet"
    assert (
        runner.invoke(app, ["export", str(SAMPLES), "--points", "-o", str(single)]).exit_code == 0
    )
    got = runner.invoke(
        app,
        [
            "export",
            str(SAMPLES),
            "--points",
            "-o",
            f"{tmp_path}/parts/",
            "--engine",
            "dask",
            "--scheduler",
            address,
        ],
    )
    assert got.exit_code == 0, got.output
    parts = sorted((tmp_path / "parts").glob("part-*.parquet"))
    far = pd.concat(map(pd.read_parquet, parts), ignore_index=True)
    key = ["run", "metric", "role", "step"]

    def rows(f):
        f = f.assign(
            run=f["run"].astype(str), metric=f["metric"].astype(str), role=f["role"].astype(str)
        )
        return f.sort_values(key).reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(far), rows(pd.read_parquet(single)))


def test_progress_counts_tasks_on_the_cluster(cluster):
    from gdei_cli import pipeline

    _, client = cluster
    seen: list[tuple[int, int | None]] = []
    pipeline.analyze_paths(
        [shared_logs()],
        engine="dask",
        scheduler=client,
        progress=lambda d, t: seen.append((d, t)),
        batch_runs=5,
    )
    assert seen[0] == (0, 4)  # 20 runs, 5 a task
    assert seen[1:] == [(1, None)] * 4


class _CrashOnce(MemoryFileSystem):
    """memory://, except that the first worker to open a file whose name holds
    ``crash`` dies on the spot (a flag file makes it once): a worker lost mid-task."""

    protocol = "crashonce"
    root_marker = "/"

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.replace("crashonce://", "memory://", 1))

    def _open(self, path, mode="rb", **kw):
        import os

        if "crash" in path and "rb" in mode and os.environ.get("GDEI_CRASH_FLAG"):
            flag = os.environ["GDEI_CRASH_FLAG"]
            if not os.path.exists(flag) and _in_a_worker():
                open(flag, "w").close()
                os._exit(1)
        return super()._open(path, mode, **kw)


def _in_a_worker() -> bool:
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def _fill_crashonce(files: list[tuple[str, bytes]], flag: str) -> None:
    import os

    import fsspec

    os.environ["GDEI_CRASH_FLAG"] = flag
    fsspec.register_implementation("crashonce", "tests.test_dask._CrashOnce", clobber=True)
    fs = fsspec.filesystem("memory")
    for rel, data in files:
        fs.pipe(f"/crashonce/{rel}", data)


def test_a_worker_lost_mid_task_is_replaced_and_the_answer_is_the_same(tmp_path):
    """A worker process dies while its task copies a run; Dask reruns the task on a
    fresh worker, and the result is the local engine's, row for row."""
    import pandas as pd

    from gdei_cli import pipeline

    files = [(f"r{i:02d}/{'crash' if i == 7 else 'ok'}.csv", b"step,loss\n" + b"".join(
        b"%d,%f\n" % (s, 1 / (s + 1 + i)) for s in range(40))) for i in range(24)]  # fmt: skip
    flag = str(tmp_path / "crashed")
    _fill_crashonce(files, "")  # the client never crashes (no flag path)
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        client.run(_fill_crashonce, files, flag)
        _, local = pipeline.analyze_paths(["crashonce://crashonce"], batch_runs=6)
        _, far = pipeline.analyze_paths(
            ["crashonce://crashonce"], engine="dask", scheduler=client, batch_runs=6
        )
    assert Path(flag).exists()  # a worker did die
    pd.testing.assert_frame_equal(far.summary, local.summary)
    assert len(far.summary) == 24

"""Inputs as URLs through fsspec: memory:// end to end, file://, and the errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gdei_cli import remote
from gdei_cli.cli import app
from tests import fleet
from tests.conftest import SAMPLES, shared_logs

runner = CliRunner()


def _mirror(tree: Path, prefix: str) -> str:
    """Copy *tree* into the memory filesystem under *prefix*; its memory:// URL."""
    fs = fsspec.filesystem("memory")
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            fs.pipe(f"/{prefix}/{path.relative_to(tree).as_posix()}", path.read_bytes())
    return f"memory://{prefix}"


def _json(args: list[str]) -> dict:
    got = runner.invoke(app, [*args, "--format", "json", "--quiet"])
    assert got.exit_code in (0, 1), got.output
    return json.loads(got.stdout)


@pytest.fixture(autouse=True)
def _clean_memory():
    yield
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.mark.parametrize("which", ["samples", "real_logs"])
def test_a_memory_url_gives_what_the_same_folder_on_disk_gives(which):
    tree = SAMPLES if which == "samples" else shared_logs()
    url = _mirror(tree, f"bucket/{which}")
    local = _json(["analyze", str(tree)])
    far = _json(["analyze", url])
    assert far["runs"] == local["runs"]
    assert far["totals"] == local["totals"]
    # skipped files are named by their URLs, the same files with the same reasons
    assert [s["path"] for s in far["skipped"]] == [
        s["path"].replace(str(tree), url, 1) for s in local["skipped"]
    ]
    assert [s["reason"] for s in far["skipped"]] == [s["reason"] for s in local["skipped"]]


def test_a_generated_fleet_in_memory_with_side_files_and_broken_files(tmp_path):
    fs = fsspec.filesystem("memory")
    for rel, data in fleet.files(80):
        fs.pipe(f"/fleet/{rel}", data)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    local = _json(["analyze", str(tmp_path)])
    far = _json(["analyze", "memory://fleet"])
    assert far["runs"] == local["runs"]
    yolo = [r for r in far["runs"] if r["framework"] == "Ultralytics"]
    assert len(yolo) == 10  # read with their args.yaml, copied beside them: the plan is known
    assert all(r["cut_short"] for r in yolo)
    bad = [s for s in far["skipped"] if s["problem"]]
    assert bad and all(s["path"].startswith("memory://fleet/") for s in bad)
    assert all("gdei-batch-" not in s["reason"] for s in bad)


def test_export_from_a_url_and_one_file_url(tmp_path):
    url = _mirror(SAMPLES, "s")
    out = tmp_path / "summary.csv"
    got = runner.invoke(app, ["export", url, "-o", str(out), "--quiet"])
    assert got.exit_code == 0, got.output
    assert out.read_text().count("\n") == 8  # header + 7 runs
    one = _json(["analyze", f"{url}/converges_early.csv"])
    assert [r["run"] for r in one["runs"]] == ["converges_early.csv"]


def test_a_file_url_is_the_local_path(tmp_path):
    assert (
        _json(["analyze", SAMPLES.resolve().as_uri()])["runs"]
        == _json(["analyze", str(SAMPLES)])["runs"]
    )


def test_a_file_over_the_size_limit_is_skipped_by_its_url():
    fs = fsspec.filesystem("memory")
    fs.pipe("/big/a.csv", b"step,loss\n" + b"".join(b"%d,1.0\n" % i for i in range(5000)))
    fs.pipe("/big/b.csv", b"step,loss\n1,2.0\n2,1.0\n")
    got = runner.invoke(app, ["analyze", "memory://big", "--max-file-size", "10k"])
    assert got.exit_code == 0, got.output
    assert "skipped memory://big/a.csv" in got.stderr
    assert "limit" in got.stderr


def test_an_unknown_protocol_is_one_line_and_exit_2():
    got = runner.invoke(app, ["analyze", "nosuchproto://bucket/runs"])
    assert got.exit_code == 2
    assert got.stderr.count("\n") == 1
    assert "unknown protocol nosuchproto://" in got.stderr


def test_a_missing_backend_names_the_extra_to_install():
    missing = [
        p
        for p, extra in remote.EXTRAS.items()
        if importlib.util.find_spec(
            {"s3": "s3fs", "gcs": "gcsfs", "azure": "adlfs"}.get(extra, "huggingface_hub")
        )
        is None
    ]
    if not missing:
        pytest.skip("every fsspec backend gdei names is installed here")
    proto = missing[0]
    got = runner.invoke(app, ["analyze", f"{proto}://bucket/runs"])
    assert got.exit_code == 2
    assert got.stderr.count("\n") == 1
    assert f"pip install 'gdei-cli[{remote.EXTRAS[proto]}]'" in got.stderr


def test_a_missing_url_and_a_mix_of_urls_and_paths_are_errors():
    got = runner.invoke(app, ["analyze", "memory://nothing/here"])
    assert got.exit_code == 2
    assert "memory://nothing/here: no such file or folder" in got.stderr
    _mirror(SAMPLES, "s")
    got = runner.invoke(app, ["analyze", "memory://s", str(SAMPLES)])
    assert got.exit_code == 2
    assert "not both" in got.stderr


def test_inspect_of_a_url_is_inspect_of_the_folder_with_sources_named_by_url():
    tree = shared_logs()
    url = _mirror(tree, "inspect/real_logs")
    local = _json(["inspect", str(tree)])
    far = _json(["inspect", url])
    for a, b in zip(local["runs"], far["runs"], strict=True):
        assert [s.replace(str(tree), url, 1) for s in a.pop("sources")] == b.pop("sources")
        assert a == b
    assert len(far["runs"]) == 20


def _rows(frame):
    """Points in one order (parts hold each batch's loss then objective points)."""
    text = {c: frame[c].astype(str) for c in ("run", "metric", "role")}
    return (
        frame.assign(**text).sort_values(["run", "metric", "role", "step"]).reset_index(drop=True)
    )


def test_points_as_parquet_parts_in_a_folder_and_a_url(tmp_path):
    """export --points -o FOLDER/ (or URL/): one part per batch, the single file's rows."""
    import pandas as pd

    for rel, data in fleet.files(40):
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / rel).write_bytes(data)
    single = tmp_path / "points.parquet"
    assert (
        runner.invoke(
            app, ["export", str(tmp_path / "in"), "--points", "-o", str(single)]
        ).exit_code
        == 0
    )
    got = runner.invoke(
        app, ["export", str(tmp_path / "in"), "--points", "-o", f"{tmp_path}/parts/", "--jobs", "1"]
    )
    assert got.exit_code == 0, got.output
    parts = sorted((tmp_path / "parts").glob("part-*.parquet"))
    assert parts
    whole = _rows(pd.read_parquet(single))
    pd.testing.assert_frame_equal(
        _rows(pd.concat(map(pd.read_parquet, parts), ignore_index=True)), whole
    )
    # the same through fsspec, to a memory:// folder
    got = runner.invoke(
        app, ["export", str(tmp_path / "in"), "--points", "-o", "memory://out/points/"]
    )
    assert got.exit_code == 0, got.output
    fs = fsspec.filesystem("memory")
    names = sorted(fs.glob("/out/points/part-*.parquet"))
    assert names
    far = pd.concat([pd.read_parquet(fs.open(n, "rb")) for n in names], ignore_index=True)
    pd.testing.assert_frame_equal(_rows(far), whole)
    # a folder that already holds parts is refused; a summary to a URL is refused
    again = runner.invoke(
        app, ["export", str(tmp_path / "in"), "--points", "-o", f"{tmp_path}/parts/"]
    )
    assert again.exit_code == 2 and "already holds Parquet parts" in again.stderr
    url = runner.invoke(app, ["export", str(tmp_path / "in"), "-o", "memory://out/summary.csv"])
    assert url.exit_code == 2 and "--points into a folder URL" in url.stderr


class _Flaky(MemoryFileSystem):
    """A storage whose backend raises its own error type (as botocore's do)."""

    protocol = "flakytest"
    root_marker = "/"

    class Refused(Exception):
        pass

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.replace("flakytest://", "memory://", 1))

    def info(self, path, **kw):
        if "nocreds" in path:
            raise self.Refused("Unable to locate credentials")
        return super().info(path, **kw)

    def _open(self, path, mode="rb", **kw):
        if "gone" in path and "rb" in mode:
            raise self.Refused("connection reset")
        return super()._open(path, mode, **kw)


def test_a_backends_own_errors_are_one_line_or_a_skipped_file():
    fsspec.register_implementation("flakytest", _Flaky, clobber=True)
    got = runner.invoke(app, ["analyze", "flakytest://nocreds/runs"])
    assert got.exit_code == 2
    assert (
        got.stderr
        == "gdei: error: flakytest://nocreds/runs: cannot read: Unable to locate credentials\n"
    )
    fs = fsspec.filesystem("memory")
    fs.pipe("/flaky/ok.csv", b"step,loss\n1,2.0\n2,1.5\n3,1.4\n")
    fs.pipe("/flaky/gone.csv", b"step,loss\n1,2.0\n2,1.5\n3,1.4\n")
    got = runner.invoke(app, ["analyze", "flakytest://flaky"])
    assert got.exit_code == 0, got.output
    assert "skipped flakytest://flaky/gone.csv" in got.stderr
    assert "ok.csv" in got.stdout


_NAMES = st.sampled_from(
    ["metrics.csv", "log.jsonl", "results.csv", "args.yaml", "notes.txt", ".hidden.csv",
     "train_log.csv", "history.csv", "events.json", "a b.csv", "x.csv.gz"]
)  # fmt: skip
_FOLDERS = st.sampled_from(["", "r1/", "r2/", "r1/sub/", ".cache/", "team/r3/"])


def _content(name: str, seed: int) -> bytes:
    import gzip

    if name == "args.yaml":
        return b"epochs: %d\n" % (50 + seed)
    if name.endswith(".jsonl"):
        return b"".join(b'{"step": %d, "loss": %f}\n' % (i, 1 / (i + 1 + seed)) for i in range(30))
    if name.endswith(".txt"):
        return b"just words\n"
    if name == "results.csv":
        rows = b"".join(
            b"%d,%f,%f\n" % (i + 1, 1 / (i + 1), 0.5 - 0.4 / (i + 1)) for i in range(30)
        )
        return b"epoch,train/box_loss,metrics/mAP50(B)\n" + rows
    body = b"step,loss\n" + b"".join(b"%d,%f\n" % (i, 2 / (i + 1 + seed)) for i in range(30))
    return gzip.compress(body, mtime=0) if name.endswith(".gz") else body


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.tuples(_FOLDERS, _NAMES, st.integers(0, 5)),
        min_size=1,
        max_size=8,
        unique_by=lambda t: t[0] + t[1],
    )
)
def test_any_small_tree_reads_the_same_from_a_url_as_from_disk(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("tree") / "runs"
    fs = fsspec.filesystem("memory")
    prefix = f"/prop{abs(hash(tuple(files)))}/runs"
    for folder, name, seed in files:
        data = _content(name, seed)
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_bytes(data)
        fs.pipe(f"{prefix}/{folder}{name}", data)
    local = runner.invoke(app, ["analyze", str(root), "--format", "json", "--quiet"])
    far = runner.invoke(app, ["analyze", f"memory:/{prefix}", "--format", "json", "--quiet"])
    assert far.exit_code == local.exit_code
    if local.exit_code == 2:  # nothing to read: the same reason, by URL
        assert far.stderr.replace(f"memory:/{prefix}", str(root)) == local.stderr
        return
    a, b = json.loads(local.stdout), json.loads(far.stdout)
    assert b["runs"] == a["runs"]
    assert [s["path"].replace(f"memory:/{prefix}", str(root), 1) for s in b["skipped"]] == [
        s["path"] for s in a["skipped"]
    ]

"""``--engine dask``: the batches of :mod:`gdei_cli.pipeline` as tasks on a Dask cluster.

Discovery stays on the client; each batch (a few hundred runs) is one task
that reads, judges and returns its summary rows (:func:`gdei_cli.pipeline.run_batch`);
results come back in batch order whatever order the tasks finish in, so the
answer is the one the local engine gives.  A task whose worker dies is
rerun on another worker by Dask's scheduler; a run that cannot be read is a
skipped file, as locally.
Workers need gdei installed (the same version) and, for URL inputs, the
fsspec backend and credentials of the storage.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.errors import UsageError

if TYPE_CHECKING:
    from gdei_cli.assembly import Progress
    from gdei_cli.batching import Batch, Job
    from gdei_cli.pipeline import BatchResult

#: how often Dask reruns a task that raised (a task whose worker died is rerun by the
#: scheduler itself, up to ``distributed.scheduler.allowed-failures`` times)
RETRIES: Final = 2


@dataclass
class Session:
    """A connected Dask client: how many threads its workers have, and running batches."""

    client: Any

    @property
    def threads(self) -> int:
        """The cluster's worker threads now (at least 1: an autoscaling cluster may have none)."""
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def run(
        self, batches: list[Batch], job: Job, progress: Progress | None
    ) -> Iterator[BatchResult]:
        """Every batch's result, in batch order, whatever order the tasks finish in."""
        yield from _on(self.client, batches, job, progress)


@contextlib.contextmanager
def session(scheduler: object) -> Iterator[Session]:
    """The cluster at *scheduler*: an address, a connected ``distributed.Client`` (left
    open), or ``None`` (a local cluster of one single-threaded worker process per core,
    closed afterwards)."""
    if scheduler is not None and not isinstance(scheduler, str):
        yield Session(scheduler)
        return
    client, cluster = _connect(scheduler)
    try:
        yield Session(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _on(
    client: Any, batches: list[Batch], job: Job, progress: Progress | None
) -> Iterator[BatchResult]:
    token = uuid.uuid4().hex[:12]
    futures = client.map(
        _task,
        batches,
        job=job,
        key=[f"gdei-batch-{token}-{i}" for i in range(len(batches))],
        retries=RETRIES,
        pure=False,
    )
    try:
        yield from _in_order(futures, progress)
    finally:
        client.cancel(futures)


def _connect(scheduler: str | None) -> tuple[Any, Any]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError(
            "--engine dask needs dask.distributed", hint="pip install 'gdei-cli[dask]'"
        ) from None
    if scheduler is None:
        cluster = local_cluster()
        return Client(cluster), cluster
    try:
        # waits distributed.comm.timeouts.connect (Dask's config; 30 s by default)
        return Client(scheduler), None
    except (OSError, TimeoutError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {first}") from None


def local_cluster(n_workers: int | None = None) -> Any:
    """A ``LocalCluster`` sized as gdei sizes one: *n_workers* (default: one per core)
    single-threaded worker processes, no fixed dashboard port, no worker chatter."""
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: never clash with another cluster
        silence_logs=40,  # logging.ERROR: no worker chatter on the terminal
    )


def _in_order(futures: list[Any], progress: Progress | None) -> Iterator[BatchResult]:
    """Results as soon as every earlier batch's is in; progress counts finished tasks."""
    from dask.distributed import as_completed

    position = {f.key: i for i, f in enumerate(futures)}
    ready: dict[int, BatchResult] = {}
    following = 0
    for future in as_completed(futures):
        i = position[future.key]
        ready[i] = future.result()  # a task's own error (a usage error) is raised here
        future.release()
        if progress is not None:
            progress(1, None)  # one more task done
        while following in ready:
            yield ready.pop(following)
            following += 1


def _task(batch: Batch, job: Job) -> BatchResult:
    """One batch, on a worker: judged, and marked with the worker's address."""
    from dataclasses import replace

    from gdei_cli.pipeline import run_batch

    result = run_batch(batch, job, jobs=1)
    try:
        from dask.distributed import get_worker

        worker = str(get_worker().address)
    except (ImportError, ValueError):
        worker = ""
    return replace(result, worker=worker)

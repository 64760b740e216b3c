"""The Dask client of a build: a running scheduler's, or a local cluster of single-threaded workers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mer_zoo.errors import InputError, MerZooError, describe
from mer_zoo.pipeline.workers import (
    remove_stale_openmp_files,
    start_fork_server,
    stop_fork_server,
    worker_environment,
)

if TYPE_CHECKING:  # distributed (0.4 s) is imported only by the thread that starts the cluster
    from mer_zoo.pipeline.extract import ExtractJob

__all__ = ["ClusterStart", "check_reachable", "dask_client"]


def check_reachable(scheduler: str) -> None:
    """Fail at once on a TCP scheduler address that refuses connections (Dask would retry for 10 s)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if parts.scheme != "tcp":
        return  # tls://, ucx://...: left to Dask
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            pass
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None


class ClusterStart:
    """A Dask client started in a background thread, so workers boot while the corpus is read.

    That thread is the one that imports ``distributed``: the caller's thread must not import it
    (nor ``dask_worker``) before ``client()`` returns, or the two imports can meet half-done.

    Local workers are forked from :func:`~mer_zoo.pipeline.workers.start_fork_server`'s
    server (started here if the caller has not started it earlier; stopped by ``close()``).

    ``client(job)`` waits for it, then has every worker set up for ``job`` (once);
    ``close()`` shuts down whatever was started, also when it was never used.
    """

    def __init__(self, workers: int, scheduler: str | None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.scheduler = scheduler
        if scheduler is None:
            remove_stale_openmp_files(wait_s=0)  # left by the workers of a run that was killed
        self._forked = scheduler is None and start_fork_server()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mer-zoo-cluster")
        self._started = self._pool.submit(_open, workers, scheduler, self._forked)
        self._ready: Any = None
        self._worker_pids: set[int] = set()

    def client(self, job: ExtractJob) -> Any:
        """The connected client, its workers set up for ``job``."""
        if self._ready is None:
            client, _ = self._started.result()
            _set_up(client, job, self.scheduler)
            self._ready = client
        return self._ready

    def _remember_workers(self, client: Any) -> None:
        """The local workers' process ids, to wait for once they are told to stop."""
        try:
            workers = client.scheduler_info().get("workers", {}).values()
            self._worker_pids |= {int(w["pid"]) for w in workers if w.get("pid")}
        except Exception:  # a cluster being torn down may not answer: the sweep still removes what is stale
            pass

    def close(self) -> None:
        """Close the client and the local cluster (waiting for a start still under way)."""
        try:
            client, cluster = self._started.result()
        except Exception:  # a failed start has nothing to close; its error was reported (or is moot)
            client = cluster = None
        finally:
            self._pool.shutdown(wait=False)
        if client is not None and cluster is not None:
            self._remember_workers(client)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
            remove_stale_openmp_files(self._worker_pids)  # /dev/shm as it was found
        if self._forked:
            stop_fork_server()


@contextmanager
def dask_client(workers: int, scheduler: str | None, job: ExtractJob) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` single-threaded processes, set up for ``job``."""
    start = ClusterStart(workers, scheduler)
    try:
        yield start.client(job)
    finally:
        start.close()


def _open(workers: int, scheduler: str | None, forked: bool) -> tuple[Any, Any]:
    import dask
    import distributed.utils
    from distributed import Client, LocalCluster

    if forked:  # our server runs with its own preload: skip Dask's (it would import pandas here first)
        distributed.utils._forkserver_preload_set = True

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    settings = {
        "distributed.nanny.pre-spawn-environ": worker_environment(
            dask.config.get("distributed.nanny.pre-spawn-environ", {})
        ),
        # Equal tasks, a bounded queue and no dashboard: stealing and profiling only cost CPU.
        "distributed.scheduler.work-stealing": False,
        "distributed.worker.profile.enabled": False,
        # Every server (scheduler, nannies, workers) wakes 50 times a second to time its event
        # loop, nannies poll psutil 10 times a second and the system monitor twice: 0.75 s of
        # CPU in an 800-song build, on the cores the workers compute on. Slower, they still
        # warn of a blocked loop and stop a runaway worker.
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
        "distributed.admin.system-monitor.disk": False,
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.worker.multiprocessing-method": "forkserver" if forked else "spawn",
        # A task whose worker died (a decoder crash) fails at once, naming its songs, instead
        # of being retried until it has killed every worker.
        "distributed.scheduler.allowed-failures": 0,
    }
    try:
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # the scheduler's HTTP endpoint starts even without a dashboard: any free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,
            )
    except Exception as err:  # e.g. worker processes that cannot start (a __main__ they cannot re-import)
        raise MerZooError(f"the local Dask cluster of {workers} workers did not start ({describe(err)})") from None
    return Client(cluster), cluster


def _set_up(client: Any, job: ExtractJob, scheduler: str | None) -> None:
    from mer_zoo.pipeline.dask_worker import WorkerSetup

    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        raise MerZooError(f"the Dask scheduler at {scheduler} has no workers (waited 60 s)") from None
    try:
        client.register_plugin(WorkerSetup(job))
    except Exception as err:  # e.g. workers without mer-zoo installed cannot unpickle the plugin
        where = f"at {scheduler}" if scheduler else "(local)"
        raise MerZooError(f"the Dask workers {where} could not set up mer-zoo: {type(err).__name__}: {err}") from None

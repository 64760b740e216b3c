"""The Dask client of a build: a running scheduler's, or a local cluster of single-threaded workers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.features.extract import ExtractJob

__all__ = ["check_reachable", "dask_client"]


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


@contextmanager
def dask_client(workers: int, scheduler: str | None, job: ExtractJob) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` single-threaded processes."""
    import dask
    from distributed import Client, LocalCluster

    from mer_zoo.features.extract import THREAD_VARIABLES, WorkerSetup

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    else:
        # Dask's default MALLOC_TRIM_THRESHOLD_ turns every freed STFT temporary back into
        # fresh pages to fault in: extraction ran 20% slower with it. Memory stays bounded
        # without it (one song at a time per worker).
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **THREAD_VARIABLES}
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        settings = {
            "distributed.nanny.pre-spawn-environ": environ,
            # Equal tasks, a bounded queue and no dashboard: stealing and profiling only cost CPU.
            "distributed.scheduler.work-stealing": False,
            "distributed.worker.profile.enabled": False,
        }
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
        client = Client(cluster)
    try:
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise MerZooError(f"the Dask scheduler at {scheduler} has no workers (waited 60 s)") from None
        try:
            client.register_plugin(WorkerSetup(job))
        except Exception as err:  # e.g. workers without mer-zoo installed cannot unpickle the plugin
            where = f"at {scheduler}" if scheduler else "(local)"
            raise MerZooError(f"the Dask workers {where} could not set up mer-zoo: {type(err).__name__}: {err}") from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


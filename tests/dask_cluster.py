"""A real Dask cluster on 127.0.0.1 for the tests: `dask scheduler` and `dask worker` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_dask_cluster(log_dir: Path, workers: int = 1) -> Iterator[str]:
    """A scheduler and ``workers`` single-threaded worker processes; yields the address once all have registered."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log_dir / "dask.log", "w") as log:
        scheduler = subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                      address.rsplit(":", 1)[1], "--no-dashboard"],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
        worker = subprocess.Popen([BIN / "dask", "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
        try:
            with Client(address, timeout="30s") as client:
                client.wait_for_workers(workers, timeout=60)
            yield address
        finally:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker processes and their nannies: nothing to save
            worker.wait()
            scheduler.terminate()
            try:
                scheduler.wait(timeout=15)
            except subprocess.TimeoutExpired:
                scheduler.kill()
                scheduler.wait()

"""What Dask is told about extraction: how song results cross its wire, and the workers' set-up.

Kept apart from ``extract.py`` so that the extraction code imports no Dask: the client
imports ``distributed`` in the thread that starts its cluster, while its main thread reads
the corpus and plans the job, and two threads importing the same package at once can meet
it half-initialised. This module is imported once the cluster is up (``cluster._set_up``)
and, on workers, when they unpickle the set-up plugin, before their first task.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin
from distributed.protocol import dask_deserialize, dask_serialize

from mer_zoo.audio import capture_decoder_notes
from mer_zoo.pipeline.extract import ExtractJob, SongResult, warm_up
from mer_zoo.pipeline.workers import THREAD_VARIABLES

__all__ = ["WorkerSetup"]


@dask_serialize.register(SongResult)
def _send_result(result: SongResult) -> tuple[dict[str, Any], list[Any]]:
    """A result on the wire: a small pickle and each array's bytes as a frame of its own.

    Left to Dask, a result was pickled with every array inside it (measured: 800 songs cost
    the client 0.8 s in ``pickle.loads`` and as much again faulting in the copies).
    """
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    return {}, [head, *(b.raw() for b in buffers)]


@dask_deserialize.register(SongResult)
def _receive_result(header: dict[str, Any], frames: list[Any]) -> SongResult:
    """Rebuild a result from :func:`_send_result`'s frames; the arrays view the received bytes."""
    result: SongResult = pickle.loads(frames[0], buffers=frames[1:])
    return result


class WorkerSetup(WorkerPlugin):
    """A Dask worker plugin: one thread per numeric library, decoders and extractors warmed once.

    Local workers also get the ``THREAD_VARIABLES`` in their environment before they start
    (the only way OpenMP reads them); workers of an external cluster get the limits here.
    """

    name = "mer-zoo-worker-setup"

    def __init__(self, job: ExtractJob) -> None:
        self.job = job

    def setup(self, worker: Any) -> None:
        """Run once on each worker when it joins."""
        os.environ.update(THREAD_VARIABLES)
        # librosa's numba kernels cache their machine code beside their source: workers that
        # compile the same kernel at once can leave a torn cache that segfaults its next reader.
        # Each worker process caches in a folder of its own.
        base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "mer-zoo-numba")
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(base, f"worker-{os.getpid()}")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it the environment variables still apply to new pools
            pass
        else:
            threadpool_limits(1)
        capture_decoder_notes(True)  # libmpg123's notes name no file: to the log, with the file's name
        warm_up(self.job)

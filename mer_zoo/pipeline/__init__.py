"""The Dask pipeline: songs out to workers, each song's sets back, written into the store in order.

- :mod:`~mer_zoo.pipeline.extract`: one song -> every set of its windows (runs inside a worker);
- :mod:`~mer_zoo.pipeline.build`, :mod:`~mer_zoo.pipeline.add`: ``build-features`` and ``add-features``;
- :mod:`~mer_zoo.pipeline.dispatch`: songs out in shrinking batches, bounded in flight, back in order;
- :mod:`~mer_zoo.pipeline.handoff`: local workers return arrays through ``/dev/shm``;
- :mod:`~mer_zoo.pipeline.resume`: reuse, resume, refuse or replace a store already at the output;
- :mod:`~mer_zoo.pipeline.cluster`, :mod:`~mer_zoo.pipeline.workers`,
  :mod:`~mer_zoo.pipeline.dask_worker`: the Dask client, local workers, what Dask is told;
- :mod:`~mer_zoo.pipeline.report`: progress bar and summary;
- :mod:`~mer_zoo.pipeline.predict_many`: many audio files -> a resumable CSV of predictions;
- :mod:`~mer_zoo.pipeline.predict_csv`: that CSV, a file's rows in one write, whole files kept on resume.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "BuildSummary",
    "ClusterStart",
    "ExtractJob",
    "FileBlock",
    "RowMaker",
    "SongResult",
    "add_features",
    "build_features",
    "check_reachable",
    "collect_audio",
    "dask_client",
    "extract_file",
    "extract_samples",
    "extract_song",
    "file_blocks",
    "gather_audio",
    "make_extractors",
    "plan_job",
    "render_add_summary",
    "render_summary",
    "start_fork_server",
    "stream_predictions",
    "warm_up",
]

# Each name loads its module on first use: Dask and pandas stay out of `mer-zoo --help`
# and out of the workers, which import only `extract`.
_HOME = {
    "BuildSummary": "report",
    "ClusterStart": "cluster",
    "ExtractJob": "extract",
    "FileBlock": "extract",
    "RowMaker": "predict_many",
    "SongResult": "extract",
    "add_features": "add",
    "build_features": "build",
    "check_reachable": "cluster",
    "collect_audio": "predict_many",
    "dask_client": "cluster",
    "extract_file": "extract",
    "extract_samples": "extract",
    "extract_song": "extract",
    "file_blocks": "extract",
    "gather_audio": "predict_many",
    "make_extractors": "build",
    "plan_job": "build",
    "render_add_summary": "add",
    "render_summary": "report",
    "start_fork_server": "workers",
    "stream_predictions": "predict_many",
    "warm_up": "extract",
}

if TYPE_CHECKING:
    from mer_zoo.pipeline.add import add_features, render_add_summary
    from mer_zoo.pipeline.build import build_features, make_extractors, plan_job
    from mer_zoo.pipeline.cluster import ClusterStart, check_reachable, dask_client
    from mer_zoo.pipeline.extract import (
        ExtractJob,
        FileBlock,
        SongResult,
        extract_file,
        extract_samples,
        extract_song,
        file_blocks,
        warm_up,
    )
    from mer_zoo.pipeline.predict_many import RowMaker, collect_audio, gather_audio, stream_predictions
    from mer_zoo.pipeline.report import BuildSummary, render_summary
    from mer_zoo.pipeline.workers import start_fork_server


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

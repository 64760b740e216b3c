"""Hyperparameter search with song folds: an Optuna study whose trials cross-validate by song
on the training and validation songs only; the test songs are scored once, at the end.

- :mod:`~mer_zoo.tune.space`: the search space file (train options and model options, ranges, types);
- :mod:`~mer_zoo.tune.objective`: a trial, a ``cv`` over the training and validation songs, pruned fold by fold;
- :mod:`~mer_zoo.tune.study`: the checks and split before any trial, the study's name and storage, running trials;
- :mod:`~mer_zoo.tune.parallel`: trials on a Dask cluster, one per worker;
- :mod:`~mer_zoo.tune.report`: a line per trial and the trials table;
- :mod:`~mer_zoo.tune.api`: ``tune``, all of it in one call.
"""

from __future__ import annotations

from mer_zoo.tune.api import TuneResult, tune
from mer_zoo.tune.objective import TuneSetup, objective, trial_config
from mer_zoo.tune.space import TRAIN_OPTIONS, SearchSpace, load_space, parse_space
from mer_zoo.tune.study import TUNE_FILE, storage_url

__all__ = [
    "TRAIN_OPTIONS",
    "TUNE_FILE",
    "SearchSpace",
    "TuneResult",
    "TuneSetup",
    "load_space",
    "objective",
    "parse_space",
    "storage_url",
    "trial_config",
    "tune",
]

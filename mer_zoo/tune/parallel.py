"""Trials on a Dask cluster: one trial per worker at a time, Optuna's storage as the shared state.

The client keeps one task in flight per worker (pinned to it); each task loads the study from
the storage, runs one trial and returns its record; the client starts the next trial on each
worker without one (a worker that joins later included) until ``trials`` are complete or pruned. Workers need mer-zoo installed
and the store, the study folder and an SQLite storage on paths they see as the client does
(a shared file system), or a storage server (``postgresql://...``) for many machines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mer_zoo.errors import InputError, MerZooError, describe
from mer_zoo.pipeline.cluster import check_reachable
from mer_zoo.tune.objective import TRIAL_ERRORS, TuneSetup, objective
from mer_zoo.tune.report import FINISHED, trial_record

__all__ = ["run_on_cluster", "worker_trial"]


def worker_trial(
    setup: TuneSetup, study: str, storage: str, trials: int, prune: bool, seed: int
) -> dict[str, Any] | None:
    """On a worker: one trial of ``study`` (None when ``trials`` are already complete or pruned)."""
    import optuna
    from optuna.study import MaxTrialsCallback

    from mer_zoo.tune.study import finished, make_pruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # trials running side by side differ
    loaded = optuna.load_study(study_name=study, storage=storage, sampler=sampler, pruner=make_pruner(prune))
    if finished(loaded) >= trials:
        return None
    done: list[dict[str, Any]] = []
    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    loaded.optimize(
        lambda trial: objective(trial, setup), n_trials=1, catch=TRIAL_ERRORS,
        callbacks=[MaxTrialsCallback(trials, states=states), lambda _, t: done.append(trial_record(t))],
    )  # fmt: skip
    return done[0] if done else None


def run_on_cluster(
    scheduler: str,
    setup: TuneSetup,
    study: str,
    storage: str,
    *,
    trials: int,
    missing: int,
    prune: bool,
    on_trial: Callable[[dict[str, Any]], None],
) -> None:
    """Run up to ``missing`` trials on the cluster at ``scheduler``, one per worker at a time."""
    if storage.startswith("sqlite:///:memory:"):
        raise InputError("--scheduler needs a storage the workers share: an SQLite file on a shared path or a server")
    check_reachable(scheduler)
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise MerZooError(f"the Dask scheduler at {scheduler} has no workers (waited 60 s)") from None
        pending = as_completed()
        where: dict[Any, str] = {}
        busy: set[str] = set()
        started = 0

        def start(worker: str) -> None:
            nonlocal started
            seed = setup.base.seed * 100_003 + started + missing * 1_000
            future = client.submit(worker_trial, setup, study, storage, trials, prune, seed, workers=[worker],
                                   allow_other_workers=False, pure=False, key=f"mer-zoo-trial-{study}-{started}-{seed}")  # fmt: skip
            where[future.key] = worker
            busy.add(worker)
            pending.add(future)
            started += 1

        def fill() -> None:
            """A trial on every worker without one, workers that joined since included."""
            for worker in sorted(client.scheduler_info()["workers"]):
                if started < missing and worker not in busy:
                    start(worker)

        fill()
        for future in pending:
            busy.discard(where[future.key])
            try:
                record = future.result()
            except MerZooError:
                raise
            except Exception as err:  # a worker that died or could not import mer-zoo
                raise MerZooError(f"a trial failed on Dask worker {where[future.key]}: {describe(err)[:300]}") from None
            if record is not None:
                on_trial(record)
                fill()
    finally:
        client.close()

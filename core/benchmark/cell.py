"""One cell of a benchmark: its search (the lab's search loop, on the cell's study), then its best
configuration retrained on the fresh seeds, paired with every other cell of its workload.

The confirmation is written into the cell's study (user attrs), so a resumed benchmark, or a
worker on another machine, finds it done. While one runner confirms a cell it keeps a claim
fresh in the study, so a second runner leaves the cell to it and comes back later (a claim
left stale for the storage's grace period is taken over: its runner died).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Generator

import optuna

from ..search.counting import counted, counts
from ..search.outcomes import best_of, result_from_frozen
from ..search.outcomes import SearchProgress, TrialResult
from ..search.storage import GRACE_PERIOD
from ..search.study import run_search
from ..training.compare import run_comparison
from .config import BenchmarkConfig, MethodEntry, Workload, evaluations
from .record import CellResult, SeedRun, _clean

CONFIRM_ATTR = "benchmark_confirmation"    # the cell's CellResult, once confirmed
CLAIM_ATTR = "benchmark_confirming"        # [runner id, unix time of its last epoch]
SEARCH_S_ATTR = "benchmark_search_s"       # seconds of search, summed over the runners
RUNNER = uuid.uuid4().hex[:12]             # this process, in claims


@dataclass(frozen=True)
class CellProgress:
    """Where one cell stands: ``epochs_done`` of ``epochs_planned`` (its trials, then its
    seeds); ``fraction`` is the whole benchmark's, in epochs."""

    cell: int
    cells: int
    method: str
    workload: str
    phase: str            # "search" | "confirm"
    epochs_done: int
    epochs_planned: int
    fraction: float = 0.0
    line: str = ""
    elapsed_s: float = 0.0    # since this run of the benchmark started

    @property
    def eta_s(self) -> float | None:
        """Seconds left at this run's pace so far (None before there is a pace). Cells found
        done in the storage count as done, so a resumed run's first estimate is optimistic."""
        if self.fraction <= 0 or self.elapsed_s <= 0:
            return None
        return self.elapsed_s * (1 - self.fraction) / self.fraction


class Busy(Exception):
    """Another runner is confirming this cell right now."""


def stored(study: optuna.Study, config: BenchmarkConfig) -> CellResult | None:
    """The cell's confirmation, if one was stored for these seeds and the study holds all its
    trials."""
    d = study.user_attrs.get(CONFIRM_ATTR)
    if d is None or [r["seed"] for r in d["runs"]] != list(config.confirm_seeds):
        return None
    if d["trials"] < config.trials:
        return None
    return CellResult.from_dict(d)


def run_cell(config: BenchmarkConfig, entry: MethodEntry, workload: Workload,
             study: optuna.Study, stop: threading.Event, report, *, trainer=None,
             claim: bool = False) -> Generator[CellProgress, None, CellResult | None]:
    """Search then confirm one cell; ``report(phase, epochs_done, line)`` makes the progress
    events. Returns the CellResult (None when stopped). With ``claim`` (several runners share
    the storage) a cell another runner is confirming raises :class:`Busy`."""
    done = stored(study, config)
    if done is not None:
        return done
    search = config.search_config(entry, workload)
    start = time.perf_counter()
    seen = 0    # epochs done never go back (a batch's trials are told one by one)
    for event in run_search(search, stop=stop, trainer=trainer, batch=config.parallel,
                            progress=True, _study=study):
        if isinstance(event, SearchProgress):
            seen = max(seen, event.epochs_done)
            yield report("search", seen, f"[{entry.key} on {workload.key}] {event.line()}")
        elif isinstance(event, TrialResult):
            seen = max(seen, counts(study.get_trials(deepcopy=False)).finished * workload.epochs)
            yield report("search", seen,
                         f"[{entry.key} on {workload.key}] trial {event.number} {event.state}")
    if stop.is_set():
        return None
    _add_seconds(study, time.perf_counter() - start)
    if claim and _claimed_by_other(study):
        raise Busy(entry.key, workload.key)
    trials = counted(study.get_trials(deepcopy=False))
    best = best_of(result_from_frozen(entry.method, t) for t in trials)
    seeds = config.confirm_seeds
    start = time.perf_counter()
    if best is None:
        runs = tuple(SeedRun(s, None, None, None, (), True, "the search completed no trial")
                     for s in seeds)
    else:
        runs = yield from _confirm(config, search, best.params, workload, study, stop, report,
                                   claim)
        if runs is None:
            return None
    grads, hvps, steps = evaluations(search, best.params if best else None)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    cell = CellResult(method=entry.key, workload=workload.key,
                      best_params=dict(best.params) if best else None,
                      best_value=best.value if best else None, trials=len(trials),
                      states=states, runs=runs,
                      search_s=float(study.user_attrs.get(SEARCH_S_ATTR, 0.0)),
                      confirm_s=time.perf_counter() - start, grads_per_step=grads,
                      hvps_per_step=hvps, steps_per_epoch=steps, study=study.study_name)
    study.set_user_attr(CONFIRM_ATTR, _clean(cell.to_dict()))
    return cell


def _confirm(config, search, params, workload, study, stop, report, claim):
    """The best configuration on every fresh seed at once (a population where the method has
    the form; core.training.compare's paired runs), tested every epoch (honest split)."""
    seeds = config.confirm_seeds
    run = search.run_config(params, seed=seeds[0])
    curves: dict[int, list] = {s: [] for s in seeds}
    base = config.trials * workload.epochs
    items = run_comparison([run], list(seeds))
    try:
        for item in items:
            if stop.is_set():
                return None
            curves[item.seed].append(item.metrics)
            trained = sum(len(c) for c in curves.values())
            if claim and trained % len(seeds) == 0:
                study.set_user_attr(CLAIM_ATTR, [RUNNER, time.time()])
            yield report("confirm", base + trained,
                         f"[{search.method} on {workload.key}] confirming: seed {item.seed} "
                         f"epoch {item.metrics.epoch}/{workload.epochs}")
    finally:
        items.close()
    return tuple(SeedRun.from_curve(s, curves[s]) for s in seeds)


def _claimed_by_other(study: optuna.Study) -> bool:
    """Whether another runner confirms this cell now; if not, this runner claims it."""
    holder = study.user_attrs.get(CLAIM_ATTR)
    storage = study._storage
    grace = getattr(storage, "grace_period", None) or getattr(storage, "_grace", GRACE_PERIOD)
    if holder and holder[0] != RUNNER and time.time() - holder[1] < grace:
        return True
    study.set_user_attr(CLAIM_ATTR, [RUNNER, time.time()])
    return False


def _add_seconds(study: optuna.Study, seconds: float) -> None:
    # Read-add-write: two runners finishing at the same instant may lose one's share (the cost
    # column is then a little low); nothing else depends on it.
    study.set_user_attr(SEARCH_S_ATTR, float(study.user_attrs.get(SEARCH_S_ATTR, 0.0)) + seconds)


"""A method against Adam with the same search budget, then both confirmed on fresh seeds.

A search picks the best of many trials on one seed, so its best value is optimistic. The
confirmation retrains each side's best configuration on seeds the search never saw
(:func:`fresh_seeds`), the same seeds for both sides, so the comparison is paired.
"""

import threading
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from ..optim.registry import BASELINE, METHODS
from ..stats import Interval, PairedComparison, mean_ci, paired_comparison
from .counting import counted
from .outcomes import Trainer, best_of, best_val, result_from_frozen
from .storage import open_storage
from .study import SearchConfig, default_study_name, open_study, resolve_study_name, run_search
from .trainers import default_trainer

MAX_CONFIRM_SEEDS = 100
SEED_LIMIT = 2**31 - 1


def fresh_seeds(search_seed: int, n: int) -> tuple[int, ...]:
    """``n`` seeds the search never trained on: the ones after its seed (or, when those would
    pass the largest seed, the ones before it)."""
    if not 1 <= n <= MAX_CONFIRM_SEEDS:
        raise ValueError(f"confirmation seeds must be in [1, {MAX_CONFIRM_SEEDS}], got {n}")
    if search_seed + n <= SEED_LIMIT:
        return tuple(search_seed + k for k in range(1, n + 1))
    return tuple(search_seed - k for k in range(1, n + 1))


@dataclass(frozen=True)
class ConfirmationRun:
    """One retraining of a side's best configuration with one seed."""

    side: str
    seed: int
    params: dict
    curve: tuple
    best: float | None         # None when it diverged
    final: float | None
    reason: str | None = None


@dataclass(frozen=True)
class SideSummary:
    side: str
    best_params: dict | None
    best_value: float | None
    trials: int
    best_loss: Interval | None     # over confirmation seeds; None if some seed diverged
    final_loss: Interval | None
    diverged_seeds: tuple = ()


@dataclass(frozen=True)
class DuelSummary:
    method: SideSummary
    baseline: SideSummary
    seeds: tuple
    epochs: int
    best_comparison: PairedComparison | None   # method - baseline, best val loss per seed
    final_comparison: PairedComparison | None
    verdict: str


def confirm_best(config: SearchConfig, params: Mapping, seeds: Sequence[int],
                 epochs: int | None = None, stop: threading.Event | None = None,
                 trainer: Trainer | None = None) -> Iterator[ConfirmationRun]:
    """Retrain ``params`` once per seed for ``epochs`` (default: the search's) and yield each run.

    Seeds train as one population when the method has a population form. Nothing is yielded
    once ``stop`` is set. The search's own seed is refused: it would repeat the best trial.
    """
    if config.seed in seeds:
        raise ValueError(f"seed {config.seed} is the search's own seed; confirm on fresh seeds")
    stop = stop or threading.Event()
    configs = [config.run_config(params, seed=s, epochs=epochs or config.epochs) for s in seeds]
    curves = (trainer or default_trainer(config.method, len(configs)))(
        configs, lambda i, m: not stop.is_set())
    if stop.is_set():
        return
    for s, curve in zip(seeds, curves):
        diverged = bool(curve) and curve[-1].diverged
        yield ConfirmationRun(
            side=config.method, seed=s, params=dict(params), curve=tuple(curve),
            best=None if diverged else best_val(curve),
            final=None if diverged or not curve else curve[-1].val_loss,
            reason=curve[-1].reason if diverged else None)


def confirmation_intervals(runs: Sequence[ConfirmationRun]) -> tuple[Interval | None,
                                                                      Interval | None]:
    """Mean and 95% interval of the best and final validation loss over the confirmation seeds;
    (None, None) when there are none or a seed diverged (a diverged seed has no loss to average)."""
    if not runs or any(r.best is None for r in runs):
        return None, None
    return mean_ci([r.best for r in runs]), mean_ci([r.final for r in runs])


def side_study_names(config: SearchConfig, study_prefix: str | None) -> list[str]:
    """The two studies a duel writes to, the method's then the baseline's: the one place that
    names them, so a page checks access on exactly these (an empty prefix is refused)."""
    prefix = resolve_study_name(study_prefix, f"duel-{default_study_name(config)}")
    return [f"{prefix}-{c.method}" for c in (config, config.for_method(BASELINE))]


def _side_studies(config, storage, study_prefix, storage_kwargs):
    names = side_study_names(config, study_prefix)
    st = open_storage(storage, **(storage_kwargs or {}))
    sides = [config, config.for_method(BASELINE)]
    return [(c, open_study(c, st, name)) for c, name in zip(sides, names)]


def run_duel(config: SearchConfig, confirm_seeds: int = 5, confirm_epochs: int | None = None,
             storage: str | None = None, study_prefix: str | None = None,
             stop: threading.Event | None = None, *, trainer: Trainer | None = None,
             batch: int = 1, storage_kwargs: Mapping | None = None) -> Iterator:
    """Search ``config.method`` and Adam with the same budget, seed and split (trials alternate),
    then retrain each side's best configuration on ``fresh_seeds(config.seed, confirm_seeds)``.

    Yields TrialResult (``side`` says which), then ConfirmationRun per side and seed, then one
    DuelSummary.
    """
    if config.method == BASELINE:
        raise ValueError("a duel compares a method with Adam; pick a method other than Adam")
    seeds = fresh_seeds(config.seed, confirm_seeds)
    stop = stop or threading.Event()
    sides = _side_studies(config, storage, study_prefix, storage_kwargs)
    gens = [run_search(c, stop=stop, trainer=trainer, batch=batch, _study=s) for c, s in sides]
    while gens and not stop.is_set():
        for gen in list(gens):
            try:
                yield next(gen)
            except StopIteration:
                gens.remove(gen)
    for gen in gens:
        gen.close()
    if stop.is_set():
        return
    epochs = confirm_epochs or config.epochs
    summaries = []
    for side_config, study in sides:
        done = counted(study.get_trials(deepcopy=False))
        best = best_of(result_from_frozen(side_config.method, t) for t in done)
        runs: list[ConfirmationRun] = []
        if best is not None:
            for run in confirm_best(side_config, best.params, seeds, epochs, stop, trainer):
                runs.append(run)
                yield run
            if stop.is_set():
                return
        best_loss, final_loss = confirmation_intervals(runs)
        summaries.append((SideSummary(
            side=side_config.method, best_params=best.params if best else None,
            best_value=best.value if best else None, trials=len(done),
            best_loss=best_loss, final_loss=final_loss,
            diverged_seeds=tuple(r.seed for r in runs if r.best is None)), runs))
    yield _summary(config, summaries, seeds, epochs)


def _summary(config, summaries, seeds, epochs) -> DuelSummary:
    (m, m_runs), (b, b_runs) = summaries
    best_cmp = final_cmp = None
    # core.stats.DIVERGENCE_RULE: a diverged confirmation seed stays paired at the worst value
    # of the duel (paired_comparison's default), so it ranks last instead of voiding the duel.
    try:
        if m_runs and b_runs:
            best_cmp = paired_comparison([r.best for r in m_runs], [r.best for r in b_runs])
            final_cmp = paired_comparison([r.final for r in m_runs], [r.final for r in b_runs])
    except ValueError:          # every seed of both sides diverged: nothing to rank
        best_cmp = final_cmp = None
    if best_cmp is not None:
        extra = f"; {best_cmp.diverged_text}" if best_cmp.diverged_text else ""
        verdict = (f"{METHODS[config.method].display_name} vs {METHODS[BASELINE].display_name}"
                   f" on best validation loss: {best_cmp.verdict}{extra} ({best_cmp.reason})")
    else:
        broken = [METHODS[s.side].display_name for s, runs in ((m, m_runs), (b, b_runs))
                  if not runs] or ["both sides"]
        verdict = (f"no verdict: {', '.join(broken)} had no completed trial or diverged on "
                   "every seed")
    return DuelSummary(method=m, baseline=b, seeds=seeds, epochs=epochs,
                       best_comparison=best_cmp, final_comparison=final_cmp, verdict=verdict)


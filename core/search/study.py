"""Optuna searches over a method's registry knobs, duels against Adam, and distributed workers.

A search is a generator: it asks Optuna for a trial (ask-and-tell), trains it, tells the result
and yields a :class:`TrialResult`, so a page or a terminal can draw while it runs. Every trial
trains from the same seed (same initial weights, same batch order), as the write-ups did, so
trials differ only in their hyperparameters. The objective is the best validation loss over the
epochs. A diverged trial is told PRUNED with its reason, never a value: Optuna would record
``inf`` as COMPLETE, and TPE learns from pruned trials that their region is bad.

Workers (``python -m core worker``) use ``study.optimize()`` instead, because Optuna's heartbeat
(which fails and retries the trials of a killed worker) runs inside ``optimize()``.
"""

import math
import threading
import time
import warnings
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..config import EpochMetrics, RunConfig
from ..optim.registry import BASELINE
from .space import SearchSpace, _pairs, search_space
from .storage import (REASON_ATTR, VOID_ATTR, counted, counts, fail_stale, has_heartbeat,
                             open_storage)
from ..stats import Interval, PairedComparison, mean_ci, paired_comparison

SAMPLERS = ("tpe", "random")
MAX_TRIALS = 10_000
STUDY_ATTR = "mnist1d_lab"   # study user attr holding the SearchConfig, so others can attach
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class SearchConfig:
    """One search. ``ranges`` narrow the registry's search ranges; ``fixed`` pins knobs."""

    method: str
    trials: int = 20
    epochs: int = 20
    seed: int = 0
    split: str = "writeup"
    sampler: str = "tpe"
    pruning: bool = False
    ranges: tuple = ()
    fixed: tuple = ()
    batch_size: int = 100
    hidden: tuple = (100, 100)
    device: str = "auto"

    def __post_init__(self):
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) \
                or not 1 <= self.trials <= MAX_TRIALS:
            raise ValueError(f"trials must be a whole number in [1, {MAX_TRIALS}], "
                             f"got {self.trials!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        if not isinstance(self.pruning, bool):
            raise ValueError(f"pruning must be True or False, got {self.pruning!r}")
        ranges = tuple((name, tuple(float(b) for b in bounds))
                       for name, bounds in _pairs(self.ranges, "ranges"))
        if any(len(b) != 2 for _, b in ranges):
            raise ValueError(f"each range needs (low, high), got {ranges}")
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "fixed", _pairs(self.fixed, "fixed"))
        # RunConfig checks epochs, seed, split, batch size, hidden and device for us.
        base = RunConfig(method=self.method, epochs=self.epochs, seed=self.seed, split=self.split,
                         batch_size=self.batch_size, hidden=self.hidden, device=self.device)
        object.__setattr__(self, "hidden", base.hidden)
        self.space()   # raises ValueError for bad ranges / fixed values

    def space(self) -> SearchSpace:
        return search_space(self.method, self.ranges, self.fixed)

    def run_config(self, params: Mapping, seed: int | None = None,
                   epochs: int | None = None) -> RunConfig:
        return RunConfig(method=self.method, **self.space().run_kwargs(params),
                         epochs=self.epochs if epochs is None else epochs,
                         batch_size=self.batch_size,
                         seed=self.seed if seed is None else seed, hidden=self.hidden,
                         split=self.split, device=self.device)

    def for_method(self, method: str) -> "SearchConfig":
        """The same budget for another method (its own registry ranges, nothing fixed)."""
        return replace(self, method=method, ranges=(), fixed=())

    def to_attrs(self) -> dict:
        """JSON-ready; ``trials`` and ``device`` belong to a run, not to the study."""
        return {"method": self.method, "epochs": self.epochs, "seed": self.seed,
                "split": self.split, "sampler": self.sampler, "pruning": self.pruning,
                "ranges": [[n, list(b)] for n, b in self.ranges],
                "fixed": [[n, v] for n, v in self.fixed],
                "batch_size": self.batch_size, "hidden": list(self.hidden)}

    @classmethod
    def from_attrs(cls, attrs: Mapping, trials: int = 20, device: str = "auto") -> "SearchConfig":
        return cls(**{**attrs, "ranges": tuple((n, tuple(b)) for n, b in attrs["ranges"]),
                      "fixed": tuple((n, v) for n, v in attrs["fixed"]),
                      "hidden": tuple(attrs["hidden"])}, trials=trials, device=device)


@dataclass(frozen=True)
class TrialResult:
    side: str                  # the method of this trial's study (a duel has two sides)
    number: int
    params: dict
    value: float | None        # best validation loss; None unless COMPLETE
    state: str                 # "COMPLETE" | "PRUNED" | "FAIL"
    curve: tuple               # EpochMetrics per epoch trained
    duration: float
    reason: str | None = None

    def row(self) -> dict:
        """One flat row for a table or CSV."""
        return {"side": self.side, "number": self.number, "state": self.state,
                "value": self.value, "epochs": len(self.curve),
                "duration": round(self.duration, 3), "reason": self.reason,
                **{f"params_{k}": v for k, v in self.params.items()}}


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


# ---- training -----------------------------------------------------------------------------

KeepGoing = Callable[[int, EpochMetrics], bool]
Trainer = Callable[[Sequence[RunConfig], KeepGoing], list]


def _train_trials(configs: Sequence[RunConfig], keep_going: KeepGoing) -> list[list[EpochMetrics]]:
    """Train each config; ``keep_going(i, metrics)`` is called per epoch and False stops config i.

    The one place where trials are trained, so that a population trainer that trains a batch of
    configs at once can replace it (same signature, same per-epoch callback).
    """
    from ..data import load_mnist1d
    from ..training.train import train
    data = load_mnist1d()
    curves = []
    for i, config in enumerate(configs):
        curve = []
        run = train(config, data)
        try:
            for m in run:
                curve.append(m)
                if not keep_going(i, m):
                    break
        finally:
            run.close()
        curves.append(curve)
    return curves


def default_trainer(method: str, together: int) -> Trainer:
    """The population trainer when several configs of a method that has a population form are
    trained at once (stacked weights, about 3x faster on 2 cores), else one after another."""
    if together > 1:
        from ..training.population import population_trainer, supports_population
        if supports_population(method):
            return population_trainer
    return _train_trials


def best_val(curve: Sequence[EpochMetrics]) -> float | None:
    values = [m.val_loss for m in curve if math.isfinite(m.val_loss)]
    return min(values) if values else None


def _curve_attr(curve) -> list:
    return [{k: v for k, v in m.to_dict().items() if k != "diagnostics"} for m in curve]


def _curve_from_attr(rows) -> tuple:
    def num(v):
        return float("nan") if v is None else v
    return tuple(EpochMetrics(**{**r, "train_loss": num(r["train_loss"]),
                                 "val_loss": num(r["val_loss"]), "val_acc": num(r["val_acc"]),
                                 "lrs": tuple(num(x) for x in r["lrs"])}) for r in rows or ())


def result_from_frozen(side: str, t: FrozenTrial) -> TrialResult:
    duration = t.duration.total_seconds() if t.duration is not None else 0.0
    return TrialResult(side=side, number=t.number, params=dict(t.params),
                       value=t.value if t.state == TrialState.COMPLETE else None,
                       state=t.state.name, curve=_curve_from_attr(t.user_attrs.get("curve")),
                       duration=duration, reason=t.user_attrs.get(REASON_ATTR))


# ---- studies ------------------------------------------------------------------------------

def default_study_name(config: SearchConfig) -> str:
    """Deterministic, so rerunning the same command against a storage resumes the same study."""
    return f"{config.method}-{config.split}-e{config.epochs}-s{config.seed}"


def _sampler(config: SearchConfig, offset: int):
    # The offset makes a resumed (or a worker's) sampler not replay the first run's random draws.
    seed = None if offset is None else config.seed + offset
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: trials asked in a batch (or running on other workers) count as bad guesses
    # until told, so a batch spreads out instead of piling onto one point. Measured: batches of
    # 10 reach the same median best value as one-at-a-time TPE (bench/RESULTS.md).
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(config: SearchConfig):
    return optuna.pruners.MedianPruner() if config.pruning else optuna.pruners.NopPruner()


def _suggest(trial: optuna.Trial, name: str, d):
    if isinstance(d, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log)
    return trial.suggest_float(name, d.low, d.high, log=d.log)


def open_study(config: SearchConfig, storage, study_name: str) -> optuna.Study:
    """Create or attach; a study made for a different search refuses with a ValueError."""
    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize",
                                load_if_exists=True, sampler=_sampler(config, 0),
                                pruner=_pruner(config))
    stored = study.user_attrs.get(STUDY_ATTR)
    wanted = config.to_attrs()
    if stored is None:
        study.set_user_attr(STUDY_ATTR, wanted)
    elif stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ValueError(f"study {study_name!r} was made for a different search (differs in "
                         f"{diff}); use another study name or the same settings")
    n = len(study.get_trials(deepcopy=False))
    if n:
        study.sampler = _sampler(config, n)
    return study


def attach(storage_url: str, study_name: str, trials: int = 20, device: str = "auto",
           **storage_kwargs) -> tuple[optuna.Study, SearchConfig]:
    """Attach to a study that someone made with this lab, reading its settings from the study."""
    storage = open_storage(storage_url, **storage_kwargs)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ValueError(f"no study named {study_name!r} in the storage") from None
    attrs = study.user_attrs.get(STUDY_ATTR)
    if attrs is None:
        raise ValueError(f"study {study_name!r} was not made by this lab (no {STUDY_ATTR} attr)")
    return study, SearchConfig.from_attrs(attrs, trials=trials, device=device)


def study_results(study: optuna.Study, side: str | None = None) -> list[TrialResult]:
    """Every trial of a study (running ones included, state RUNNING), for watching it live."""
    side = side or study.user_attrs.get(STUDY_ATTR, {}).get("method", "?")
    return [result_from_frozen(side, t) for t in study.get_trials(deepcopy=False)]


class _Heartbeat:
    """Beats for a trial told through ask-and-tell, which Optuna's own heartbeat does not cover,
    so that a killed search's RUNNING trial is failed and retried like a killed worker's."""

    def __init__(self, storage, trial_id: int):
        self.storage, self.trial_id, self.done = storage, trial_id, threading.Event()
        self.thread = None

    def __enter__(self):
        if has_heartbeat(self.storage):
            self.storage.record_heartbeat(self.trial_id)
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def _beat(self):
        while not self.done.wait(self.storage.get_heartbeat_interval()):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:   # a lost beat only risks a retry; never kill the search for it
                pass

    def __exit__(self, *exc):
        self.done.set()
        if self.thread is not None:
            self.thread.join()


# ---- the search ---------------------------------------------------------------------------

def _finish(study, trial, config, curve, pruned_at, side, duration) -> TrialResult:
    """Tell Optuna how a trained trial ended and describe it."""
    trial.set_user_attr("curve", _curve_attr(curve))
    value, reason = best_val(curve), None
    if curve and curve[-1].diverged:
        state, reason = TrialState.PRUNED, f"diverged: {curve[-1].reason}"
    elif pruned_at is not None:
        state, reason = TrialState.PRUNED, f"pruned by the median rule after epoch {pruned_at}"
    elif value is None:
        state, reason = TrialState.FAIL, "no finite validation loss"
    else:
        state = TrialState.COMPLETE
    if reason:
        trial.set_user_attr(REASON_ATTR, reason)
    study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    return TrialResult(side=side, number=trial.number, params=dict(trial.params),
                       value=value if state == TrialState.COMPLETE else None, state=state.name,
                       curve=tuple(curve), duration=duration, reason=reason)


def run_search(config: SearchConfig, storage: str | None = None, study_name: str | None = None,
               stop: threading.Event | None = None, *, trainer: Trainer | None = None,
               batch: int = 1, storage_kwargs: Mapping | None = None,
               _study: optuna.Study | None = None) -> Iterator[TrialResult]:
    """Run ``config`` and yield each finished trial.

    With a storage URL and an existing study name, the study resumes: its counted trials are
    kept and the search runs until the study holds ``config.trials`` of them. ``stop`` (or closing
    the generator) ends the search between epochs; the unfinished trial is voided, not counted.
    ``batch`` trials are asked at once and handed to ``trainer`` together (by default the
    population trainer when ``batch > 1``).
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 256:
        raise ValueError(f"batch must be a whole number in [1, 256], got {batch!r}")
    trainer = trainer or default_trainer(config.method, batch)
    stop = stop or threading.Event()
    study = _study or open_study(config, open_storage(storage, **(storage_kwargs or {})),
                                 study_name or default_study_name(config))
    space = config.space()
    while not stop.is_set():
        fail_stale(study)
        left = config.trials - counts(study.get_trials(deepcopy=False)).finished
        if left <= 0:
            return
        with warnings.catch_warnings():
            # We beat for ask-and-tell trials ourselves (_Heartbeat), so Optuna's warning that
            # its heartbeat only covers optimize() does not apply.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            asked = [study.ask(dict(space.distributions)) for _ in range(min(batch, left))]
        told: set[int] = set()
        try:
            heartbeats = [_Heartbeat(study._storage, t._trial_id).__enter__() for t in asked]
            configs = [config.run_config(t.params) for t in asked]
            pruned_at: dict[int, int] = {}
            start = time.perf_counter()

            def keep_going(i: int, m: EpochMetrics) -> bool:
                if stop.is_set():
                    return False
                if m.diverged or not math.isfinite(m.val_loss):
                    return False
                asked[i].report(m.val_loss, m.epoch)
                if asked[i].should_prune():
                    pruned_at[i] = m.epoch
                    return False
                return True

            curves = trainer(configs, keep_going)
            duration = (time.perf_counter() - start) / len(asked)
            for hb in heartbeats:
                hb.__exit__()
            if stop.is_set():
                break
            for i, (trial, curve) in enumerate(zip(asked, curves)):
                result = _finish(study, trial, config, curve, pruned_at.get(i), config.method,
                                 duration)
                told.add(trial.number)
                yield result
        finally:
            for trial in asked:
                if trial.number not in told:
                    try:
                        trial.set_user_attr(VOID_ATTR, True)
                        trial.set_user_attr(REASON_ATTR, "stopped before it finished")
                        study.tell(trial, state=TrialState.FAIL)
                    except Exception:
                        pass
            for hb in locals().get("heartbeats", []):
                hb.__exit__()


def best_of(trials) -> TrialResult | None:
    """The COMPLETE trial with the lowest value (lowest number on ties)."""
    done = [t for t in trials if isinstance(t, TrialResult) and t.state == "COMPLETE"
            and t.value is not None]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def _side_studies(config, storage, study_prefix, storage_kwargs):
    prefix = study_prefix or f"duel-{default_study_name(config)}"
    st = open_storage(storage, **(storage_kwargs or {}))
    sides = [config, config.for_method(BASELINE)]
    return [(c, open_study(c, st, f"{prefix}-{c.method}")) for c in sides]


def confirm_best(config: SearchConfig, params: Mapping, seeds: Sequence[int],
                 epochs: int | None = None, stop: threading.Event | None = None,
                 trainer: Trainer | None = None) -> Iterator[ConfirmationRun]:
    """Retrain ``params`` once per seed for ``epochs`` (default: the search's) and yield each run.

    A search picks the best of many trials on one seed, so its best value is optimistic; this
    says how that configuration does on seeds it was not picked on. Seeds train as one population
    when the method has a population form. Nothing is yielded once ``stop`` is set.
    """
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


def run_duel(config: SearchConfig, confirm_seeds: int = 5, confirm_epochs: int | None = None,
             storage: str | None = None, study_prefix: str | None = None,
             stop: threading.Event | None = None, *, trainer: Trainer | None = None,
             batch: int = 1, storage_kwargs: Mapping | None = None) -> Iterator:
    """Search ``config.method`` and Adam with the same budget, seed and split (trials alternate),
    then retrain each side's best configuration over ``confirm_seeds`` seeds and compare.

    Yields TrialResult (``side`` says which), then ConfirmationRun per side and seed, then one
    DuelSummary. The confirmation seeds are ``config.seed, config.seed + 1, ...``, the same for
    both sides, so the comparison is paired.
    """
    if config.method == BASELINE:
        raise ValueError("a duel compares a method with Adam; pick a method other than Adam")
    if not 1 <= confirm_seeds <= 100:
        raise ValueError(f"confirm_seeds must be in [1, 100], got {confirm_seeds}")
    stop = stop or threading.Event()
    sides = _side_studies(config, storage, study_prefix, storage_kwargs)
    gens = [run_search(c, stop=stop, trainer=trainer, batch=batch, _study=s) for c, s in sides]
    results: dict[str, list[TrialResult]] = {c.method: [] for c, _ in sides}
    while gens and not stop.is_set():
        for gen in list(gens):
            try:
                r = next(gen)
            except StopIteration:
                gens.remove(gen)
                continue
            results[r.side].append(r)
            yield r
    for gen in gens:
        gen.close()
    if stop.is_set():
        return
    epochs = confirm_epochs or config.epochs
    seeds = tuple(config.seed + k for k in range(confirm_seeds))
    summaries = []
    for side_config, study in sides:
        best = best_of(result_from_frozen(side_config.method, t)
                       for t in counted(study.get_trials(deepcopy=False)))
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
            best_value=best.value if best else None,
            trials=len(counted(study.get_trials(deepcopy=False))),
            best_loss=best_loss, final_loss=final_loss,
            diverged_seeds=tuple(r.seed for r in runs if r.best is None)), runs))
    (m, m_runs), (b, b_runs) = summaries
    best_cmp = final_cmp = None
    if m.best_loss is not None and b.best_loss is not None:
        best_cmp = paired_comparison([r.best for r in m_runs], [r.best for r in b_runs])
        final_cmp = paired_comparison([r.final for r in m_runs], [r.final for r in b_runs])
        verdict = (f"{config.method} vs {BASELINE} on best validation loss: {best_cmp.verdict} "
                   f"({best_cmp.reason})")
    else:
        broken = [s.side for s in (m, b) if s.best_loss is None]
        verdict = f"no verdict: {', '.join(broken)} had no completed trial or diverged on a seed"
    yield DuelSummary(method=m, baseline=b, seeds=seeds, epochs=epochs,
                      best_comparison=best_cmp, final_comparison=final_cmp, verdict=verdict)


# ---- distributed workers ------------------------------------------------------------------

class _Surplus(Exception):
    """A worker started a trial after the study was already full (two workers raced)."""


def run_worker(storage: str, study_name: str, trials: int, *, device: str = "auto",
               heartbeat_interval: int | None = None, grace_period: int | None = None,
               log: Callable[[str], None] = print, stop: threading.Event | None = None) -> int:
    """Pull trials of a shared study until it counts ``trials`` finished trials.

    Uses ``study.optimize()`` one trial at a time so Optuna's heartbeat covers each trial; while
    other workers' trials are running, waits for them (a stale one is failed and retried, and
    this worker may pick the retry up). Returns how many trials this worker finished.
    """
    kwargs = {k: v for k, v in (("heartbeat_interval", heartbeat_interval),
                                ("grace_period", grace_period)) if v is not None}
    study, config = attach(storage, study_name, trials=trials, device=device, **kwargs)
    study.sampler = _sampler(config, None)   # unseeded: seeded workers would propose alike
    study.pruner = _pruner(config)
    stop = stop or threading.Event()
    space = config.space()
    heartbeat = has_heartbeat(study._storage)
    poll = study._storage.get_heartbeat_interval() if heartbeat else 1
    done = 0

    def objective(trial: optuna.Trial) -> float:
        trial_now = study._storage.get_trial(trial._trial_id)
        if "failed_trial" not in trial_now.system_attrs:
            others = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
            c = counts(others)
            if c.finished + c.running + c.waiting >= trials:
                trial.set_user_attr(VOID_ATTR, True)
                trial.set_user_attr(REASON_ATTR, "surplus: the study was already full")
                raise _Surplus()
        params = {name: _suggest(trial, name, d) for name, d in space.distributions.items()}
        pruned_at = []

        def keep_going(i, m):
            if stop.is_set() or m.diverged or not math.isfinite(m.val_loss):
                return False
            trial.report(m.val_loss, m.epoch)
            if trial.should_prune():
                pruned_at.append(m.epoch)
                return False
            return True

        curve = _train_trials([config.run_config(params)], keep_going)[0]
        trial.set_user_attr("curve", _curve_attr(curve))
        if stop.is_set():
            trial.set_user_attr(VOID_ATTR, True)
            trial.set_user_attr(REASON_ATTR, "stopped before it finished")
            raise RuntimeError("worker stopped")
        if curve and curve[-1].diverged:
            trial.set_user_attr(REASON_ATTR, f"diverged: {curve[-1].reason}")
            raise optuna.TrialPruned()
        if pruned_at:
            trial.set_user_attr(REASON_ATTR, f"pruned by the median rule after epoch {pruned_at[0]}")
            raise optuna.TrialPruned()
        value = best_val(curve)
        if value is None:
            trial.set_user_attr(REASON_ATTR, "no finite validation loss")
            raise RuntimeError("no finite validation loss")
        return value

    def report(study_, frozen: FrozenTrial) -> None:
        nonlocal done
        if frozen.user_attrs.get(VOID_ATTR):
            return
        done += 1
        log(trial_line(result_from_frozen(config.method, frozen)))

    while not stop.is_set():
        fail_stale(study)
        c = counts(study.get_trials(deepcopy=False))
        if c.finished >= trials:
            break
        if c.finished + c.running + c.waiting >= trials and not c.waiting:
            if not heartbeat or not c.running:
                break
            time.sleep(poll)   # others are running the last trials; take over if they die
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[report])
    return done


def trial_line(r: TrialResult) -> str:
    params = " ".join(f"{k}={v:.4g}" for k, v in r.params.items())
    value = f"{r.value:.4f}" if r.value is not None else "-"
    line = (f"[{r.side}] trial {r.number:3d}  {r.state:8s}  value {value:>8s}  {params}  "
            f"({len(r.curve)} ep, {r.duration:.1f}s)")
    return line + (f"  # {r.reason}" if r.reason else "")

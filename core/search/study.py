"""Optuna searches over a method's registry knobs: the settings, the study, and the search loop.

A search is a generator: it asks Optuna for trials (ask-and-tell), trains them, tells the results
and yields a :class:`TrialResult` each, so a page or a terminal can draw while it runs. Every
trial trains from the same seed (same initial weights, same batch order), as the write-ups did,
so trials differ only in their hyperparameters. How a trial ends is :mod:`.outcomes`; how many
trials a study may hold when several processes share it is :mod:`.counting`.

The same loop serves a search, each side of a duel (:mod:`.duel`) and a distributed worker
(:mod:`.worker`). Each trial beats a heartbeat while it trains, so a killed process's trial is
failed and retried (with the same parameters) by whoever runs the study next.
"""

import contextlib
import logging
import math
import threading
import time
import warnings
from dataclasses import InitVar, dataclass, replace
from functools import partial
from typing import Callable, Generator, Iterator, Mapping

import optuna
from optuna.trial import TrialState

from ..config import RUN_SETTINGS, RunConfig
from ..models import DEFAULT_MODEL
from ..optim.registry import BASELINE
from ..schedules import get_schedule
from .counting import counts, is_surplus, to_start
from .outcomes import (REASON_ATTR, VOID_ATTR, SearchProgress, Trainer, TrialResult, Watch,
                       best_of, outcome, record, result_from_frozen)
from .space import SCHEDULE, SearchSpace, _pairs, search_space
from .storage import BeatWatch, Heartbeat, fail_stale, has_heartbeat, open_storage
from .trainers import default_trainer, epoch_by_epoch

__all__ = ["BASELINE", "SAMPLERS", "SearchConfig", "SearchProgress", "TrialResult", "attach",
           "best_of", "default_study_name", "open_study", "resolve_study_name", "run_search",
           "study_results"]

SAMPLERS = ("tpe", "random")
MAX_TRIALS = 10_000
STUDY_ATTR = "mnist1d_lab"   # study user attr holding the SearchConfig, so others can attach
STARTUP_ATTR = "startup_trials"   # study user attr: TPE's random start-up trials, as last run
optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)


def default_startup_trials(trials: int) -> int:
    """TPE's random start: a quarter of the budget, at most Optuna's default of 10, so that a
    10-trial search is not pure random search (Optuna's default would make it one)."""
    return max(1, min(10, math.ceil(trials / 4)))


@dataclass(frozen=True)
class SearchConfig:
    """One search. ``ranges`` narrow the registry's search ranges; ``fixed`` pins knobs.
    ``startup_trials`` is TPE's number of random trials before it models (None: scaled to
    ``trials`` by :func:`default_startup_trials`). The run settings every trial shares are the
    fields named like core/config.py's ``RUN_SETTINGS`` (``model`` with its knobs in
    ``shape``, which ``hidden=`` sets for the MLP) and, for a setting without a field here,
    ``settings`` (name, value) pairs: a new run setting needs no edit here."""

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
    device: str = "auto"
    startup_trials: int | None = None
    # The lr schedule of every trial, or, with two or more ``schedules``, a categorical knob.
    schedule: str = "constant"
    schedule_params: tuple = ()
    schedules: tuple = ()
    model: str = DEFAULT_MODEL
    shape: tuple = ()
    settings: tuple = ()
    hidden: InitVar = None

    def __post_init__(self, hidden):
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) \
                or not 1 <= self.trials <= MAX_TRIALS:
            raise ValueError(f"trials must be a whole number in [1, {MAX_TRIALS}], "
                             f"got {self.trials!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        if not isinstance(self.pruning, bool):
            raise ValueError(f"pruning must be True or False, got {self.pruning!r}")
        startup = self.startup_trials
        if startup is None:
            startup = default_startup_trials(self.trials)
        if isinstance(startup, bool) or not isinstance(startup, int) \
                or not 1 <= startup <= MAX_TRIALS:
            raise ValueError(f"startup_trials must be a whole number in [1, {MAX_TRIALS}], "
                             f"got {startup!r}")
        object.__setattr__(self, "startup_trials", startup)
        ranges = tuple((name, tuple(float(b) for b in bounds))
                       for name, bounds in _pairs(self.ranges, "ranges"))
        if any(len(b) != 2 for _, b in ranges):
            raise ValueError(f"each range needs (low, high), got {ranges}")
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "fixed", _pairs(self.fixed, "fixed"))
        object.__setattr__(self, "schedule_params",
                           _pairs(self.schedule_params, "schedule_params"))
        object.__setattr__(self, "schedules", tuple(self.schedules))
        # RunConfig checks the run settings (model and knobs included) for us.
        shape = dict(self.shape)
        if hidden is not None:
            shape["hidden"] = hidden
        object.__setattr__(self, "shape", tuple(sorted(shape.items())))
        base = RunConfig(method=self.method, **self.run_settings())
        object.__setattr__(self, "shape", base.shape)
        object.__setattr__(self, "settings", tuple(
            (name, getattr(base, name)) for name, _ in _pairs(self.settings, "settings")))
        space = self.space()   # raises ValueError for bad ranges / fixed values
        # Every schedule a trial may get fits the run (a warm-up as long as the run does not).
        defaults = base.spec.defaults()
        choice = space.distributions.get(SCHEDULE)
        for key in (choice.choices if choice is not None else (space.schedule,)):
            probe = {k: defaults[k] for k in space.distributions if k != SCHEDULE}
            RunConfig(method=self.method, **{**self.run_settings(), **space.run_kwargs(
                {**probe, **({SCHEDULE: key} if choice else {})})})

    def run_settings(self) -> dict:
        """Every run setting the trials share, as RunConfig keyword arguments."""
        extra = dict(self.settings)
        unknown = set(extra) - {s.name for s in RUN_SETTINGS}
        if unknown:
            raise ValueError(f"unknown run setting(s) {sorted(unknown)}")
        values = {s.name: getattr(self, s.name) if s.name in _FIELDS else extra.get(s.name, s.default)
                  for s in RUN_SETTINGS}
        # The schedule's knobs it takes (a tuned search may give knobs of other schedules).
        takes = {hp.name for hp in get_schedule(self.schedule).knobs}
        return {**values, "shape": dict(self.shape),
                "schedule_params": {k: v for k, v in self.schedule_params if k in takes}}

    def __getattr__(self, name: str):
        # A model knob (``config.hidden``) or a run setting without a field of its own.
        if not name.startswith("_"):
            for key, value in self.__dict__.get("shape", ()):
                if key == name:
                    return value
            if name in {s.name for s in RUN_SETTINGS} and "settings" in self.__dict__:
                return self.run_settings()[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def guided_trials(self) -> int:
        """Trials the sampler proposes from a model of earlier ones (0: pure random search)."""
        return 0 if self.sampler == "random" else max(0, self.trials - self.startup_trials)

    def space(self) -> SearchSpace:
        return search_space(self.method, self.ranges, self.fixed, self.schedule,
                            self.schedule_params, self.schedules)

    def run_config(self, params: Mapping, seed: int | None = None,
                   epochs: int | None = None) -> RunConfig:
        run = self.run_settings()
        run["epochs"] = self.epochs if epochs is None else epochs
        run["seed"] = self.seed if seed is None else seed
        return RunConfig(method=self.method, **{**run, **self.space().run_kwargs(params)})

    def for_method(self, method: str) -> "SearchConfig":
        """The same budget for another method (its own registry ranges, nothing fixed)."""
        return replace(self, method=method, ranges=(), fixed=(), hidden=None)

    def to_attrs(self) -> dict:
        """JSON-ready; ``trials``, ``startup_trials`` and ``device`` belong to a run, not to
        the study (a resumed study may grow). The model's knobs go under their own names; a run
        setting newer than the study format (the model, the lr schedule, ...) only when away
        from its default, so studies made before it existed still attach."""
        attrs = {"method": self.method, "epochs": self.epochs, "seed": self.seed,
                 "split": self.split, "sampler": self.sampler, "pruning": self.pruning,
                 "ranges": [[n, list(b)] for n, b in self.ranges],
                 "fixed": [[n, v] for n, v in self.fixed],
                 "batch_size": self.batch_size}
        run = self.run_settings()
        for setting in RUN_SETTINGS:
            if setting.name not in attrs and setting.name != "device" \
                    and run[setting.name] != setting.default:
                attrs[setting.name] = run[setting.name]
        attrs.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.shape})
        if self.schedule != "constant" or self.schedule_params or self.schedules:
            attrs.update(schedule=self.schedule,
                         schedule_params=[[n, v] for n, v in self.schedule_params],
                         schedules=list(self.schedules))
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Mapping, trials: int = 20, device: str = "auto",
                   startup_trials: int | None = None) -> "SearchConfig":
        attrs = dict(attrs)
        own = {"method", "sampler", "pruning", "ranges", "fixed", *_FIELDS}
        run = {s.name for s in RUN_SETTINGS}
        kwargs = {k: attrs.pop(k) for k in list(attrs) if k in own}
        kwargs["ranges"] = tuple((n, tuple(b)) for n, b in kwargs["ranges"])
        kwargs["fixed"] = tuple((n, v) for n, v in kwargs["fixed"])
        kwargs["schedule_params"] = tuple((n, v) for n, v in attrs.pop("schedule_params", ()))
        kwargs["schedules"] = tuple(attrs.pop("schedules", ()))
        if "schedule" in attrs:
            kwargs["schedule"] = attrs.pop("schedule")
        settings = tuple((k, attrs.pop(k)) for k in list(attrs) if k in run)
        # what is left are the model's knobs, under their own names
        return cls(**kwargs, shape=attrs, settings=settings, trials=trials, device=device,
                   startup_trials=startup_trials)


# The run settings SearchConfig holds as fields of its own (the rest go in ``settings``).
_FIELDS = tuple(s.name for s in RUN_SETTINGS if s.name in SearchConfig.__dataclass_fields__)
del SearchConfig.hidden   # the InitVar's default would shadow __getattr__


def default_study_name(config: SearchConfig) -> str:
    """Deterministic, so rerunning the same command against a storage resumes the same study
    (a model other than the default is named too, so an MLP study is never resumed for it)."""
    model = "" if config.model == DEFAULT_MODEL else f"-{config.model}"
    return f"{config.method}{model}-{config.split}-e{config.epochs}-s{config.seed}"


def resolve_study_name(study_name: str | None, default: str) -> str:
    """The one name a search writes to: ``study_name`` as given, ``default`` when it is None.
    An empty or blank name is refused: falling back to the default would write into a study
    that a check made on the empty name never looked at (someone else's)."""
    if study_name is None:
        return default
    if not isinstance(study_name, str) or not study_name.strip():
        raise ValueError(f"the study name is empty ({study_name!r}): name the study")
    return study_name


def make_sampler(config: SearchConfig, offset: int | None):
    """``offset`` makes a resumed sampler not replay the first run's random draws; None gives an
    unseeded sampler (workers: seeded ones would all propose alike)."""
    seed = None if offset is None else config.seed + offset
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: trials asked in a batch (or running on other workers) count as bad guesses
    # until told, so a batch spreads out instead of piling onto one point. Measured: batches of
    # 10 reach the same median best value as one-at-a-time TPE (bench/RESULTS.md).
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                      n_startup_trials=config.startup_trials)


def make_pruner(config: SearchConfig):
    return optuna.pruners.MedianPruner() if config.pruning else optuna.pruners.NopPruner()


def open_study(config: SearchConfig, storage, study_name: str) -> optuna.Study:
    """Create or attach; a study made for a different search refuses with a ValueError."""
    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize",
                                load_if_exists=True, sampler=make_sampler(config, 0),
                                pruner=make_pruner(config))
    stored = study.user_attrs.get(STUDY_ATTR)
    wanted = config.to_attrs()
    if stored is None:
        study.set_user_attr(STUDY_ATTR, wanted)
    elif stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ValueError(f"study {study_name!r} was made for a different search (differs in "
                         f"{diff}); use another study name or the same settings")
    if study.user_attrs.get(STARTUP_ATTR) != config.startup_trials:
        study.set_user_attr(STARTUP_ATTR, config.startup_trials)
    n = len(study.get_trials(deepcopy=False))
    if n:
        study.sampler = make_sampler(config, n)
    return study


def load_lab_study(storage_url: str, study_name: str, attr: str, what: str,
                   **storage_kwargs) -> tuple[optuna.Study, object]:
    """A study this lab made and the settings it stored under user attr ``attr``; ValueError in
    words when there is no such study (``what``: "study", "benchmark") or it lacks the attr."""
    storage = open_storage(storage_url, **storage_kwargs)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ValueError(f"no {what} named {study_name!r} in the storage") from None
    attrs = study.user_attrs.get(attr)
    if attrs is None:
        kind = "" if what == "study" else f" as a {what}"
        raise ValueError(f"study {study_name!r} was not made by this lab{kind} (no {attr} attr)")
    return study, attrs


def attach(storage_url: str, study_name: str, trials: int = 20, device: str = "auto",
           **storage_kwargs) -> tuple[optuna.Study, SearchConfig]:
    """Attach to a study that someone made with this lab, reading its settings from the study."""
    study, attrs = load_lab_study(storage_url, study_name, STUDY_ATTR, "study", **storage_kwargs)
    return study, SearchConfig.from_attrs(attrs, trials=trials, device=device,
                                          startup_trials=study.user_attrs.get(STARTUP_ATTR))


def study_results(study: optuna.Study, side: str | None = None) -> list[TrialResult]:
    """Every trial of a study (running ones included, state RUNNING), for watching it live."""
    side = side or study.user_attrs.get(STUDY_ATTR, {}).get("method", "?")
    return [result_from_frozen(side, t) for t in study.get_trials(deepcopy=False)]


def _void(study: optuna.Study, trial, reason: str) -> None:
    try:
        trial.set_user_attr(VOID_ATTR, True)
        trial.set_user_attr(REASON_ATTR, reason)
        study.tell(trial, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:   # already failed as stale: retried
        pass


def _ask(study: optuna.Study, space: SearchSpace, n: int, wanted: int) -> list:
    """``n`` trials to train (queued retries first); surplus ones are voided, not returned."""
    with warnings.catch_warnings():
        # We beat for ask-and-tell trials ourselves (Heartbeat), so Optuna's warning that its
        # heartbeat only covers optimize() does not apply.
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        asked = [study.ask(dict(space.distributions)) for _ in range(n)]
    trials = study.get_trials(deepcopy=False)
    frozen = {t.number: t for t in trials}
    kept = []
    for trial in asked:
        if is_surplus(frozen[trial.number], trials, wanted):
            _void(study, trial, "surplus: the study was already full")
        else:
            kept.append(trial)
    return kept


def _epochs(steps: Generator[None, None, list], report: Callable[[], SearchProgress] | None
            ) -> Generator[SearchProgress, None, list]:
    """Run a step-by-step trainer to its end (its curves), yielding ``report()`` as it starts
    and after every epoch."""
    try:
        while True:
            if report is not None:
                yield report()
            try:
                next(steps)
            except StopIteration as end:
                return end.value
    finally:
        steps.close()


def run_search(config: SearchConfig, storage: str | None = None, study_name: str | None = None,
               stop: threading.Event | None = None, *, trainer: Trainer | None = None,
               batch: int = 1, storage_kwargs: Mapping | None = None, progress: bool = False,
               _study: optuna.Study | None = None) -> Iterator[TrialResult | SearchProgress]:
    """Run ``config`` and yield each finished trial.

    With a storage URL and an existing study name, the study resumes: its counted trials are
    kept and the search runs until the study holds ``config.trials`` of them. Trials that other
    processes are running count too; when only they are left, the search waits for them (a dead
    one's trial is failed after the grace period, retried, and may be picked up here). ``stop``
    (or closing the generator) ends the search between epochs; the unfinished trials are voided,
    not counted. ``batch`` trials are asked at once and handed to ``trainer`` together (by default
    the population trainer when ``batch > 1``). With ``progress``, a :class:`SearchProgress`
    is yielded as each batch starts and after each of its epochs, before its trials' results.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 256:
        raise ValueError(f"batch must be a whole number in [1, 256], got {batch!r}")
    trainer = trainer or default_trainer(config.method, batch)
    stop = stop or threading.Event()
    study = _study or open_study(config, open_storage(storage, **(storage_kwargs or {})),
                                 resolve_study_name(study_name, default_study_name(config)))
    space = config.space()
    beats = has_heartbeat(study._storage)
    watch_beats = BeatWatch(study, log)
    batch_number = 0
    while not stop.is_set():
        fail_stale(study)
        trials = study.get_trials(deepcopy=False)
        n = to_start(trials, config.trials, batch)
        if n == 0:
            if counts(trials).running == 0 or not beats:
                return
            # Only other processes' trials are left: wait for them, or for their heartbeat to
            # go stale (then their retries are started here). The wait is bounded: a trial
            # nobody beats for the grace period is failed here (BeatWatch).
            watch_beats.check(trials)
            stop.wait(study._storage.get_heartbeat_interval())
            continue
        done = counts(trials).finished
        asked = _ask(study, space, n, config.trials)
        told: set[int] = set()
        try:
            watch = Watch(asked, stop.is_set)
            batch_number += 1
            batches = batch_number + math.ceil(max(0, config.trials - done - n) / batch)
            start = time.perf_counter()
            report = partial(watch.progress, config.method, batch_number, batches,
                             config.epochs, done, config.trials) if progress else None
            with contextlib.ExitStack() as stack:
                for trial in asked:
                    stack.enter_context(Heartbeat(study._storage, trial._trial_id, log))
                curves = (yield from _epochs(epoch_by_epoch(
                    trainer, [config.run_config(t.params) for t in asked], watch.keep_going),
                    report)) if asked else []
            duration = (time.perf_counter() - start) / max(1, len(asked))
            if stop.is_set():
                break
            for i, (trial, curve) in enumerate(zip(asked, curves)):
                state, value, reason = outcome(curve, watch.pruned_at.get(i))
                told.add(trial.number)
                try:
                    record(trial, curve, reason, space.fixed)
                    study.tell(trial, value, state=state)
                except optuna.exceptions.UpdateFinishedTrialError:
                    # Another runner found its heartbeat late (a very busy machine) and failed
                    # it; the retry it queued stands for this trial.
                    log.warning("trial %d was failed as stale while it trained; its retry "
                                "stands for it", trial.number)
                    continue
                yield TrialResult(side=config.method, number=trial.number,
                                  params=dict(trial.params), value=value, state=state.name,
                                  curve=tuple(curve), duration=duration, reason=reason)
        finally:
            for trial in asked:
                if trial.number not in told:
                    _void(study, trial, "stopped before it finished")

"""A benchmark's frozen, validated description, its cells' searches and studies, and its budget.

Everything a benchmark will do is checked here, before anything trains: every method and model
exists, every fixed knob is inside its range, every cell's search can be built (the schedule fits
the epochs, the model takes its knobs), the baseline and the reference method are among the
methods, trials and seeds are at least 1. A mistake is a ValueError that names it.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..budget import Plan, Work, estimate, merge_mix, steps_per_epoch
from ..config import RunConfig
from ..models import all_knobs, get_model
from ..optim.registry import BASELINE, get_method
from ..schedules import DEFAULT as DEFAULT_SCHEDULE
from ..schedules import KNOBS as SCHEDULE_KNOBS
from ..search.duel import MAX_CONFIRM_SEEDS, fresh_seeds
from ..search.study import MAX_TRIALS, SAMPLERS, SearchConfig

SPLIT = "honest"     # a benchmark never validates on its test set
MAX_CELLS = 400
DEFAULT_MARGINS = {"test_acc": 0.01, "test_loss": 0.02}   # the differences that matter
METRICS = ("test_acc", "test_loss")


def _pairs(value) -> tuple:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in items))


def _num(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else f"{v:g}" \
        if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Workload:
    """A model with its shape knobs, epochs, batch size and lr schedule."""

    model: str
    shape: Any = ()
    epochs: int = 20
    batch_size: int = 100
    schedule: str = DEFAULT_SCHEDULE
    schedule_params: Any = ()

    def __post_init__(self):
        spec = get_model(self.model)   # an unknown model is a ValueError listing the known ones
        # A knob at its default is left out, so the same workload has one key (and study names)
        # however it was written.
        shape_defaults = {k.name: k.default for k in spec.knobs}
        object.__setattr__(self, "shape", tuple(
            (k, v) for k, v in _pairs(self.shape) if shape_defaults.get(k, object()) != v))
        object.__setattr__(self, "schedule_params", tuple(
            (k, v) for k, v in _pairs(self.schedule_params)
            if k not in SCHEDULE_KNOBS or SCHEDULE_KNOBS[k].default != v))
        # RunConfig checks epochs, batch size, the model's knobs and the schedule's.
        RunConfig(model=self.model, shape=dict(self.shape), epochs=self.epochs,
                  batch_size=self.batch_size, schedule=self.schedule,
                  schedule_params=dict(self.schedule_params))

    @property
    def key(self) -> str:
        """Unique within a benchmark; part of the cell's study name."""
        shape = "".join(f"-{k}{_num(v)}" for k, v in self.shape)
        sched = "" if self.schedule == DEFAULT_SCHEDULE and not self.schedule_params else \
            f"-{self.schedule}" + "".join(f"-{k}{_num(v)}" for k, v in self.schedule_params)
        return f"{self.model}{shape}-e{self.epochs}-b{self.batch_size}{sched}"

    @property
    def label(self) -> str:
        spec = get_model(self.model)
        knobs = ", ".join(f"{k}={_num(v)}" for k, v in self.shape)
        return f"{spec.display_name}" + (f" ({knobs})" if knobs else "")

    def to_dict(self) -> dict:
        return {"model": self.model, "shape": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in self.shape},
                "epochs": self.epochs, "batch_size": self.batch_size,
                "schedule": self.schedule, "schedule_params": dict(self.schedule_params)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Workload":
        return cls(**d)


@dataclass(frozen=True)
class MethodEntry:
    """A registry method searched over its registry space, ``fixed`` knobs pinned; ``schedule``
    (None: the workload's) gives the entry an lr schedule of its own."""

    method: str
    fixed: Any = ()
    schedule: str | None = None
    schedule_params: Any = ()

    def __post_init__(self):
        spec = get_method(self.method)
        fixed = _pairs(self.fixed)
        spec.resolve(dict(fixed))   # an unknown knob or one outside its range: ValueError
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "schedule_params", _pairs(self.schedule_params))

    @property
    def key(self) -> str:
        fixed = "".join(f"-{k}{_num(v)}" for k, v in self.fixed)
        sched = "" if self.schedule is None else f"-{self.schedule}" + "".join(
            f"-{k}{_num(v)}" for k, v in self.schedule_params)
        return f"{self.method}{fixed}{sched}"

    @property
    def label(self) -> str:
        name = get_method(self.method).display_name
        extra = [f"{k}={_num(v)}" for k, v in self.fixed]
        if self.schedule is not None:
            extra.append(self.schedule + "".join(f" {k}={_num(v)}"
                                                 for k, v in self.schedule_params))
        return name + (f" ({', '.join(extra)})" if extra else "")

    def to_dict(self) -> dict:
        return {"method": self.method, "fixed": dict(self.fixed), "schedule": self.schedule,
                "schedule_params": dict(self.schedule_params)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "MethodEntry":
        return cls(**d)


@dataclass(frozen=True)
class BenchmarkConfig:
    """The whole protocol. ``baseline``: what verdicts compare against; ``reference``: whose
    confirmation runs set each workload's target accuracy (both default to the registry's
    baseline, and must be the method of an entry with no fixed knob or schedule of its own, or
    the first entry of that method). ``parallel``: trials asked and trained together as one
    population (a property of the run, not of the protocol)."""

    methods: tuple
    workloads: tuple
    trials: int = 20
    seeds: int = 5
    seed: int = 0
    sampler: str = "tpe"
    startup_trials: int | None = None
    baseline: str = BASELINE
    reference: str = BASELINE
    margins: Any = field(default_factory=lambda: dict(DEFAULT_MARGINS))
    parallel: int = 10
    device: str = "auto"

    def __post_init__(self):
        methods = tuple(m if isinstance(m, MethodEntry) else MethodEntry(m)
                        for m in self.methods)
        workloads = tuple(w if isinstance(w, Workload) else Workload(w)
                          for w in self.workloads)
        if not methods:
            raise ValueError("a benchmark needs at least one method")
        if not workloads:
            raise ValueError("a benchmark needs at least one workload (a model)")
        for what, keys in (("methods", [m.key for m in methods]),
                           ("workloads", [w.key for w in workloads])):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{what} repeat: {keys}")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "workloads", workloads)
        for name, value, high in (("trials", self.trials, MAX_TRIALS),
                                  ("seeds", self.seeds, MAX_CONFIRM_SEEDS),
                                  ("parallel", self.parallel, 256)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValueError(f"{name} must be a whole number in [1, {high}], got {value!r}")
        if len(methods) * len(workloads) > MAX_CELLS:
            raise ValueError(f"{len(methods)} methods x {len(workloads)} workloads is more than "
                             f"{MAX_CELLS} cells")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        for role in ("baseline", "reference"):
            key = getattr(self, role)
            get_method(key)
            if not any(m.method == key for m in methods):
                raise ValueError(f"the {role} method {key!r} is not among the methods "
                                 f"{[m.method for m in methods]}: add it")
        margins = {**DEFAULT_MARGINS, **dict(self.margins)}
        for name, m in margins.items():
            if name not in METRICS or not isinstance(m, (int, float)) or isinstance(m, bool) \
                    or not (math.isfinite(m) and m > 0):
                raise ValueError(f"margin {name}={m!r}: give a positive number for each of "
                                 f"{list(METRICS)}")
        object.__setattr__(self, "margins", tuple(sorted(margins.items())))
        fresh_seeds(self.seed, self.seeds)   # seeds in range
        for entry in methods:              # every cell's search can be built
            for workload in workloads:
                self.search_config(entry, workload)

    # -- the cells ---------------------------------------------------------------------------
    def cells(self) -> list[tuple[MethodEntry, Workload]]:
        """Every (method entry, workload), workload by workload."""
        return [(m, w) for w in self.workloads for m in self.methods]

    def entry(self, role: str) -> MethodEntry:
        """The entry that plays ``role`` ("baseline" or "reference"): the first of its method."""
        key = getattr(self, role)
        return next(m for m in self.methods if m.method == key)

    def search_config(self, entry: MethodEntry, workload: Workload) -> SearchConfig:
        schedule = workload.schedule if entry.schedule is None else entry.schedule
        params = workload.schedule_params if entry.schedule is None else entry.schedule_params
        return SearchConfig(method=entry.method, trials=self.trials, epochs=workload.epochs,
                            seed=self.seed, split=SPLIT, sampler=self.sampler,
                            fixed=entry.fixed, batch_size=workload.batch_size,
                            device=self.device, startup_trials=self.startup_trials,
                            schedule=schedule, schedule_params=params, model=workload.model,
                            shape=workload.shape)

    @property
    def confirm_seeds(self) -> tuple[int, ...]:
        return fresh_seeds(self.seed, self.seeds)

    def margin(self, metric: str) -> float:
        return dict(self.margins)[metric]

    # -- storage -----------------------------------------------------------------------------
    def protocol_dict(self) -> dict:
        """What makes two benchmarks the same (their studies may be shared): not the number of
        trials or seeds (a resumed benchmark may grow), nor how it runs (parallel, device)."""
        d = self.to_dict()
        for k in ("trials", "seeds", "parallel", "device"):
            d.pop(k)
        return d

    def to_dict(self) -> dict:
        return {"methods": [m.to_dict() for m in self.methods],
                "workloads": [w.to_dict() for w in self.workloads],
                "trials": self.trials, "seeds": self.seeds, "seed": self.seed,
                "sampler": self.sampler, "startup_trials": self.startup_trials,
                "baseline": self.baseline, "reference": self.reference,
                "margins": dict(self.margins), "parallel": self.parallel,
                "device": self.device}

    @classmethod
    def from_dict(cls, d: Mapping) -> "BenchmarkConfig":
        d = dict(d)
        d["methods"] = tuple(MethodEntry.from_dict(m) for m in d["methods"])
        d["workloads"] = tuple(Workload.from_dict(w) for w in d["workloads"])
        return cls(**d)

    def with_(self, **changes) -> "BenchmarkConfig":
        return replace(self, **changes)


def benchmark_name(config: BenchmarkConfig) -> str:
    """Deterministic: the same protocol gets the same name, so a rerun resumes its studies."""
    text = json.dumps(config.protocol_dict(), sort_keys=True)
    return "bench-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def cell_study_name(config: BenchmarkConfig, entry: MethodEntry, workload: Workload,
                    name: str | None = None) -> str:
    return f"{name or benchmark_name(config)}-{workload.key}-{entry.key}"


# -- budget ---------------------------------------------------------------------------------
def plan(config: BenchmarkConfig) -> Plan:
    """What the whole benchmark costs (core.budget): cells run one after another (memory: the
    largest cell), each cell's trials ``parallel`` at a time, then its seeds together."""
    works = []
    for entry, workload in config.cells():
        search = config.search_config(entry, workload)
        base = search.run_config(search.space().fixed | _defaults(search), epochs=None)
        together = min(config.parallel, config.trials)
        pops = [[base] * min(together, config.trials - k)
                for k in range(0, config.trials, together)]
        seeds = [base.replace(seed=s) for s in config.confirm_seeds]
        pops.append(seeds)
        works.append(estimate([c for p in pops for c in p], together=max(together, len(seeds)),
                              populations=pops))
    total = Work(max(w.memory_bytes for w in works), sum(w.flops for w in works),
                 sum(w.steps for w in works), sum(w.member_steps for w in works),
                 sum(w.samples for w in works), merge_mix(w.mix for w in works))
    cells = len(works)
    what = (f"a benchmark of {len(config.methods)} method(s) x {len(config.workloads)} "
            f"workload(s) ({cells} cells of {config.trials} trials + {config.seeds} seeds)")
    return Plan(total, what, "python -m core benchmark " + shlex.join(cli_args(config)))


def _defaults(search: SearchConfig) -> dict:
    spec = get_method(search.method)
    return {k: v for k, v in spec.defaults().items() if k in search.space().distributions}


def cli_args(config: BenchmarkConfig) -> list[str]:
    """The ``python -m core benchmark`` flags that run ``config``. The CLI gives every workload
    the same settings (epochs, batch, schedule, shape knobs), as the page does; a config built
    by hand whose workloads differ gets the first workload's."""
    args = []
    for m in config.methods:
        args += ["--method", m.key if not m.fixed and m.schedule is None else _entry_text(m)]
    for w in config.workloads:
        args += ["--model", w.model]
    w = config.workloads[0]
    args += ["--trials", str(config.trials), "--seeds", str(config.seeds),
             "--epochs", str(w.epochs), "--batch-size", str(w.batch_size),
             "--seed", str(config.seed), "--sampler", config.sampler,
             "--parallel", str(config.parallel)]
    if config.startup_trials is not None:
        args += ["--startup-trials", str(config.startup_trials)]
    knobs = all_knobs()
    for name, value in dict(kv for x in config.workloads for kv in x.shape).items():
        args += [knobs[name].cli_flag, *(str(v) for v in (value if isinstance(value, tuple)
                                                         else (value,)))]
    if w.schedule != DEFAULT_SCHEDULE:
        args += ["--schedule", w.schedule]
    for name, value in w.schedule_params:
        args += [SCHEDULE_KNOBS[name].cli_flag, _num(value)]
    if config.baseline != BASELINE:
        args += ["--baseline", config.baseline]
    if config.reference != BASELINE:
        args += ["--reference", config.reference]
    for metric, flag in (("test_acc", "--margin-acc"), ("test_loss", "--margin-loss")):
        if dict(config.margins).get(metric) != DEFAULT_MARGINS[metric]:
            args += [flag, _num(dict(config.margins)[metric])]
    return args


def _entry_text(m: MethodEntry) -> str:
    """``lion:lr=0.001,schedule=cosine,warmup=2``: the CLI's --method text of an entry."""
    parts = [f"{k}={_num(v)}" for k, v in m.fixed]
    if m.schedule is not None:
        parts += [f"schedule={m.schedule}"] + [f"{k}={_num(v)}" for k, v in m.schedule_params]
    return f"{m.method}:{','.join(parts)}"


def epochs_planned(config: BenchmarkConfig, workload: Workload) -> int:
    """Epochs one cell of ``workload`` trains: its trials, then its seeds."""
    return (config.trials + config.seeds) * workload.epochs


def evaluations(search: SearchConfig, params: Mapping | None) -> tuple[float, float, int]:
    """(gradient evaluations per step, Hessian-vector products per step, steps per epoch) of
    the configuration ``params`` (None: the method's defaults), as its registry entry declares."""
    run = search.run_config(params) if params else search.run_config(
        search.space().fixed | _defaults(search))
    grads, hvps = run.spec.evaluations_per_step(run.optimizer_hparams())
    return grads, hvps, steps_per_epoch(run)

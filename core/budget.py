"""A job's work budget: its memory, compute and wall time, estimated from its config before it
starts.

Each knob of a run is bounded on its own (10,000 epochs, 8 layers of 4096, 10 seeds), but their
product is not: one link can ask for days of compute and gigabytes of memory. Every page checks
:func:`refusal` before it starts a job, with a plan built here from the page's own configs:

* **memory** of one run (one member of a population) = parameters x (weights + gradient +
  optimizer state + one temporary) in float32, plus the activations of a batch and of the
  evaluation pass, the epoch's batch order (n int64 indices; the data itself is gathered a batch
  at a time) and the per-epoch metrics the job keeps. The optimizer state is *measured*, not
  looked up: the method's optimizer takes two steps on a small model, and the bytes of its
  ``state_dict`` tensors per parameter byte give the multiplier, so a plug-in method is
  estimated like a built-in one. Runs that train at the same time add up (a population's
  members, a comparison's methods x seeds); the dataset is counted once per job.
* **compute** of one run = epochs x (6 x multiply-adds x training samples for forward and
  backward + 2 x multiply-adds x evaluation samples + an optimizer step of ~20 flops per
  parameter per batch), doubled for a method that differentiates through its gradient, plus a
  floor per kernel that must wait for the one before it, beyond the default MLP's (whose steps
  the pace probe times): a GRU's 40 time steps each way are small kernels one after another,
  which cost their launch whatever their flops.
* **steps, member steps and samples**: the optimizer steps the job makes (a population's
  stacked step counted once, side-by-side solo runs once each), each member's share of them,
  and the samples its members pass through their models. With the compute they give the wall
  time at the server's measured pace (:mod:`core.pace`): at batch size 1 a job is all steps,
  and a population of narrow models all per-member and per-sample costs, with almost no
  compute.

The model enters only through :class:`ModelSize` (parameters, multiply-adds, floats of
activations per sample, kernels in sequence), which its spec gives (core/models/), so any
architecture is estimated by the same formulas.

The estimates are upper-ish bounds meant to refuse the absurd (gigabytes, days), not to predict
to the percent. A refused job gets the command that runs it on one's own machine instead.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Sequence

from .config import RunConfig
from .models import DEFAULT_MODEL, N_CLASSES, N_INPUT
from .server_settings import ServerSettings

FLOAT_BYTES = 4
INDEX_BYTES = 8                  # int64: batch orders and labels
N_TRAIN, N_EVAL = 4000, 1000     # MNIST-1D's training and test sizes (the largest of each use)
STEP_FLOPS_PER_PARAM = 20        # a foreach Adam-like step, generous
# A sequential kernel's floor, forward or backward, per batch: ~10-20 us of launch and
# dispatch, counted as the flops this CPU does meanwhile (measured: a GRU epoch takes ~20x an
# MLP epoch for about twice its multiply-adds).
LAUNCH_FLOPS = 1e5
# One epoch's EpochMetrics as a job keeps it (its fields, the lrs tuple, the diagnostics dict
# with an entry per parameter tensor: 3.4 KB for WNGD on 8 layers); a test measures every
# method's against it. 1,280 members x 1,000 epochs keep 5 GB of them.
METRICS_BYTES = 4096
# An evaluation's argmax (int64), comparison and float accuracy, per sample, in floats.
EVAL_EXTRA_FLOATS = 4
# The job's own copy of MNIST-1D as tensors: 5,000 samples of 40 floats and a label, twice
# (the split's arrays and their tensors).
DATASET_BYTES = 2 * (N_TRAIN + N_EVAL) * (N_INPUT * FLOAT_BYTES + INDEX_BYTES)


@dataclass(frozen=True)
class Work:
    """Memory held at once, floating-point operations, and what costs time besides them:
    optimizer steps (a population's stacked step once), member steps (each member's share of
    them) and samples passed through a model (training and validation, per member). A method
    that differentiates through its gradient counts its steps and training samples twice, as
    its compute."""

    memory_bytes: float
    flops: float
    steps: float = 0.0
    member_steps: float = 0.0
    samples: float = 0.0
    # (model, members trained together, flops): a CNN or GRU step costs more per counted flop
    # than the MLP the pace probe times, most in a population (core.pace measures each)
    mix: tuple[tuple[str, int, float], ...] = ()

    def __add__(self, other: "Work") -> "Work":
        return Work(self.memory_bytes + other.memory_bytes, self.flops + other.flops,
                    self.steps + other.steps, self.member_steps + other.member_steps,
                    self.samples + other.samples, merge_mix((self.mix, other.mix)))


def merge_mix(mixes) -> tuple[tuple[str, int, float], ...]:
    """Several works' ``mix`` as one: flops summed per (model, members together)."""
    total: dict[tuple[str, int], float] = {}
    for mix in mixes:
        for model, together, flops in mix:
            total[model, together] = total.get((model, together), 0.0) + flops
    return tuple((m, k, f) for (m, k), f in sorted(total.items()))


@dataclass(frozen=True)
class Plan:
    """What a Start would cost, in words, and how to run it locally instead."""

    work: Work
    what: str
    cli: str
    # The least wall time it takes however fast the server is: a demo pace's epochs of at
    # least so many seconds each (core.training.job.demo_paced).
    min_s: float = 0.0


class Pace(Protocol):
    """How long work takes on this server (``core.pace.ServerPace``; a test passes a fake)."""

    def seconds(self, work: Work) -> float: ...


@dataclass(frozen=True)
class ModelSize:
    """What the budget needs of one member's model, whatever its architecture."""

    params: int        # trainable parameters
    macs: int          # multiply-adds of one sample's forward pass
    activations: int   # floats per sample a training forward pass keeps (its input included)
    widest: int        # floats per sample of the largest layer output (not the input: an
                       # evaluation reads the dataset's own tensor)
    sequential: int = 1   # kernels of one forward pass that run one after another


def model_size(config: RunConfig) -> ModelSize:
    """``config``'s model at its shape, as its spec counts it."""
    spec, shape = config.model_spec, config.shape_dict()
    return ModelSize(params=spec.parameter_count(shape), macs=spec.macs(shape),
                     activations=spec.activations(shape), widest=spec.widest(shape),
                     sequential=spec.sequential_ops(shape))


@lru_cache(maxsize=1)
def _probe_sequential() -> int:
    from .models import MODELS
    spec = MODELS[DEFAULT_MODEL]
    return spec.sequential_ops(spec.defaults())


def _extra_sequential(size: ModelSize) -> int:
    """Kernels in sequence beyond the default MLP's, whose step the pace probe measures."""
    return max(0, size.sequential - _probe_sequential())


def parameter_count(config: RunConfig) -> int:
    return model_size(config).params


@lru_cache(maxsize=256)
def state_multiplier(method: str, hparams: tuple, model: str = DEFAULT_MODEL) -> float:
    """Bytes of optimizer state per byte of parameters, measured on the model at its default
    shape (a method's state may depend on the tensors' shapes, not on their size)."""
    import torch

    from .models import init_generator
    from .optim.graph import backward

    config = RunConfig(method=method, hparams=dict(hparams), model=model, epochs=1)
    net = config.model_spec.make({}, init_generator(0))
    params = list(net.parameters())
    optimizer = config.spec.build(params, config.optimizer_hparams(), 0)
    x = torch.randn(8, N_INPUT, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % N_CLASSES
    for _ in range(2):
        backward(torch.nn.functional.cross_entropy(net(x), y), optimizer, params)
        optimizer.step()
        optimizer.zero_grad()
    param_numel = sum(p.numel() for p in params)
    return _tensor_numel(optimizer.state_dict()) / param_numel


def _tensor_numel(obj) -> int:
    import torch
    if isinstance(obj, torch.Tensor):
        return obj.numel() if obj.numel() > 1 else 0   # step counters and scalars are noise
    if isinstance(obj, dict):
        return sum(_tensor_numel(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_numel(v) for v in obj)
    return 0


def steps_per_epoch(config: RunConfig) -> int:
    return math.ceil(N_TRAIN / config.batch_size)


def member_memory(size: ModelSize, *, state: float, graph: float, batch_size: int,
                  epochs: int) -> float:
    """Bytes one run (or one population member) holds while it trains: per parameter the
    weights, gradient, a temporary of the step and ``state`` (optimizer state per parameter),
    all ``graph`` times for a method that keeps the gradient's graph; a batch's activations
    (forward outputs, their gradients, a temporary); an evaluation pass's two widest layer
    outputs and its loss and accuracy temporaries; the epoch's batch order and the batch's
    labels; the metrics of every epoch."""
    floats = (size.params * (3 + state) * graph + 3 * batch_size * size.activations
              + N_EVAL * (2 * size.widest + EVAL_EXTRA_FLOATS))
    indices = N_TRAIN + batch_size
    return FLOAT_BYTES * floats + INDEX_BYTES * indices + METRICS_BYTES * epochs


def run_work(config: RunConfig) -> Work:
    """One run of ``config``: its memory while training, its compute and optimizer steps over
    all epochs. The dataset, shared by a job's runs, is counted once by :func:`estimate`."""
    size = model_size(config)
    graph = 2.0 if config.spec.needs_create_graph else 1.0
    memory = member_memory(size, state=state_multiplier(config.method, config.hparams,
                                                        config.model),
                           graph=graph, batch_size=config.batch_size, epochs=config.epochs)
    steps = steps_per_epoch(config)
    # forward and backward of every batch, forward of the evaluation
    launches = LAUNCH_FLOPS * _extra_sequential(size) * (3 * graph * steps + 1)
    per_epoch = (6 * size.macs * N_TRAIN * graph + 2 * size.macs * N_EVAL
                 + STEP_FLOPS_PER_PARAM * size.params * steps + launches)
    epochs = config.epochs
    return Work(memory, per_epoch * epochs, steps * epochs * graph, steps * epochs * graph,
                (N_TRAIN * graph + N_EVAL) * epochs, ((config.model, 1, per_epoch * epochs),))


def population_steps(configs: Sequence[RunConfig]) -> float:
    """Optimizer steps of ``configs`` trained as one population: one stacked step per batch for
    a method with a population form, each member's own steps otherwise."""
    from .training.population import trains_together
    steps = [run_work(c).steps for c in configs]
    stacked = len(configs) > 1 and trains_together(configs[0])
    return max(steps) if stacked else sum(steps)


def estimate(configs: Sequence[RunConfig], together: int | None = None,
             populations: Sequence[Sequence[RunConfig]] | None = None) -> Work:
    """All ``configs``, of which at most ``together`` are in memory at once (default: all),
    plus the job's dataset. ``populations`` (default: every config a solo run) says how they
    train, for the step count."""
    works = [run_work(c) for c in configs]
    together = len(works) if together is None else max(1, together)
    memory = DATASET_BYTES + sum(sorted((w.memory_bytes for w in works), reverse=True)[:together])
    steps = (sum(w.steps for w in works) if populations is None
             else sum(population_steps(p) for p in populations))
    return Work(memory, sum(w.flops for w in works), steps,
                sum(w.member_steps for w in works), sum(w.samples for w in works),
                population_mix(populations if populations is not None else
                               [[c] for c in configs]))


def population_mix(populations: Sequence[Sequence[RunConfig]]) -> tuple:
    """:attr:`Work.mix` of ``populations``: a population without a stacked form is solo runs."""
    from .training.population import trains_together
    return merge_mix([((p[0].model, len(p) if len(p) > 1 and trains_together(p[0]) else 1,
                        sum(run_work(c).flops for c in p)),) for p in populations if p])


def step_work(config: RunConfig, members: int) -> Work:
    """One training step of ``members`` stacked copies of ``config`` (one when solo), counted
    as :func:`run_work` counts an epoch's steps: what core.pace times to compare."""
    size = model_size(config)
    b = config.batch_size
    flops = members * (6 * size.macs * b + STEP_FLOPS_PER_PARAM * size.params
                       + LAUNCH_FLOPS * _extra_sequential(size) * 3)
    return Work(0, flops, 1, members, members * b)


def refusal(plan: Plan, settings: ServerSettings, pace: Pace | None = None) -> str | None:
    """None when the plan fits the server's per-job caps, else a message that says why and how
    to run it locally. With ``pace``, a job that would run past ``MAX_JOB_SECONDS`` is refused
    too (the runner would stop it there)."""
    mem_cap = settings.job_memory_mb * 2**20
    flop_cap = settings.job_tflop * 1e12
    over = []
    if plan.work.memory_bytes > mem_cap:
        over.append(f"about {_bytes(plan.work.memory_bytes)} of memory (this server allows "
                    f"{_bytes(mem_cap)} per job)")
    if plan.work.flops > flop_cap:
        over.append(f"about {plan.work.flops / 1e12:,.1f} TFLOP of compute (this server allows "
                    f"{settings.job_tflop:g} TFLOP per job)")
    seconds = max(plan.min_s, pace.seconds(plan.work) if pace is not None else 0.0)
    if seconds > settings.max_job_s:
        pace_words = ("at that pace" if seconds == plan.min_s   # what the plan's words name
                      else "at this server's present pace")
        over.append(f"about {duration(seconds)} {pace_words} (it stops a job after "
                    f"{duration(settings.max_job_s)})")
    if not over:
        return None
    return (f"Not started: {plan.what} would need {' and '.join(over)}. Make it smaller "
            f"(fewer epochs, seeds or trials, a smaller model, larger batches), or run it on "
            f"your own machine:\n\n```\n{plan.cli}\n```")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} hours"


def _bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


# -- plans of the pages' jobs, each with the command that does the same locally ---------------
def run_args(config: RunConfig) -> list[str]:
    """The ``python -m core train`` flags that rebuild ``config`` (hyperparameters included)."""
    hp_flags = {hp.name: hp.cli_flag for hp in config.spec.hyperparams}
    args = ["--method", config.method]
    for name, value in config.optimizer_hparams().items():
        args += [hp_flags[name], f"{value:g}"]
    return args + setting_args(config)


def setting_args(source, skip: tuple = ("device",)) -> list[str]:
    """The run settings' flags (core/config.py's ``RUN_SETTINGS``, the model's and the lr
    schedule's knobs with them) of ``source``, a RunConfig or anything with those attributes (a SearchConfig); the
    device is left to the machine that runs the command."""
    from .cli.main import setting_flags
    return setting_flags(source, skip)


def search_schedule_args(search) -> list[str]:
    """``python -m core search``'s schedule flags for ``search`` (none for the default)."""
    from .schedules import KNOBS
    knobs = [a for n, v in search.schedule_params for a in (KNOBS[n].cli_flag, f"{v:g}")]
    if len(search.schedules) > 1:
        return ["--schedules", *search.schedules, *knobs]
    key = search.schedules[0] if search.schedules else search.schedule
    return ["--schedule", key, *knobs] if key != "constant" or knobs else []


def train_plan(config: RunConfig, demo_pace_s: float = 0.0) -> Plan:
    """``demo_pace_s``: each epoch takes at least this long (the Train page's demo pace)."""
    paced = f" at a demo pace of {demo_pace_s:g} s per epoch" if demo_pace_s > 0 else ""
    return Plan(estimate([config]), f"{config.epochs} epochs of {config.spec.display_name}"
                + paced, "python -m core train " + shlex.join(run_args(config)),
                min_s=config.epochs * demo_pace_s)


def compare_plan(entries: Sequence[RunConfig], seeds: Sequence[int]) -> Plan:
    """Entries (methods with their knobs, sharing the run settings) over seeds: every entry's
    seeds train at once (a population, or solo runs advancing in turn)."""
    populations = [[e.replace(seed=s) for s in seeds] for e in entries]
    what = f"{len(entries)} configuration(s) x {len(seeds)} seed(s) x {entries[0].epochs} epochs"
    return Plan(estimate([c for p in populations for c in p], populations=populations), what,
                _compare_cli(entries, list(seeds)))


def _shared_args(entry: RunConfig, seeds: Sequence[int]) -> list[str]:
    """``add_shared_flags``'s flags (compare, sweep) for consecutive ``seeds``."""
    # Each entry's schedule is in its entry text, not among the shared flags.
    return ["--seeds", str(len(seeds)),
            *setting_args(entry.replace(seed=seeds[0]), skip=("device", "schedule"))]


def sweep_plan(sweep) -> Plan:
    """A sensitivity sweep (``core.training.sweep.SweepConfig``): one entry at a time, all of
    its grid points x seeds trained together as one population."""
    from .training.compare_settings import entry_text
    per_entry = [sweep.member_configs(i) for i in range(len(sweep.entries))]
    args = [a for e in sweep.entries for a in ("--method", entry_text(e))]
    for flag, axis in zip(("", "2"), sweep.axes):
        args += [f"--knob{flag}", axis.knob, f"--points{flag}", str(axis.points)]
        if axis.span is not None:
            args += [f"--range{flag}", *(f"{v:g}" for v in axis.span)]
    args += ["--metric", sweep.metric, *_shared_args(sweep.entries[0], sweep.seeds)]
    return Plan(estimate([c for cs in per_entry for c in cs],
                         together=max(len(cs) for cs in per_entry), populations=per_entry),
                f"a sweep of {sweep.n_runs} runs of {sweep.entries[0].epochs} epochs",
                "python -m core sweep " + shlex.join(args))


def _compare_cli(entries: Sequence[RunConfig], seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        from .training.compare_settings import entry_text
        args = [a for e in entries for a in ("--entry", entry_text(e))]
        return "python -m core compare " + shlex.join(args + _shared_args(entries[0], seeds))
    lines = [f"for seed in {' '.join(map(str, seeds))}; do"]   # seeds that are not a range
    for e in entries:
        args = run_args(e)
        args[args.index("--seed") + 1] = "SEED"
        lines.append("  python -m core train " + shlex.join(args).replace("SEED", '"$seed"'))
    lines.append("done")
    return "\n".join(lines)


def search_plan(search, *, parallel: int, duel: bool = False, confirm_seeds: int = 0) -> Plan:
    """A search (``core.search.study.SearchConfig``): its trials, trained ``parallel`` at a
    time; a duel tunes the baseline with the same budget and confirms both over seeds."""
    from .optim.registry import BASELINE
    base = RunConfig(method=search.method, **{**search.run_settings(), "device": "auto"})
    configs = [base] * search.trials
    if duel:
        configs += [base.replace(method=BASELINE)] * search.trials
        configs += [base, base.replace(method=BASELINE)] * confirm_seeds
    args = ["--method", search.method, "--trials", str(search.trials), *setting_args(search, skip=("device", "schedule")),
            "--sampler", search.sampler, "--parallel", str(parallel)]
    for name, (low, high) in search.ranges:
        args += ["--range", name, f"{low:g}", f"{high:g}"]
    for name, value in search.fixed:
        args += ["--fix", name, f"{value:g}"]
    args += search_schedule_args(search)   # fixed, or tuned among several
    if search.pruning:
        args.append("--pruning")
    if getattr(search, "startup_trials", None) is not None:
        args += ["--startup-trials", str(search.startup_trials)]
    if duel:
        args += ["--duel", "--confirm-seeds", str(confirm_seeds)]
    # Trials train ``parallel`` at a time, as one population where the method has the form.
    sides = [base] + ([base.replace(method=BASELINE)] if duel else [])
    populations = [[side] * min(parallel, search.trials - k)
                   for side in sides for k in range(0, search.trials, max(1, parallel))]
    populations += [[c] for c in configs[len(sides) * search.trials:]]   # confirmations
    return Plan(estimate(configs, together=parallel, populations=populations),
                f"{len(configs)} run(s) of {search.epochs} epochs",
                "python -m core search " + shlex.join(args))


def reproduce_plan(key: str, seeds: int, quick: bool, model: str | None = None) -> Plan:
    """A reproduction: its planned epochs on the protocol's model (``model``: another model of
    the registry, as ``python -m core reproduce --model``), both sides' seeds at once."""
    from .experiments.protocols import FULL, PROTOCOLS, QUICK
    from .experiments.run import planned_epochs
    p = PROTOCOLS[key] if model is None else PROTOCOLS[key].on_model(model)
    epochs = planned_epochs(p, seeds, QUICK if quick else FULL)
    sides = [RunConfig(method=s.method, epochs=1, batch_size=p.batch_size, model=p.model,
                       shape=p.shape) for s in (p.baseline, p.method)]
    per_epoch = max((run_work(c) for c in sides), key=lambda w: w.flops)
    # the runs' own memory, and the metrics of every planned epoch, if all were kept
    memory = (estimate(sides * seeds, together=max(seeds, 10)).memory_bytes
              + METRICS_BYTES * epochs)
    cli = (f"python -m core reproduce {key} --seeds {seeds}" + (" --quick" if quick else "")
           + (f" --model {p.model}" if model is not None else ""))
    # Every planned epoch counted as its own steps: an upper bound (seeds train together).
    flops = per_epoch.flops * epochs
    # a side without a stacked form trains its seeds solo, the slower pace per flop
    together = min(population_mix([[c] * seeds])[0][1] for c in sides)
    return Plan(Work(memory, flops, per_epoch.steps * epochs, per_epoch.member_steps * epochs,
                     per_epoch.samples * epochs, ((p.model, together, flops),)),
                f"reproducing write-up {p.writeup} ({epochs} epochs)", cli)

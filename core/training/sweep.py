"""Knob sweeps: one or two hyperparameters on a grid, for several methods, over seeds.

A sensitivity curve (as DeepOBS draws them) plots a summary of each run against the knob: it
shows how wide the good range is, whether the best value sits at the edge of the grid, and
where a method diverges. Usage::

    from core.training.sweep import SweepConfig, run_sweep, sweep_points
    config = SweepConfig.build(["adam", "wngd"], knob="lr", points=8, n_seeds=5, epochs=20)
    runs = [run for event in run_sweep(config) for run in event.finished]
    for point in sweep_points(config, runs):
        print(point.entry, point.value, point.stats)

Each entry's grid points x seeds train together as ONE population
(:func:`core.training.population.train_population`), so a sweep of 40 runs costs a few solo
runs; member ``i`` is the run ``train(config.member_configs(entry)[i])`` would make.
:func:`run_sweep` yields one :class:`SweepEpoch` per epoch of each entry's population, with the
runs that ended in it, so a page can stream the curve as members finish.

A run that diverged is reported (``SweepRun.diverged``), never dropped: under the lab's one
divergence rule (``core.stats.DIVERGENCE_RULE``) it takes the worst value of the metric among
all the sweep's runs, so its point's mean carries the failure, and a point with a diverged seed
is never called the best.

The best point is picked on the same seeds the curve shows, so its number is optimistic (the
winner's luck is measured again); ``core.training.sweep_confirm`` retrains it on fresh seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import torch

from ..config import COMPARISON_SHARED, EpochMetrics, RunConfig, is_finite_number
from ..data import MNIST1D, load_mnist1d
from ..optim.registry import HyperParam
from ..stats import Interval, apply_divergence_rule, mean_ci, worst_value
from .compare import comparison_seeds
from .population import train_population

MIN_POINTS, MAX_POINTS = 3, 16
MAX_ENTRIES = 8
# Every run of a sweep, all entries together: bounds memory and time a visitor can ask for.
MAX_RUNS = 1280
# metric -> (label, lower is better)
METRICS = {
    "best_val_loss": ("best validation loss", True),
    "final_val_loss": ("final validation loss", True),
    "final_val_acc": ("final validation accuracy", False),
    "test_loss_at_best_val": ("test loss at the best validation epoch", True),
}
HONEST_ONLY = ("test_loss_at_best_val",)
# The run fields every entry of a sweep shares (the seed being the first seed).
SHARED = COMPARISON_SHARED   # the run settings every entry shares (core/config.py)


def knob_of(config: RunConfig, name: str) -> HyperParam:
    """The registry's description of ``config``'s knob ``name`` (ValueError if it lacks it)."""
    try:
        return config.spec.hyperparam(name)
    except KeyError as error:
        raise ValueError(error.args[0]) from None


def make_grid(hp: HyperParam, points: int, span: tuple[float, float] | None = None
              ) -> tuple[float, ...]:
    """``points`` values of ``hp`` from ``span`` (default: the registry's search range),
    log-spaced for a log knob, rounded and deduplicated for an integer knob.

    ValueError, naming the bad part, for a point count outside 3..16, a span outside the knob's
    valid range, or a log span that does not start above zero.
    """
    if isinstance(points, bool) or not isinstance(points, int) \
            or not MIN_POINTS <= points <= MAX_POINTS:
        raise ValueError(f"points for {hp.name} must be a whole number from {MIN_POINTS} to "
                         f"{MAX_POINTS}, got {points!r}")
    if span is None:
        if hp.search is None:
            raise ValueError(f"{hp.name} has no default sweep range; give one within "
                             f"[{hp.low:g}, {hp.high:g}]")
        span = hp.search
    low, high = (float(v) for v in span)
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"range of {hp.name} must be two finite numbers, low < high; "
                         f"got [{low:g}, {high:g}]")
    if low < hp.low or high > hp.high:
        raise ValueError(f"range of {hp.name} [{low:g}, {high:g}] leaves its valid range "
                         f"[{hp.low:g}, {hp.high:g}]")
    if hp.log and low <= 0:
        raise ValueError(f"{hp.name} is swept on a log scale: the range must start above 0, "
                         f"got {low:g}")
    if hp.log:
        step = (math.log(high) - math.log(low)) / (points - 1)
        # 12 digits: 1e-4, not 1.0000000000000009e-4 (in the table, the URL, the CSV)
        grid = [float(f"{math.exp(math.log(low) + i * step):.12g}") for i in range(points)]
        grid[0], grid[-1] = low, high   # the ends exactly as given, never past the valid range
    else:
        grid = [float(f"{low + i * (high - low) / (points - 1):.12g}") for i in range(points)]
    if hp.integer:
        grid = sorted({int(round(v)) for v in grid})
        if len(grid) < MIN_POINTS:
            raise ValueError(f"range of {hp.name} [{low:g}, {high:g}] holds fewer than "
                             f"{MIN_POINTS} whole numbers")
    return tuple(grid)


@dataclass(frozen=True)
class Axis:
    """One swept knob: its name, how many points, and the range (None: the registry's)."""

    knob: str = "lr"
    points: int = 8
    span: tuple[float, float] | None = None

    def grid(self, config: RunConfig) -> tuple[float, ...]:
        return make_grid(knob_of(config, self.knob), self.points, self.span)


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep. ``entries`` hold each method and its fixed knobs; they share the run
    fields (epochs, batch size, hidden sizes, split, device; ``seed`` is the first seed).
    ``axis2`` makes it a two-knob sweep (a grid of axis x axis2 per entry)."""

    entries: tuple[RunConfig, ...]
    axis: Axis = field(default_factory=Axis)
    axis2: Axis | None = None
    n_seeds: int = 3
    metric: str = "best_val_loss"

    def __post_init__(self):
        entries = tuple(self.entries)
        object.__setattr__(self, "entries", entries)
        if not entries or not all(isinstance(e, RunConfig) for e in entries):
            raise ValueError("a sweep needs at least one entry (a method and its fixed knobs)")
        if len(entries) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} entries, got {len(entries)}")
        for name in SHARED:
            if len({getattr(e, name) for e in entries}) > 1:
                raise ValueError(f"every entry of a sweep must share {name}")
        if isinstance(self.n_seeds, bool) or not isinstance(self.n_seeds, int):
            raise ValueError(f"seeds must be a whole number, got {self.n_seeds!r}")
        comparison_seeds(entries[0].seed, self.n_seeds)
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; choose one of {list(METRICS)}")
        if self.metric in HONEST_ONLY and entries[0].split != "honest":
            raise ValueError(f"metric {self.metric} needs the honest split (the writeup split "
                             "validates on the test set)")
        if self.axis2 is not None and self.axis2.knob == self.axis.knob:
            raise ValueError(f"the second knob must differ from the first ({self.axis.knob})")
        for entry in entries:
            for axis in self.axes:
                axis.grid(entry)   # a knob the method lacks, or a bad range: ValueError
        runs = sum(len(self.grid_points(i)) for i in range(len(entries))) * self.n_seeds
        if runs > MAX_RUNS:
            raise ValueError(f"this sweep is {runs} runs; at most {MAX_RUNS}: fewer points, "
                             "seeds or entries")

    @classmethod
    def build(cls, methods: Sequence[str], knob: str = "lr", points: int = 8,
              span: tuple[float, float] | None = None, *, knob2: str | None = None,
              points2: int = 5, span2: tuple[float, float] | None = None, n_seeds: int = 3,
              metric: str = "best_val_loss", **run_fields) -> "SweepConfig":
        """Entries at each method's defaults; ``run_fields`` are RunConfig fields (epochs,
        split, seed, ...) every entry shares."""
        entries = tuple(RunConfig(method=m, **run_fields) for m in methods)
        axis2 = Axis(knob2, points2, span2) if knob2 else None
        return cls(entries, Axis(knob, points, span), axis2, n_seeds, metric)

    @property
    def axes(self) -> tuple[Axis, ...]:
        return (self.axis,) if self.axis2 is None else (self.axis, self.axis2)

    @property
    def seeds(self) -> list[int]:
        return comparison_seeds(self.entries[0].seed, self.n_seeds)

    def grid(self, entry: int, axis: int = 0) -> tuple[float, ...]:
        return self.axes[axis].grid(self.entries[entry])

    def grid_points(self, entry: int) -> list[tuple[float, ...]]:
        """Every grid point of ``entry``: ``(value,)`` or ``(value, value2)``."""
        first = [(v,) for v in self.grid(entry)]
        if self.axis2 is None:
            return first
        return [p + (w,) for p in first for w in self.grid(entry, 1)]

    def point_config(self, entry: int, point: tuple[float, ...], seed: int | None = None
                     ) -> RunConfig:
        """The run at one grid point (for "open this point on Train")."""
        base = self.entries[entry]
        knobs = dict(base.hparams)
        lr = base.lr
        for axis, value in zip(self.axes, point):
            if axis.knob == "lr":
                lr = value
            else:
                knobs[axis.knob] = value
        return base.replace(lr=lr, hparams=knobs, seed=base.seed if seed is None else seed)

    def members(self, entry: int) -> list[tuple[tuple[float, ...], int]]:
        """(grid point, seed) of each member of ``entry``'s population, in order."""
        return [(p, s) for p in self.grid_points(entry) for s in self.seeds]

    def member_configs(self, entry: int) -> list[RunConfig]:
        return [self.point_config(entry, p, s) for p, s in self.members(entry)]

    @property
    def n_runs(self) -> int:
        return sum(len(self.members(i)) for i in range(len(self.entries)))

    @property
    def total_epochs(self) -> int:
        """How many :class:`SweepEpoch` events a sweep where nothing diverges yields."""
        return len(self.entries) * self.entries[0].epochs

    def to_dict(self) -> dict:
        return {"entries": [e.to_dict() for e in self.entries],
                "axes": [{"knob": a.knob, "points": a.points,
                          "span": list(a.span) if a.span else None} for a in self.axes],
                "n_seeds": self.n_seeds, "metric": self.metric}


@dataclass(frozen=True)
class SweepRun:
    """One member that ended: where it sits on the grid, its seed and its summaries."""

    entry: int
    point: tuple[float, ...]
    seed: int
    values: dict          # metric name -> float (NaN when it has none, e.g. diverged)
    epochs: int           # epochs trained
    diverged: bool = False
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"entry": self.entry, "point": list(self.point), "seed": self.seed,
                "values": {k: (v if is_finite_number(v) else None)
                           for k, v in self.values.items()},
                "epochs": self.epochs, "diverged": self.diverged, "reason": self.reason}


@dataclass(frozen=True)
class SweepEpoch:
    """Progress: ``entry``'s population finished ``epoch``; ``finished`` ended in it."""

    entry: int
    epoch: int
    finished: tuple[SweepRun, ...] = ()


def run_values(history: Sequence[EpochMetrics]) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one run's history. A diverged run has NaN for all:
    a number read off a run that blew up would flatter the setting that blew it up."""
    nan = math.nan
    if not history or history[-1].diverged:
        return {name: nan for name in METRICS}
    best = min(history, key=lambda m: m.val_loss)
    test = best.test_loss
    return {"best_val_loss": float(best.val_loss), "final_val_loss": float(history[-1].val_loss),
            "final_val_acc": float(history[-1].val_acc),
            "test_loss_at_best_val": float(test) if is_finite_number(test) else nan}


def _finished(entry: int, member: tuple, history: list[EpochMetrics]) -> SweepRun:
    last = history[-1]
    return SweepRun(entry, member[0], member[1], run_values(history), last.epoch,
                    last.diverged, last.reason)


def train_members(entry: int, members: Sequence[tuple], configs: list[RunConfig],
                   data: MNIST1D, honest: bool, dtype: torch.dtype) -> Iterator[SweepEpoch]:
    """One entry's members as one population; a SweepEpoch per epoch with the runs that ended
    (a method without a population form trains its members side by side as solo runs)."""
    epochs = train_population(configs, data, test_every_epoch=honest, dtype=dtype)
    histories: list[list[EpochMetrics]] = [[] for _ in members]
    last = configs[0].epochs
    try:
        for row in epochs:
            ended = []
            epoch = 0
            for i, m in enumerate(row):
                if m is None:
                    continue
                histories[i].append(m)
                epoch = m.epoch
                if m.diverged or m.epoch == last:
                    ended.append(_finished(entry, members[i], histories[i]))
            yield SweepEpoch(entry, epoch, tuple(ended))
    finally:
        epochs.close()


def run_sweep(config: SweepConfig, data: MNIST1D | None = None, *,
              dtype: torch.dtype = torch.float32) -> Iterator[SweepEpoch]:
    """Train every entry's population (one entry after another); yield each epoch's progress.

    Closing the generator stops the population in flight. On the honest split every epoch
    also evaluates the test set (no weight or random stream changes) so the test loss at the
    best validation epoch can be read. ``dtype`` is for tests, as in ``train_population``."""
    data = data if data is not None else load_mnist1d()
    honest = config.entries[0].split == "honest"
    for entry in range(len(config.entries)):
        yield from train_members(entry, config.members(entry), config.member_configs(entry),
                                  data, honest, dtype)


@dataclass(frozen=True)
class SweepPoint:
    """One grid point of one entry over its seeds: the metric's mean and 95% interval, a
    diverged seed counted at the sweep's worst value, and how many diverged."""

    entry: int
    point: tuple[float, ...]
    stats: Interval | None      # None when no seed gave a finite value
    n_runs: int
    n_diverged: int
    best: bool = False

    @property
    def value(self) -> float:
        return self.point[0]


def sweep_points(config: SweepConfig, runs: Iterable[SweepRun]) -> list[SweepPoint]:
    """Per entry and grid point (in grid order), the metric over seeds, a diverged seed at the
    worst value of the whole sweep (``core.stats.DIVERGENCE_RULE``); each entry's best point
    (lowest loss or highest accuracy among points where no seed diverged) is marked. Points
    with no run yet are left out."""
    lower_better = METRICS[config.metric][1]
    runs = list(runs)
    worst = worst_value((r.values[config.metric] for r in runs), lower_better)
    by_point: dict[tuple[int, tuple], list[SweepRun]] = {}
    for run in runs:
        by_point.setdefault((run.entry, tuple(run.point)), []).append(run)
    out: list[SweepPoint] = []
    for entry in range(len(config.entries)):
        points = []
        for point in config.grid_points(entry):
            group = by_point.get((entry, point))
            if not group:
                continue
            values = [r.values[config.metric] for r in group]
            stats = None
            if worst is not None:   # the divergence rule: a failed seed takes the worst value
                stats = mean_ci(apply_divergence_rule(values, worst)[0])
            points.append(SweepPoint(entry, point, stats, len(group),
                                     sum(r.diverged for r in group)))
        clean = [p for p in points if p.stats is not None and p.n_diverged == 0]
        if clean:
            pick = (min if lower_better else max)(clean, key=lambda p: p.stats.mean)
            points = [SweepPoint(p.entry, p.point, p.stats, p.n_runs, p.n_diverged, p is pick)
                      for p in points]
        out.extend(points)
    return out


def edge_warnings(config: SweepConfig, points: Sequence[SweepPoint]) -> list[str]:
    """One sentence per entry whose best point lies on the edge of its grid."""
    warnings = []
    for p in points:
        if not p.best:
            continue
        for k, axis in enumerate(config.axes):
            grid = config.grid(p.entry, k)
            if p.point[k] in (grid[0], grid[-1]):
                label = config.entries[p.entry].spec.display_name
                warnings.append(f"{p.entry + 1}. {label}: the best {axis.knob} ({p.point[k]:.3g}) "
                                f"is at the edge of the grid; the optimum may lie outside "
                                f"[{grid[0]:.3g}, {grid[-1]:.3g}]: widen the range.")
    return warnings


def point_rows(config: SweepConfig, points: Sequence[SweepPoint]) -> list[dict]:
    """One plain row per point, for a table, a CSV or JSON (the CLI's and the page's)."""
    rows = []
    for p in points:
        row = {"entry": p.entry + 1, "method": config.entries[p.entry].method}
        row.update({axis.knob: v for axis, v in zip(config.axes, p.point)})
        ci = p.stats
        row.update({"mean": ci.mean if ci else None,
                    "low": ci.low if ci and math.isfinite(ci.low) else None,
                    "high": ci.high if ci and math.isfinite(ci.high) else None,
                    "seeds": p.n_runs, "diverged": p.n_diverged, "best": p.best})
        rows.append(row)
    return rows


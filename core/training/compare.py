"""Several methods over several seeds, paired: the logic behind the app's Compare page.

For each seed every method starts from the same initial weights and sees the same batch order
(``train()`` derives both from the seed alone), so per-seed differences between two methods
cancel the seed-to-seed noise they share; :func:`summarize` uses that through
``core.stats.paired_comparison``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Sequence

from ..config import MAX_SEED, EpochMetrics, RunConfig, is_finite_number
from ..data import MNIST1D
from .population import supports_population, train_population
from ..stats import (Interval, PairedComparison, adjust_family, mean_ci, paired_comparison,
                     worst_value)
from .train import train

MAX_SEEDS = 10
BANDS = ("minmax", "ci95")


def comparison_seeds(first_seed: int, n_seeds: int) -> list[int]:
    if not 1 <= int(n_seeds) <= MAX_SEEDS:
        raise ValueError(f"number of seeds must be between 1 and {MAX_SEEDS}, got {n_seeds}")
    last = int(first_seed) + int(n_seeds) - 1
    if int(first_seed) < 0 or last > MAX_SEED:
        # Checked here, not by the jobs: a seed past the range would fail a job already started.
        raise ValueError(f"seeds {first_seed}..{last} leave the range 0..{MAX_SEED}: "
                         "choose a smaller first seed")
    return [int(first_seed) + i for i in range(int(n_seeds))]


@dataclass(frozen=True)
class CompareItem:
    """One epoch of one run: ``entry`` indexes the compared configurations."""

    entry: int
    seed: int
    metrics: EpochMetrics


def _seeds_together(config: RunConfig, seeds: Sequence[int],
                    data: MNIST1D | None) -> Iterator[list[tuple[int, EpochMetrics]]]:
    # The honest split reports the test set after every epoch (no weight or random stream
    # changes), so each verdict can read the test loss and accuracy at the epoch of minimum
    # validation loss.
    test = config.split == "honest"
    """One entry over all seeds, one epoch at a time: ``[(seed, metrics), ...]`` per epoch.

    Several seeds of a method with a population form train as one population (stacked weights,
    each member with its solo run's initial weights and batch order, so pairing holds);
    otherwise the seeds' solo runs advance in turn.
    """
    configs = [config.replace(seed=s) for s in seeds]
    if len(configs) > 1 and supports_population(config.method):
        for epoch in train_population(configs, data, test_every_epoch=test):
            yield [(s, m) for s, m in zip(seeds, epoch) if m is not None]
        return
    running = [(s, train(c, data, test_every_epoch=test)) for s, c in zip(seeds, configs)]
    try:
        while running:
            row = []
            for pair in list(running):
                metrics = next(pair[1], None)
                if metrics is None:
                    running.remove(pair)
                else:
                    row.append((pair[0], metrics))
            if row:
                yield row
    finally:
        for _, gen in running:
            gen.close()


def run_comparison(entries: Sequence[RunConfig], seeds: Sequence[int],
                   data: MNIST1D | None = None) -> Iterator[CompareItem]:
    """Train every entry on every seed and yield each epoch as it ends.

    The entries advance round-robin, one epoch each (all of an entry's seeds at once), so the
    live curves and bands of all methods grow together. Closing this generator closes the
    trainings in flight.
    """
    if not entries:
        raise ValueError("nothing to compare: pick at least one method")
    running = [(i, _seeds_together(config, seeds, data)) for i, config in enumerate(entries)]
    try:
        while running:
            for pair in list(running):
                row = next(pair[1], None)
                if row is None:
                    running.remove(pair)
                    continue
                for seed, metrics in row:
                    yield CompareItem(pair[0], seed, metrics)
    finally:
        for _, gen in running:
            gen.close()


def group_runs(items: Iterable[CompareItem]) -> dict[tuple[int, int], list[EpochMetrics]]:
    """(entry, seed) -> that run's metrics in epoch order."""
    runs: dict[tuple[int, int], list[EpochMetrics]] = {}
    for item in items:
        runs.setdefault((item.entry, item.seed), []).append(item.metrics)
    return runs


def curve_bands(items: Iterable[CompareItem], metric: str, band: str = "minmax") -> list[dict]:
    """Per entry and epoch: the mean over seeds of ``metric`` and a band around it.

    ``band="minmax"`` spans the seeds' range; ``"ci95"`` is the 95% t-interval of the mean (with
    one seed it collapses to the mean). Non-finite values (a diverging epoch) are left out.
    """
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; choose one of {list(BANDS)}")
    values: dict[tuple[int, int], list[float]] = {}
    for item in items:
        value = getattr(item.metrics, metric)
        if is_finite_number(value):
            values.setdefault((item.entry, item.metrics.epoch), []).append(float(value))
    rows = []
    for (entry, epoch), xs in sorted(values.items()):
        mean = math.fsum(xs) / len(xs)
        if band == "minmax":
            low, high = min(xs), max(xs)
        else:
            ci = mean_ci(xs)
            low, high = (ci.low, ci.high) if ci.n >= 2 else (mean, mean)
        rows.append({"entry": entry, "epoch": epoch, "mean": mean, "low": low, "high": high,
                     "n": len(xs)})
    return rows


def _at_best_val(run: list[EpochMetrics]) -> EpochMetrics | None:
    finite = [m for m in run if is_finite_number(m.val_loss)]
    return min(finite, key=lambda m: m.val_loss) if finite else None


def _read(run: list[EpochMetrics], field: str) -> float:
    """``field`` at the epoch of minimum validation loss; NaN for a diverged run (the
    divergence rule decides what it counts as) or one without that report."""
    if run[-1].diverged:
        return math.nan
    m = _at_best_val(run)
    value = None if m is None else getattr(m, field)
    return float(value) if is_finite_number(value) else math.nan


# Per-run summaries: name -> (how to read it off a run, lower is better). A diverged run reads
# NaN everywhere: its values from before it diverged would flatter the setting that blew up.
SUMMARIES = {
    "best_val_loss": (lambda run: _read(run, "val_loss"), True),
    "final_val_loss": (lambda run: math.nan if run[-1].diverged else run[-1].val_loss, True),
    "best_val_acc": (lambda run: math.nan if run[-1].diverged else
                     max((m.val_acc for m in run if is_finite_number(m.val_acc)),
                         default=math.nan), False),
    "final_val_acc": (lambda run: math.nan if run[-1].diverged else run[-1].val_acc, False),
    "test_loss_at_best_val": (lambda run: _read(run, "test_loss"), True),
    "test_acc_at_best_val": (lambda run: _read(run, "test_acc"), False),
}
# What each verdict rests on, by split: on the honest split the test set, read at the epoch the
# validation set picks; on the write-up split the validation set is the test set.
PAIRED_BY_SPLIT = {"honest": ("test_loss_at_best_val", "test_acc_at_best_val"),
                   "writeup": ("best_val_loss", "best_val_acc")}
PAIRED_ON = PAIRED_BY_SPLIT["writeup"]
MEASURES = {
    "test_loss_at_best_val": "test loss at the epoch of minimum validation loss (validation: "
                             "800 samples held out of training; includes early stopping)",
    "test_acc_at_best_val": "test accuracy at the epoch of minimum validation loss (includes "
                            "early stopping)",
    "best_val_loss": "minimum over epochs of the validation loss, which on the write-up split is "
                     "the test loss (early stopping on the test set: optimistic)",
    "best_val_acc": "maximum over epochs of the validation accuracy, which on the write-up split "
                    "is the test accuracy (optimistic)",
}


def paired_on(split: str) -> tuple[str, str]:
    """The (loss, accuracy) the verdicts of a comparison on ``split`` rest on."""
    return PAIRED_BY_SPLIT.get(split, PAIRED_ON)


@dataclass(frozen=True)
class EntrySummary:
    """One compared configuration over its completed seeds.

    ``versus`` holds the Holm-adjusted comparisons (across every entry and metric of the
    comparison: the page's family), ``versus_raw`` the same tested alone at 5%."""

    entry: int
    seeds: tuple[int, ...]          # seeds whose run ended (finished or diverged)
    diverged: tuple[int, ...]       # of those, the seeds that diverged
    stats: dict                     # summary name -> Interval over finite seeds (None if none)
    versus: dict                    # summary name -> PairedComparison against the baseline
    versus_raw: dict = field(default_factory=dict)
    family: int = 0                 # how many comparisons the adjustment spans


def _complete(run: list[EpochMetrics], epochs: int) -> bool:
    return bool(run) and (run[-1].diverged or run[-1].epoch >= epochs)


def summarize(items: Iterable[CompareItem], entries: Sequence[RunConfig],
              baseline: int | None) -> list[EntrySummary]:
    """Mean and 95% interval of each summary per entry, and paired differences to ``baseline``.

    Only runs that ended count. A paired difference uses the seeds where both the entry and the
    baseline ended; a seed on which either diverged stays in the pairs at the worst value any
    run of the comparison reached (``core.stats.DIVERGENCE_RULE``: it ranks last). Verdicts are
    Holm-adjusted across all the comparison's tests (entries x metrics).
    """
    runs = group_runs(items)
    per_entry: dict[int, dict[int, list[EpochMetrics]]] = {i: {} for i in range(len(entries))}
    for (entry, seed), run in runs.items():
        if entry in per_entry and _complete(run, entries[entry].epochs):
            per_entry[entry][seed] = run

    def values(entry: int, name: str) -> dict[int, float]:
        read = SUMMARIES[name][0]
        return {seed: float(read(run)) for seed, run in per_entry[entry].items()}

    names = paired_on(entries[0].split) if entries else PAIRED_ON
    worst = {n: worst_value((v for e in per_entry for v in values(e, n).values()),
                            SUMMARIES[n][1]) for n in names}
    raw: dict[tuple[int, str], PairedComparison] = {}
    out = []
    for entry in range(len(entries)):
        stats: dict[str, Interval | None] = {}
        for name in SUMMARIES:
            finite = [v for v in values(entry, name).values() if is_finite_number(v)]
            stats[name] = mean_ci(finite) if finite else None
        if baseline is not None and entry != baseline:
            for name in names:
                mine, base = values(entry, name), values(baseline, name)
                seeds = sorted(s for s in mine if s in base)
                if seeds and worst[name] is not None:
                    raw[entry, name] = paired_comparison([mine[s] for s in seeds],
                                                         [base[s] for s in seeds],
                                                         lower_is_better=SUMMARIES[name][1],
                                                         worst=worst[name])
        seeds_done = tuple(sorted(per_entry[entry]))
        diverged = tuple(s for s in seeds_done if per_entry[entry][s][-1].diverged)
        out.append(EntrySummary(entry, seeds_done, diverged, stats, {}))
    keys = list(raw)
    adjusted = dict(zip(keys, adjust_family([raw[k] for k in keys])))
    family = sum(1 for k in keys if raw[k].judged.p is not None)
    return [replace(s, versus={n: adjusted[s.entry, n] for n in names if (s.entry, n) in raw},
                    versus_raw={n: raw[s.entry, n] for n in names if (s.entry, n) in raw},
                    family=family) for s in out]

"""Confirming a sweep's best points on fresh seeds.

A sweep picks each entry's best point on the same seeds its curve shows, so that point's number
is optimistic: the winner's luck is measured again. :func:`confirmation_plan` and
:func:`run_confirmation` retrain each entry's best point on fresh seeds (``CONFIRM_OFFSET`` past
the sweep's first seed, never one of its own), :func:`confirmations` reports both numbers, and
:func:`minima_tests` compares two entries' confirmed minima, paired on those seeds (a difference
between minima read off the sweep's own seeds is not a test: the page labels it "not tested").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch

from ..config import RunConfig, is_finite_number
from ..data import MNIST1D, load_mnist1d
from ..stats import (Interval, PairedComparison, adjust_family, apply_divergence_rule, mean_ci,
                     paired_comparison, worst_value)
from .compare import comparison_seeds
from .sweep import METRICS, SweepConfig, SweepEpoch, SweepPoint, SweepRun, train_members

# Fresh seeds for a confirmation start this far past the sweep's first seed (the sweep uses at
# most MAX_SEEDS from it, so they never overlap).
CONFIRM_OFFSET = 100


@dataclass(frozen=True)
class ConfirmationPlan:
    """Each entry's best point (None: it has none) retrained on fresh ``seeds``."""

    config: SweepConfig
    points: tuple[tuple[float, ...] | None, ...]
    sweep_stats: tuple[Interval | None, ...]
    seeds: tuple[int, ...]

    def member_configs(self, entry: int) -> list[RunConfig]:
        point = self.points[entry]
        return [] if point is None else [self.config.point_config(entry, point, s)
                                         for s in self.seeds]

    @property
    def n_runs(self) -> int:
        return sum(p is not None for p in self.points) * len(self.seeds)

    @property
    def total_epochs(self) -> int:
        return sum(p is not None for p in self.points) * self.config.entries[0].epochs


def confirmation_seeds(config: SweepConfig, n_seeds: int | None = None,
                       first: int | None = None) -> list[int]:
    """Fresh seeds for a confirmation: ``n_seeds`` (default the sweep's count) from ``first``
    (default CONFIRM_OFFSET past the sweep's first seed); ValueError when they overlap the
    sweep's seeds or leave the seed range."""
    first = config.entries[0].seed + CONFIRM_OFFSET if first is None else int(first)
    seeds = comparison_seeds(first, config.n_seeds if n_seeds is None else n_seeds)
    if set(seeds) & set(config.seeds):
        raise ValueError(f"confirmation seeds {seeds[0]}..{seeds[-1]} overlap the sweep's "
                         f"{config.seeds[0]}..{config.seeds[-1]}: they must be fresh")
    return seeds


def confirmation_plan(config: SweepConfig, points: Sequence[SweepPoint],
                      n_seeds: int | None = None, first: int | None = None
                      ) -> ConfirmationPlan:
    """Each entry's best point (``sweep_points``' mark) on fresh seeds."""
    best = {p.entry: p for p in points if p.best}
    return ConfirmationPlan(config,
                            tuple(best[i].point if i in best else None
                                  for i in range(len(config.entries))),
                            tuple(best[i].stats if i in best else None
                                  for i in range(len(config.entries))),
                            tuple(confirmation_seeds(config, n_seeds, first)))


def run_confirmation(plan: ConfirmationPlan, data: MNIST1D | None = None, *,
                     dtype: torch.dtype = torch.float32) -> Iterator[SweepEpoch]:
    """Train each entry's best point on the plan's seeds (one population per entry)."""
    data = data if data is not None else load_mnist1d()
    honest = plan.config.entries[0].split == "honest"
    for entry, point in enumerate(plan.points):
        if point is None:
            continue
        members = [(point, s) for s in plan.seeds]
        yield from train_members(entry, members, plan.member_configs(entry), data, honest,
                                  dtype)


@dataclass(frozen=True)
class Confirmation:
    """One entry's best point: the sweep's (optimistic) number and the fresh seeds' one."""

    entry: int
    point: tuple[float, ...]
    sweep: Interval | None          # on the seeds that picked the point: optimistic
    fresh: Interval | None          # on fresh seeds (diverged seeds at the worst value)
    values: tuple[float | None, ...]    # per fresh seed, in plan order; None: diverged
    seeds: tuple[int, ...]
    n_diverged: int

    @property
    def inside(self) -> bool | None:
        """Whether the fresh mean lies inside the sweep's own 95% interval (None: no interval)."""
        if self.sweep is None or self.fresh is None or self.sweep.n < 2:
            return None
        return self.sweep.contains(self.fresh.mean)


def confirmations(plan: ConfirmationPlan, runs: Iterable[SweepRun]) -> list[Confirmation]:
    """Per entry with a best point whose fresh seeds have all ended: both numbers."""
    metric = plan.config.metric
    lower_better = METRICS[metric][1]
    by_entry: dict[int, dict[int, SweepRun]] = {}
    for r in runs:
        by_entry.setdefault(r.entry, {})[r.seed] = r
    done = {e: rs for e, rs in by_entry.items() if len(rs) == len(plan.seeds)}
    worst = worst_value((r.values[metric] for rs in done.values() for r in rs.values()),
                        lower_better)
    out = []
    for entry, point in enumerate(plan.points):
        if point is None or entry not in done:
            continue
        values = [done[entry][s].values[metric] for s in plan.seeds]
        values = [v if is_finite_number(v) else None for v in values]
        fresh = None if worst is None else mean_ci(apply_divergence_rule(values, worst)[0])
        out.append(Confirmation(entry, point, plan.sweep_stats[entry], fresh, tuple(values),
                                plan.seeds, sum(v is None for v in values)))
    return out


def minima_tests(plan: ConfirmationPlan, found: Sequence[Confirmation],
                 reference: int = 0, margin: float | None = None
                 ) -> dict[int, PairedComparison | None]:
    """Each confirmed entry's minimum against ``reference``'s, paired on the fresh seeds (the
    same seeds give both the same initial weights and batches), Holm-adjusted across the
    entries. None for an entry that cannot be tested (no confirmation, or the reference has
    none): say "not tested"."""
    lower_better = METRICS[plan.config.metric][1]
    by_entry = {c.entry: c for c in found}
    ref = by_entry.get(reference)
    entries = [e for e in range(len(plan.points)) if e != reference]
    raw: list[PairedComparison | None] = []
    for e in entries:
        c = by_entry.get(e)
        if ref is None or c is None:
            raw.append(None)
            continue
        pool = [*c.values, *ref.values]
        raw.append(paired_comparison(list(c.values), list(ref.values),
                                     lower_is_better=lower_better, margin=margin,
                                     worst=worst_value(pool, lower_better)))
    return dict(zip(entries, adjust_family(raw)))


def confirmation_rows(plan: ConfirmationPlan, found: Sequence[Confirmation],
                      tests: dict[int, PairedComparison | None] | None = None) -> list[dict]:
    """One plain row per entry: its best point, the optimistic number, the fresh one."""
    by_entry = {c.entry: c for c in found}
    rows = []
    for entry, point in enumerate(plan.points):
        c = by_entry.get(entry)
        row = {"entry": entry + 1, "method": plan.config.entries[entry].method,
               "best point": None if point is None else
               ", ".join(f"{a.knob}={v:.4g}" for a, v in zip(plan.config.axes, point))}
        s = plan.sweep_stats[entry]
        row["sweep seeds (optimistic)"] = _ci_text(s)
        row["fresh seeds"] = "not confirmed" if c is None else _ci_text(c.fresh) + (
            f"; diverged on {c.n_diverged} of {len(c.seeds)} seeds" if c.n_diverged else "")
        row["inside the sweep's interval"] = None if c is None else c.inside
        if tests is not None:
            t = tests.get(entry)
            row["vs entry 1 (paired, fresh seeds)"] = (
                "reference" if entry == 0 else "not tested" if t is None else t.verdict)
        rows.append(row)
    return rows


def _ci_text(ci: Interval | None) -> str:
    if ci is None:
        return "-"
    if ci.n < 2:
        return f"{ci.mean:.4f} (n=1)"
    return f"{ci.mean:.4f} [{ci.low:.4f}, {ci.high:.4f}]"

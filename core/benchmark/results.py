"""A record judged: per-workload tables with intervals and Holm-adjusted paired verdicts against
the baseline, the targets and epochs to reach them, a Dolan-More performance profile, win/tie/loss
counts and the heatmap, as plain rows (:func:`summarize`) or pandas frames (:func:`frames`).

Everything here is derived from the record's cells, so a page, the markdown writer and a record
read back from JSON judge alike.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Sequence

from ..stats import (BETTER, EQUIVALENT, NOT_DETECTED, WORSE, PairedComparison, adjust_family,
                     mean_ci, paired_comparison, worst_value)
from .config import METRICS

TARGET_RULE = ("The target of a workload is the median, over the reference method's confirmation "
               "seeds that did not diverge, of their best validation accuracy (AlgoPerf sets its "
               "targets from a tuned baseline the same way); a run's time to target is the first "
               "epoch its validation accuracy reached it (never, for a diverged run).")
LOWER_IS_BETTER = {"test_acc": False, "test_loss": True}
PRIMARY = "test_acc"
TAUS = (1.0, 1.02, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Summary:
    targets: dict        # workload key -> target validation accuracy (None: no reference run)
    table: list          # one row per (workload, method), ranked within each workload
    profile: list        # {"method", "tau", "fraction"} rows; measure: PROFILE_MEASURE
    ratios: list         # {"method", "workload", "ratio"} (inf: the cell failed)
    counts: list         # per method against the baseline: wins, ties, losses over workloads
    heatmap: list        # {"method", "workload", "label", "verdict", "strong", "diverged"}
    family: int          # tests in the Holm family

    def to_dict(self) -> dict:
        return asdict(self)


PROFILE_MEASURE = "test error (1 - mean test accuracy after the divergence rule)"


def target_accuracy(record, workload: str) -> float | None:
    cell = record.cell(record.config.entry("reference").key, workload)
    if cell is None:
        return None
    best = [max(a for a in r.val_acc if a is not None) for r in cell.runs
            if not r.diverged and any(a is not None for a in r.val_acc)]
    return float(statistics.median(best)) if best else None


def _values(cell, seeds: Sequence[int], metric: str) -> list[float | None]:
    by_seed = {r.seed: r for r in cell.runs}
    return [None if s not in by_seed or by_seed[s].diverged else getattr(by_seed[s], metric)
            for s in seeds]


def _ci(values: list[float | None], worst: float | None) -> dict:
    finite = [v if v is not None else worst for v in values]
    if any(v is None for v in finite) or not finite:
        return {"mean": None, "low": None, "high": None}
    ci = mean_ci(finite)
    return {"mean": ci.mean, "low": ci.low if ci.n > 1 else None,
            "high": ci.high if ci.n > 1 else None}


def _median_epochs(epochs: list[int | None]) -> float | None:
    """Median with unreached runs counted as infinitely slow (None when most never got there)."""
    xs = sorted(math.inf if e is None else e for e in epochs)
    if not xs:
        return None
    m = statistics.median(xs)
    return None if math.isinf(m) else float(m)


def summarize(record) -> Summary:
    config = record.config
    seeds = config.confirm_seeds
    base = config.entry("baseline").key
    targets, rows, pending = {}, [], []
    for workload in config.workloads:
        w = workload.key
        cells = [c for c in (record.cell(m.key, w) for m in config.methods) if c is not None]
        target = targets[w] = target_accuracy(record, w)
        worst = {m: worst_value([v for c in cells for v in _values(c, seeds, m)],
                                LOWER_IS_BETTER[m]) for m in METRICS}
        base_cell = record.cell(base, w)
        for cell in cells:
            entry = next(m for m in config.methods if m.key == cell.method)
            epochs = [r.epochs_to(target) for r in cell.runs]
            row = {"workload": w, "workload_label": workload.label, "method": cell.method,
                   "method_label": entry.label, "baseline": cell.method == base,
                   "seeds": len(cell.runs), "diverged": cell.diverged, "failed": cell.failed,
                   "best_params": cell.best_params, "trials": cell.trials,
                   "target": target, "epochs_to_target": _median_epochs(epochs),
                   "reached_target": sum(e is not None for e in epochs),
                   "wall_s": cell.search_s + cell.confirm_s, "search_s": cell.search_s,
                   "confirm_s": cell.confirm_s, "grads_per_step": cell.grads_per_step,
                   "hvps_per_step": cell.hvps_per_step, "steps_per_epoch": cell.steps_per_epoch}
            for m in METRICS:
                ci = _ci(_values(cell, seeds, m), worst[m])
                row.update({f"{m}_{k}": v for k, v in ci.items()})
                row[f"{m}_verdict"] = row[f"{m}_label"] = row[f"{m}_p"] = None
                if cell.method != base and base_cell is not None:
                    pending.append((row, m, _compare(cell, base_cell, seeds, m, worst[m],
                                                     config.margin(m))))
            rows.append(row)
    judged = adjust_family([c for _, _, c in pending])
    family = sum(c is not None and c.judged is not None and c.judged.p is not None
                 for c in judged)
    for (row, m, _), c in zip(pending, judged):
        if c is None:
            row[f"{m}_verdict"] = "no verdict: every run of this workload diverged"
            row[f"{m}_label"] = "none"
            continue
        extra = f"; {c.diverged_text}" if c.diverged_text else ""
        row[f"{m}_verdict"] = c.verdict + extra
        row[f"{m}_label"] = c.judged.label
        row[f"{m}_p"] = c.judged.p
        row[f"{m}_difference"] = c.difference.mean
    rows = _ranked(rows, config)
    ratios = _ratios(rows, config)
    return Summary(targets, rows, profile(ratios, [m.key for m in config.methods]), ratios,
                   _counts(rows, config), _heatmap(rows), family)


def _compare(cell, base_cell, seeds, metric, worst, margin) -> PairedComparison | None:
    try:
        return paired_comparison(_values(cell, seeds, metric), _values(base_cell, seeds, metric),
                                 lower_is_better=LOWER_IS_BETTER[metric], margin=margin,
                                 worst=worst)
    except ValueError:      # every run of the workload diverged: nothing to rank them by
        return None


def _ranked(rows: list[dict], config) -> list[dict]:
    out = []
    for workload in config.workloads:
        mine = [r for r in rows if r["workload"] == workload.key]
        # failed cells last; then by the primary score (higher accuracy first)
        mine.sort(key=lambda r: (r["failed"], -(r[f"{PRIMARY}_mean"]
                                                if r[f"{PRIMARY}_mean"] is not None else -1),
                                 r["diverged"]))
        for rank, r in enumerate(mine, 1):
            r["rank"] = rank
        out += mine
    return out


def _ratios(rows: list[dict], config) -> list[dict]:
    """Dolan-More ratios on test error: each cell's error over the workload's best; a failed cell
    (every seed diverged) is inf, as a solver that failed."""
    out = []
    for workload in config.workloads:
        mine = [r for r in rows if r["workload"] == workload.key]
        errors = {r["method"]: (math.inf if r["failed"] or r[f"{PRIMARY}_mean"] is None
                                else 1.0 - r[f"{PRIMARY}_mean"]) for r in mine}
        best = min(errors.values(), default=math.inf)
        for method, e in errors.items():
            if math.isinf(e):
                ratio = math.inf
            elif best <= 0:
                ratio = 1.0 if e <= 0 else math.inf
            else:
                ratio = e / best
            out.append({"method": method, "workload": workload.key, "ratio": ratio})
    return out


def profile(ratios: list[dict], methods: Sequence[str], taus: Sequence[float] = TAUS
            ) -> list[dict]:
    """rho_m(tau): the fraction of workloads on which method m is within a factor tau of the
    best (Dolan & More 2002)."""
    out = []
    for m in methods:
        rs = [r["ratio"] for r in ratios if r["method"] == m]
        for tau in taus:
            out.append({"method": m, "tau": tau,
                        "fraction": sum(r <= tau for r in rs) / len(rs) if rs else 0.0})
    return out


def _counts(rows: list[dict], config) -> list[dict]:
    base = config.entry("baseline").key
    out = []
    for m in config.methods:
        if m.key == base:
            continue
        labels = [r[f"{PRIMARY}_label"] for r in rows if r["method"] == m.key]
        out.append({"method": m.key, "method_label": m.label,
                    "wins": labels.count(BETTER), "losses": labels.count(WORSE),
                    "ties": sum(lab not in (BETTER, WORSE) for lab in labels),
                    "equivalent": labels.count(EQUIVALENT),
                    "not_detected": labels.count(NOT_DETECTED), "workloads": len(labels)})
    return out


def _heatmap(rows: list[dict]) -> list[dict]:
    return [{"method": r["method"], "workload": r["workload"],
             "label": "baseline" if r["baseline"] else r[f"{PRIMARY}_label"],
             "verdict": "baseline" if r["baseline"] else r[f"{PRIMARY}_verdict"],
             "strong": r[f"{PRIMARY}_label"] in (BETTER, WORSE),
             "diverged": r["diverged"], "failed": r["failed"],
             "test_acc_mean": r["test_acc_mean"]} for r in rows]


def frames(record) -> dict:
    """The summary as pandas DataFrames: ``table``, ``profile``, ``ratios``, ``counts``,
    ``heatmap`` (long form) and ``heatmap_grid`` (methods x workloads of verdict labels)."""
    import pandas as pd
    s = summarize(record)
    out = {name: pd.DataFrame(getattr(s, name))
           for name in ("table", "profile", "ratios", "counts", "heatmap")}
    heat = out["heatmap"]
    out["heatmap_grid"] = (heat.pivot(index="method", columns="workload", values="label")
                           if len(heat) else heat)
    return out

"""Each write-up's equivalence margins: per metric, from the baseline's seed-to-seed spread.

A margin is the smallest difference between two methods that the lab counts as mattering. It is
set per metric and per workload (model, epochs, batch), as the seed-to-seed standard deviation of
the baseline on that workload: a method whose mean differs from Adam's by less than one run's
seed-to-seed noise changes less than the choice of seed does. The spread is measured on
calibration seeds (:data:`CALIBRATION_SEEDS`) that no verdict, search, measured run or
sensitivity curve uses, with Adam at the learning rate the write-up itself reports for it (its
fixed lr where it tuned none), on the honest split, for the measured training's length.

The values are pinned in :mod:`core.experiments.pinned_margins` (a later change of code cannot
move a margin) with the date and command that set them; ``python -m core.experiments.margins``
re-measures them and prints the table to pin. History, said plainly in every record: until 2026-12-03 one margin,
+-0.02 cross-entropy, served every loss of every write-up; it was introduced after 002's
earlier numbers were known, so it was not fixed before those runs.
"""

import math
import sys

from ..config import RunConfig
from ..stats import mean_ci
from ..training.population import train_population
from .measure import measure
from .pinned_margins import CALIBRATION_SEEDS
from .protocols import ACCURACIES, FULL, LOSSES, PROTOCOLS, Protocol
from .run import measured_epochs


def calibration_lr(p: Protocol) -> float:
    """Adam's lr for the calibration: the write-up's reported tuned lr, else its fixed lr."""
    reported = p.reported_value("baseline", "lr")
    if reported is not None:
        return float(reported)
    return float(dict(p.baseline.fixed).get("lr", p.baseline.spec.hyperparam("lr").default))


def calibrate(p: Protocol) -> dict[str, dict[str, float]]:
    """Train Adam on every calibration seed (one population); per loss and accuracy (every one
    the lab reads, so a sensitivity curve's minimum has one too), {"sd", "mean", "n"}."""
    epochs = measured_epochs(FULL.apply(p))
    configs = [RunConfig(method=p.baseline.method, lr=calibration_lr(p), epochs=epochs,
                         batch_size=p.batch_size, model=p.model, shape=p.shape,
                         split="honest", seed=s,
                         device="cpu") for s in CALIBRATION_SEEDS]
    curves = [[] for _ in configs]
    for row in train_population(configs, test_every_epoch=True):
        for curve, m in zip(curves, row):
            if m is not None:
                curve.append(m)
    measured = [measure(p, c, {}, "honest", LOSSES + ACCURACIES) for c in curves]
    out = {}
    for q in LOSSES + ACCURACIES:
        xs = [m[q] for m in measured if math.isfinite(m.get(q, math.nan))]
        if len(xs) >= 2:
            ci = mean_ci(xs)
            out[q] = {"sd": ci.sd, "mean": ci.mean, "n": ci.n}
    return out


def main() -> int:
    """Measure every write-up's margins and print the MARGINS table to pin."""
    import torch
    torch.set_num_threads(1)
    table = {}
    for key, p in PROTOCOLS.items():
        got = calibrate(p)
        for q, v in got.items():
            print(f"# {key} {q}: sd {v['sd']:.5f} mean {v['mean']:.4f} over {v['n']} seeds",
                  file=sys.stderr, flush=True)
        table[key] = {q: float(f"{v['sd']:.2g}") for q, v in got.items()}
    print("MARGINS = " + repr(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An lr-sensitivity curve per write-up: both sides, over fresh seeds, for the write-up's epochs.

A verdict compares two tuned points; the curve shows what it rests on: how wide each side's good
lr range is, whether a tuned lr sits at the edge, where a side diverges. Each side is one sweep
(``core.training.sweep``: its grid points x seeds train as one population) over the side's own
search range (a fixed lr: a decade either side of it), with the side's other knobs as the
protocol holds them, on the honest split, reading the test loss at the epoch of minimum
validation loss.
"""

import math
from typing import Iterator

from ..config import RunConfig
from ..training.sweep import (Axis, SweepConfig, edge_warnings, point_rows, run_sweep,
                              sweep_points)
from .protocols import CONFIRM_SEED, SIDES, Protocol, Scale
from .result import Event
from .run import _knobs, measured_epochs

POINTS = 5
SEEDS = 5
QUICK_POINTS = 3
QUICK_SEEDS = 2
METRIC = "test_loss_at_best_val"


def _span(p: Protocol, side: str) -> tuple[float, float]:
    s = p.side(side)
    ranges = {n: (lo, hi) for n, lo, hi in s.tuned}
    if "lr" in ranges:
        return ranges["lr"]
    lr = dict(s.fixed).get("lr", s.spec.hyperparam("lr").default)
    hp = s.spec.hyperparam("lr")
    return max(lr / 10, hp.low), min(lr * 10, hp.high)


def sweep_config(p: Protocol, side: str, scale: Scale) -> SweepConfig:
    """One side's lr sweep: ``POINTS`` lrs x ``SEEDS`` seeds from CONFIRM_SEED (fewer when
    quick), the measured training's length."""
    s = p.side(side)
    _, fixed = _knobs(s)
    fixed.pop("lr", None)
    entry = RunConfig(method=s.method, hparams=fixed, epochs=measured_epochs(scale.apply(p)),
                      batch_size=p.batch_size, hidden=p.hidden, split="honest",
                      seed=CONFIRM_SEED, device="cpu")
    quick = not scale.is_full
    axis = Axis("lr", QUICK_POINTS if quick else POINTS, _span(p, side))
    return SweepConfig((entry,), axis, None, QUICK_SEEDS if quick else SEEDS, METRIC)


def planned(p: Protocol, scale: Scale) -> int:
    """Events :func:`run_sensitivity` yields when nothing diverges (one per side and epoch)."""
    return sum(sweep_config(p, s, scale).total_epochs for s in SIDES)


def run_sensitivity(p: Protocol, scale: Scale) -> Iterator[Event]:
    """Generator of ``sweep`` events (one per epoch of each side's population); returns
    {side: {"rows": point rows, "warnings": edge sentences, "seeds": [...], ...}}."""
    out = {}
    for side in SIDES:
        config = sweep_config(p, side, scale)
        runs = []
        label = f"lr sensitivity: {p.side(side).spec.display_name}, {config.n_runs} runs together"
        sweep = run_sweep(config)
        try:
            for ev in sweep:
                runs.extend(ev.finished)
                yield Event("sweep", p.key, 0, 1, label, side=side,
                            message=f"{label}: epoch {ev.epoch}")
        finally:
            sweep.close()
        points = sweep_points(config, runs)
        rows = [{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                 for k, v in r.items()} for r in point_rows(config, points)]
        out[side] = {"method": p.side(side).method, "metric": METRIC, "seeds": config.seeds,
                     "epochs": config.entries[0].epochs, "rows": rows,
                     "warnings": edge_warnings(config, points)}
    return out

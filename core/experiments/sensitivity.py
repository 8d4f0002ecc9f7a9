"""An lr-sensitivity curve per write-up: both sides, over fresh seeds, for the write-up's epochs.

A verdict compares two tuned points; the curve shows what it rests on: how wide each side's good
lr range is, whether a tuned lr sits at the edge, where a side diverges. Each side is one sweep
(``core.training.sweep``: its grid points x seeds train as one population) over the side's own
search range (a fixed lr: a decade either side of it), with the side's other knobs as the
protocol holds them, on the honest split, reading the test loss at the epoch of minimum
validation loss.

Seeds: the curves use ``SENSITIVITY_SEED``.. (none of the searches' 0.., the measured runs'
1000.., the calibration's 5000..), and each side's best point is then confirmed on
``CONFIRM_SEED_SENSITIVITY``.. (fresh again): the record shows both numbers, the curve's marked
as optimistic, and tests the two sides' minima against each other, paired on the confirmation
seeds.
"""

import math
from typing import Iterator

from ..config import RunConfig
from ..stats import paired_comparison, worst_value
from ..training.sweep import (Axis, SweepConfig, edge_warnings, point_rows, run_sweep,
                              sweep_points)
from ..training.sweep_confirm import confirmation_plan, confirmations, run_confirmation
from .protocols import SIDES, Protocol, Scale
from .result import Event
from .run import _knobs, measured_epochs

POINTS = 5
SEEDS = 5
QUICK_POINTS = 3
QUICK_SEEDS = 2
METRIC = "test_loss_at_best_val"
SENSITIVITY_SEED = 3000
CONFIRM_SEED_SENSITIVITY = 4000


def _span(p: Protocol, side: str) -> tuple[float, float]:
    s = p.side(side)
    ranges = {n: (lo, hi) for n, lo, hi in s.tuned}
    if "lr" in ranges:
        return ranges["lr"]
    lr = dict(s.fixed).get("lr", s.spec.hyperparam("lr").default)
    hp = s.spec.hyperparam("lr")
    return max(lr / 10, hp.low), min(lr * 10, hp.high)


def sweep_config(p: Protocol, side: str, scale: Scale) -> SweepConfig:
    """One side's lr sweep: ``POINTS`` lrs x ``SEEDS`` seeds from SENSITIVITY_SEED (fewer when
    quick), the measured training's length."""
    s = p.side(side)
    _, fixed = _knobs(s)
    fixed.pop("lr", None)
    entry = RunConfig(method=s.method, hparams=fixed, epochs=measured_epochs(scale.apply(p)),
                      batch_size=p.batch_size, model=p.model, shape=p.shape,
                      schedule=s.schedule, schedule_params=dict(s.schedule_params),
                      split="honest",
                      seed=SENSITIVITY_SEED, device="cpu")
    quick = not scale.is_full
    axis = Axis("lr", QUICK_POINTS if quick else POINTS, _span(p, side))
    return SweepConfig((entry,), axis, None, QUICK_SEEDS if quick else SEEDS, METRIC)


def planned(p: Protocol, scale: Scale) -> int:
    """Events :func:`run_sensitivity` yields when nothing diverges (one per side and epoch, for
    the sweep and for its confirmation)."""
    return 2 * sum(sweep_config(p, s, scale).total_epochs for s in SIDES)


def _clean(rows: list[dict]) -> list[dict]:
    return [{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
             for k, v in r.items()} for r in rows]


def _interval(ci) -> dict | None:
    if ci is None:
        return None
    return _clean([{"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}])[0]


def run_sensitivity(p: Protocol, scale: Scale) -> Iterator[Event]:
    """Generator of ``sweep`` events (one per epoch of each side's population, then of its
    confirmation); returns {side: {"rows", "warnings", "seeds", "confirmation", ...}} and, under
    "minima", the paired test of the two sides' confirmed best points."""
    out: dict = {}
    found, plans = {}, {}
    for side in SIDES:
        config = sweep_config(p, side, scale)
        name = p.side(side).spec.display_name
        runs = yield from _events(p, side, run_sweep(config),
                                  f"lr sensitivity: {name}, {config.n_runs} runs together")
        points = sweep_points(config, runs)
        plan = confirmation_plan(config, points, first=CONFIRM_SEED_SENSITIVITY)
        fresh = yield from _events(p, side, run_confirmation(plan),
                                   f"lr sensitivity: {name}, best point on fresh seeds "
                                   f"{plan.seeds[0]}-{plan.seeds[-1]}")
        conf = confirmations(plan, fresh)
        found[side], plans[side] = (conf[0] if conf else None), plan
        out[side] = {"method": p.side(side).method, "metric": METRIC, "seeds": config.seeds,
                     "epochs": config.entries[0].epochs,
                     "rows": _clean(point_rows(config, points)),
                     "warnings": edge_warnings(config, points),
                     "confirmation": None if not conf else {
                         "lr": conf[0].point[0], "seeds": list(plan.seeds),
                         "sweep": _interval(conf[0].sweep), "fresh": _interval(conf[0].fresh),
                         "values": list(conf[0].values), "diverged": conf[0].n_diverged,
                         "inside": conf[0].inside}}
    out["minima"] = _minima(p, found)
    return out


def _events(p: Protocol, side: str, generator, label: str):
    runs = []
    try:
        for ev in generator:
            runs.extend(ev.finished)
            yield Event("sweep", p.key, 0, 1, label, side=side,
                        message=f"{label}: epoch {ev.epoch}")
    finally:
        generator.close()
    return runs


def _minima(p: Protocol, found: dict) -> dict:
    """method's confirmed minimum - Adam's, paired on the confirmation seeds (both sides train
    on the same seeds, so each pair shares initial weights and batches)."""
    b, m = found.get("baseline"), found.get("method")
    if b is None or m is None or b.seeds != m.seeds:
        return {"verdict": "not tested (a side has no confirmed best point)"}
    pool = [*m.values, *b.values]
    pc = paired_comparison(list(m.values), list(b.values), margin=p.margin("best_val_loss"),
                           worst=worst_value(pool))
    return {"verdict": pc.verdict, "reason": pc.reason, "seeds": list(b.seeds),
            "difference": _interval(pc.difference), "diverged": list(pc.diverged)}

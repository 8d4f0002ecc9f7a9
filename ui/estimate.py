"""How long a Reproduce run takes, from measured rates (pure Python, tested directly).

Before a run: the committed record's own pace per protocol (``results/reproduction.json``:
seconds per planned epoch on the idle 2-core machine that made it, read at runtime), plus a
start-up cost, scaled by how the last run finished on this server compared with its estimate.
That last factor is what a loaded server needs: the "quick run said 0.1 min, took 20 s" report
came from a busy machine; measured here at a load average of 13, meta_curvature's full run took
22 s against the record's 3 s, and its quick run half of that, as its epochs predict. During a
run: the time so far over the epochs done so far, counting a search trial as its epochs, so one
slow stage does not swing the figure.

Whether a job may start at all is :mod:`core.pace`'s question (every page's job, from its steps
and compute at the pace probed on this server); this module only tells a Reproduce visitor how
long to wait, from the record, which knows each protocol's mix of searches and seeds better.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

from core.experiments import FULL, planned_epochs

RECORD = Path(__file__).resolve().parent.parent / "results" / "reproduction.json"
FALLBACK_S_PER_EPOCH = 0.022      # the full record's overall pace: 21,080 epochs in 385 s
START_S = 3.0                     # thread start, first optimizer built, first batches
_lock = threading.Lock()
_pace = {"factor": 1.0}           # server-wide: measured / estimated, last finished run here


@lru_cache(maxsize=1)
def _record_rates() -> dict[str, float]:
    try:
        record = json.loads(RECORD.read_text())
        from core.experiments import PROTOCOLS
        return {e["key"]: e["duration_s"] / planned_epochs(PROTOCOLS[e["key"]], len(e["seeds"]),
                                                           FULL)
                for e in record["experiments"] if e.get("key") in PROTOCOLS and e["seeds"]}
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return {}


MODELS_RECORD = RECORD.parent / "models.json"


@lru_cache(maxsize=1)
def _model_rates() -> dict[str, float]:
    """Each model's solo seconds per epoch in ``results/models.json`` (``python -m core
    models``, one machine, one run): how much dearer an epoch of one model is than another's."""
    try:
        record = json.loads(MODELS_RECORD.read_text())
        return {m["key"]: float(m["solo_s_per_epoch"]) for m in record["models"]
                if float(m["solo_s_per_epoch"]) > 0}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def model_factor(protocol) -> float:
    """How many of the write-up's own model's epochs one epoch of ``protocol``'s model costs
    (1 for the write-up's model, or when either is not in the models record)."""
    from core.experiments import get_protocol
    rates = _model_rates()
    mine, written = rates.get(protocol.model), rates.get(get_protocol(protocol.key).model)
    return mine / written if mine and written else 1.0


def seconds_per_epoch(key: str) -> float:
    return _record_rates().get(key, FALLBACK_S_PER_EPOCH)


def estimate_s(protocol, seeds: int, scale) -> float:
    base = START_S + (planned_epochs(protocol, seeds, scale) * seconds_per_epoch(protocol.key)
                      * model_factor(protocol))
    with _lock:
        return base * _pace["factor"]


def record_finished(estimated_s: float, measured_s: float) -> None:
    """A run finished here: later estimates follow this server's pace (kept within 0.25-20x)."""
    if estimated_s > 0 and measured_s > 0:
        with _lock:
            _pace["factor"] = min(20.0, max(0.25, _pace["factor"] * measured_s / estimated_s))


def epochs_done(events, protocol, scale) -> int:
    per_trial = scale.apply(protocol)["search_epochs"]
    return sum(per_trial if e.kind == "trial" else 1 if e.kind == "epoch" else 0 for e in events)


def remaining_s(events, protocol, seeds: int, scale, elapsed_s: float) -> float | None:
    done = epochs_done(events, protocol, scale)
    if done == 0 or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s / done * (planned_epochs(protocol, seeds, scale) - done))


def words(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"

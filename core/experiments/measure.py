"""Reading a protocol's quantities off one side's measured curve."""

import math
from typing import Sequence

from ..config import EpochMetrics, is_finite_number
from .protocols import ACCURACIES, EARLY_EPOCHS, LOSSES, Protocol

INF = float("inf")


def measure(protocol: Protocol, curve: Sequence[EpochMetrics], params: dict,
            split: str, quantities: Sequence[str] | None = None) -> dict[str, float]:
    """The protocol's quantities from one side's measured curve.

    Under the write-up split the validation set is the test set and everything is read off the
    validation curve, as the write-ups did. Under the honest split, ``best_val_loss`` is the test
    loss at the epoch of minimum validation loss: the curve reports the test set after every
    epoch (``test_every_epoch``), the epoch is chosen by the validation curve alone, and the test
    loss is only read there. Retraining the same config for that many epochs and testing once
    would give the same number (the run up to that epoch is the same: bit for bit alone, to float
    rounding in a population), so this is as honest as retraining, and cheaper.
    ``final_val_loss`` is the test loss after the last epoch. A diverged run ends at +inf; a
    missing test report measures as NaN. ``quantities`` (default the protocol's) names what to
    read.
    """
    out: dict[str, float] = {}
    for q in protocol.quantities if quantities is None else quantities:
        if q in ACCURACIES:
            out[q] = _accuracy(q, curve, split)
            continue
        if q not in LOSSES:
            if q in params:
                out[q] = float(params[q])
            continue
        if not curve:
            out[q] = math.nan
            continue
        last = curve[-1]
        vals = [m.val_loss if is_finite_number(m.val_loss) else INF for m in curve]
        if q == "early_val_loss":
            if split == "writeup":
                window = vals[:EARLY_EPOCHS]
            else:
                window = [_test_loss(m) if not m.diverged else INF for m in curve[:EARLY_EPOCHS]]
            out[q] = sum(window) / len(window)
        elif q == "final_train_loss":
            out[q] = last.train_loss if not last.diverged else INF
        elif q == "final_val_loss":
            if last.diverged:
                out[q] = INF
            else:
                out[q] = last.val_loss if split == "writeup" else _test_loss(last)
        elif q == "best_val_loss":
            k = min(range(len(vals)), key=vals.__getitem__)
            if split == "writeup" or not is_finite_number(vals[k]):
                out[q] = vals[k]
            else:
                out[q] = _test_loss(curve[k])
    return out


def _test_loss(m: EpochMetrics) -> float:
    return m.test_loss if m.test_loss is not None else math.nan


def _accuracy(q: str, curve: Sequence[EpochMetrics], split: str) -> float:
    """Accuracy next to a loss: at the epoch of minimum validation loss, or after the last epoch;
    on the test set under the honest split. NaN for a diverged or empty run (left out)."""
    if not curve or curve[-1].diverged:
        return math.nan
    if q == "best_val_acc":
        vals = [m.val_loss if is_finite_number(m.val_loss) else INF for m in curve]
        m = curve[min(range(len(vals)), key=vals.__getitem__)]
    else:
        m = curve[-1]
    acc = m.val_acc if split == "writeup" else m.test_acc
    return float(acc) if is_finite_number(acc) else math.nan

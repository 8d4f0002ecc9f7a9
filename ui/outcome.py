"""Whether a finished run learned anything, and the likely cause when it did not.

Pure Python (no streamlit), used by Train and reusable by any page that shows a finished run
(Compare: one call per method over its seeds' metrics). A run "learned nothing" when its
validation accuracy is at chance, or its training loss ended above its first epoch's.
"""

from __future__ import annotations

import math
from typing import Sequence

from core.config import EpochMetrics, RunConfig

N_CLASSES = 10           # MNIST-1D's digits
# The fewest validation samples of any split (honest: 800); fewer samples, wider noise.
MIN_VAL_SAMPLES = 800


def chance_ceiling(n_classes: int = N_CLASSES, n_val: int = MIN_VAL_SAMPLES) -> float:
    """Accuracy that guessing reaches with about 0.1% probability: chance plus three binomial
    standard deviations (0.132 for ten classes and 800 samples)."""
    p = 1 / n_classes
    return p + 3 * math.sqrt(p * (1 - p) / n_val)


def learned_nothing(items: Sequence[EpochMetrics], config: RunConfig) -> str | None:
    """A warning in words for a finished run that learned nothing, naming the likely cause;
    ``None`` for a run that learned (or one too short to tell: fewer than two epochs for the
    loss test). Diverged runs are reported as diverged elsewhere."""
    if not items or items[-1].diverged:
        return None
    first, last = items[0], items[-1]
    lr = config.lr
    hp = config.spec.hyperparam("lr")
    middle = math.sqrt(hp.low * hp.high) if hp.log else (hp.low + hp.high) / 2
    rose = len(items) >= 2 and last.train_loss > first.train_loss
    at_chance = last.val_acc <= chance_ceiling()
    if not (rose or at_chance):
        return None
    what = []
    if at_chance:
        what.append(f"validation accuracy {last.val_acc:.1%} is at chance "
                    f"({1 / N_CLASSES:.0%} for {N_CLASSES} classes)")
    if rose:
        what.append(f"the training loss ended above its first epoch's "
                    f"({last.train_loss:.3f} > {first.train_loss:.3f})")
    if rose or lr >= middle:
        cause = (f"the learning rate is probably too high (lr = {lr:.3g}; this method's range "
                 f"goes up to {hp.high:g}): try about 10x lower")
    else:
        cause = (f"the learning rate is probably too low for {config.epochs} epoch(s) "
                 f"(lr = {lr:.3g}): try about 10x higher, or more epochs")
    return f"The run learned nothing: {' and '.join(what)}. Likely cause: {cause}."


# Where the registry's defaults come from, said wherever a default is offered.
DEFAULTS_NOTE = ("Defaults are untuned starting points: each default learning rate trains well "
                 "above chance in 20 epochs at the default run settings (checked on seeds 0 "
                 "and 1). **Search** tunes them.")


# Verdict colours, by core.stats label. Only a strong verdict (core.stats.STRONG: a significant
# difference that reaches outside its margin) gets a strong colour; "significant but within +-m:
# negligible" is drawn as muted as "not detected", so a tiny effect never looks like a finding.
VERDICT_COLORS = {"better": "#2e7d32", "worse": "#c62828", "reproduced": "#2e7d32",
                  "reversed": "#c62828", "equivalent": "#1565c0", "negligible": "#9e9e9e",
                  "not detected": "#757575", "identical": "#bdbdbd", "no variation": "#bdbdbd"}

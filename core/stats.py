"""Small-sample statistics for comparing methods over seeds: means, 95% intervals, paired verdicts.

Seeds are few (1 to 10), so intervals use Student's t; a paired difference uses the same seeds for
both methods (same initial weights and batch order), which removes the seed-to-seed variance
that both share.
"""

import math
from dataclasses import dataclass
from typing import Sequence

# Two-sided 95% critical values of Student's t for df = 1..30; beyond that the normal 1.96 is
# within 2% of the truth.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_critical_95(df: int) -> float:
    if df < 1:
        return math.inf
    return _T95[df - 1] if df <= len(_T95) else 1.96


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a 95% t-interval; ``low``/``high`` are infinite when n < 2."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean_ci(values: Sequence[float]) -> Interval:
    """95% confidence interval of the mean; non-finite values (diverged runs) are an error."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_ci needs at least one value")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"mean_ci needs finite values, got {xs}")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_critical_95(n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PairedComparison:
    """``method - baseline`` per seed; for losses, a negative difference favours the method."""

    difference: Interval
    verdict: str   # "better", "worse" or "no detectable difference with N seeds"
    reason: str


def paired_comparison(method: Sequence[float], baseline: Sequence[float],
                      lower_is_better: bool = True) -> PairedComparison:
    """Paired 95% interval of the per-seed differences and a plain verdict.

    "better"/"worse" only when the interval excludes zero; one seed can never show a difference.
    """
    if len(method) != len(baseline):
        raise ValueError(f"paired comparison needs equal seed counts, got {len(method)} and "
                         f"{len(baseline)}")
    diffs = [float(m) - float(b) for m, b in zip(method, baseline)]
    ci = mean_ci(diffs)
    n = ci.n
    if n >= 2 and ci.high < 0:
        verdict = "better" if lower_is_better else "worse"
    elif n >= 2 and ci.low > 0:
        verdict = "worse" if lower_is_better else "better"
    else:
        verdict = f"no detectable difference with {n} seed{'s' if n != 1 else ''}"
    if n < 2:
        reason = "one seed gives no estimate of the noise"
    else:
        reason = (f"mean difference {ci.mean:+.4f}, 95% interval [{ci.low:+.4f}, {ci.high:+.4f}] "
                  f"over {n} paired seeds")
    return PairedComparison(ci, verdict, reason)

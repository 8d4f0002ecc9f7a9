"""Small-sample statistics for comparing methods over seeds: intervals, power, equivalence, verdicts.

Seeds are few (1 to 20), so everything rests on Student's t (``scipy.stats.t``, exact quantiles
at every df). A paired difference uses the same seeds for both methods (same initial weights and
batch order), which removes the seed-to-seed variance that both share.

The verdict vocabulary (:func:`judge`) says what the seeds can and cannot show:

- a two-sided paired t-test at ``alpha`` decides a direction ("better"/"worse"; against a claim,
  "reproduced"/"reversed");
- otherwise two one-sided tests (TOST) with a margin fixed *before* the run may show
  "equivalent within +-m";
- otherwise "not detected (could detect >= X)", where X is the smallest true difference these
  seeds would detect with 80% power, given the spread they showed (exact, via the noncentral t
  distribution ``scipy.stats.nct``; no normal approximation).
"""

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import optimize
from scipy import stats as _st

ALPHA = 0.05
POWER = 0.8


def t_critical(df: int, level: float = 0.95) -> float:
    """Two-sided critical value of Student's t: ``t.ppf(1 - (1 - level) / 2, df)``; inf for df < 1."""
    if df < 1:
        return math.inf
    return float(_st.t.ppf(0.5 + level / 2, df))


def t_critical_95(df: int) -> float:
    return t_critical(df, 0.95)


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a t-interval; ``low``/``high`` are infinite when n < 2.

    ``sd`` is the sample standard deviation (0 for one value)."""

    mean: float
    low: float
    high: float
    n: int
    sd: float = 0.0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _finite(values: Sequence[float], who: str) -> list[float]:
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError(f"{who} needs at least one value")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"{who} needs finite values, got {xs}")
    return xs


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Confidence interval of the mean (default 95%); non-finite values (diverged runs) are an
    error."""
    xs = _finite(values, "mean_ci")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_critical(n - 1, level) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd)


def t_test_p(values: Sequence[float], null: float = 0.0) -> float:
    """Two-sided one-sample t-test p-value of ``mean == null`` (1.0 when it cannot be computed:
    one value, or no spread and the mean equals ``null``; 0.0 with no spread and another mean)."""
    xs = _finite(values, "t_test_p")
    n = len(xs)
    ci = mean_ci(xs)
    if n < 2:
        return 1.0
    if ci.sd == 0:
        return 1.0 if ci.mean == null else 0.0
    t = (ci.mean - null) / (ci.sd / math.sqrt(n))
    return float(2 * _st.t.sf(abs(t), n - 1))


def _power_nc(nc: float, df: int, alpha: float) -> float:
    crit = t_critical(df, 1 - alpha)
    lower = float(_st.nct.cdf(-crit, df, nc))
    # The far tail is below 1e-9 wherever nct's series fails and returns NaN.
    return float(_st.nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0)


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample (paired) t-test at ``alpha`` when the true mean
    difference is ``effect`` and the spread ``sd``: exact, from the noncentral t."""
    if n < 2:
        return alpha if effect == 0 else 0.0
    if sd <= 0:
        return 1.0 if effect != 0 else alpha
    return _power_nc(abs(effect) * math.sqrt(n) / sd, n - 1, alpha)


def detectable_effect(sd: float, n: int, alpha: float = ALPHA, target: float = POWER) -> float:
    """The smallest true |difference| that a two-sided paired t-test at ``alpha`` over ``n``
    seeds detects with probability ``target``, taking the observed spread ``sd`` as the truth.

    Solved exactly on the noncentral t (``scipy.stats.nct``) with Brent's method, for the
    noncentrality (which depends on n only), then scaled by sd / sqrt(n); inf for one seed,
    0 when the seeds showed no spread at all."""
    if n < 2 or not math.isfinite(sd):
        return math.inf
    if sd <= 0:
        return 0.0
    df = n - 1
    high = 4.0
    while _power_nc(high, df, alpha) < target:
        high *= 2
    nc = optimize.brentq(lambda c: _power_nc(c, df, alpha) - target, 0.0, high, xtol=1e-12)
    return float(nc * sd / math.sqrt(n))


def tost_p(values: Sequence[float], margin: float) -> float:
    """Two one-sided t-tests of equivalence: the p-value of "the mean lies outside
    [-margin, +margin]" (the larger of the two one-sided p-values). Below ``alpha`` the seeds
    show the difference is within the margin; this is the same as the (1 - 2 alpha) interval
    lying inside it."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin!r}")
    xs = _finite(values, "tost_p")
    n = len(xs)
    ci = mean_ci(xs)
    if n < 2:
        return 1.0
    if ci.sd == 0:
        return 0.0 if abs(ci.mean) < margin else 1.0
    se = ci.sd / math.sqrt(n)
    p_low = _st.t.sf((ci.mean + margin) / se, n - 1)     # H0: mean <= -margin
    p_high = _st.t.cdf((ci.mean - margin) / se, n - 1)   # H0: mean >= +margin
    return float(max(p_low, p_high))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error across the given tests), in the
    given order. scipy offers only false-discovery control (Benjamini-Hochberg), which promises
    less; Holm is four lines."""
    ps = [float(p) for p in p_values]
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=ps.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


# Verdict vocabulary. Reproduction flavour: against a claimed direction.
REPRODUCED = "reproduced"
REVERSED = "reversed"
NOT_DETECTED = "not detected"
EQUIVALENT = "equivalent"
# Compare flavour: the method against the baseline, no claim.
BETTER = "better"
WORSE = "worse"
LABELS = (REPRODUCED, REVERSED, NOT_DETECTED, EQUIVALENT, BETTER, WORSE)


@dataclass(frozen=True)
class Verdict:
    """What paired seeds show about ``method - baseline``.

    ``label`` is one of :data:`LABELS`; ``text`` is the label with its qualifier (the margin or
    the detectable effect), ready to print. ``p`` is the two-sided t-test p-value used (Holm
    adjusted where the caller says so), ``p_equivalence`` the TOST p-value (None without a
    margin), ``detectable`` the smallest |difference| detectable at 80% power.
    """

    label: str
    text: str
    p: float
    p_equivalence: float | None
    detectable: float
    margin: float | None


def _qualify_not_detected(n: int, detectable: float) -> str:
    if n < 2:
        return f"{NOT_DETECTED} (one seed cannot detect any difference)"
    return f"{NOT_DETECTED} (could detect >= {detectable:.3g})"


def judge(differences: Sequence[float], *, claim: str | None = None, margin: float | None = None,
          lower_is_better: bool = True, alpha: float = ALPHA, p: float | None = None,
          p_equivalence: float | None = None) -> Verdict:
    """The one verdict function. ``differences``: per-seed ``method - baseline``.

    ``claim`` None gives the Compare flavour ("better"/"worse"); ``claim`` "better" or "worse"
    (the method against the baseline, as a write-up claimed it) gives "reproduced"/"reversed".
    Then, with no significant difference, "equivalent within +-m" when ``margin`` is given and
    TOST shows it, else "not detected (could detect >= X)". ``p``/``p_equivalence`` replace the
    raw p-values (for Holm-adjusted verdicts across a family of claims).
    """
    if claim not in (None, BETTER, WORSE):
        raise ValueError(f"claim must be None, 'better' or 'worse', got {claim!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    xs = _finite(differences, "judge")
    ci = mean_ci(xs)
    p_diff = t_test_p(xs) if p is None else float(p)
    p_eq = None
    if margin is not None:
        p_eq = tost_p(xs, margin) if p_equivalence is None else float(p_equivalence)
    detectable = detectable_effect(ci.sd, ci.n, alpha)
    if ci.n >= 2 and p_diff < alpha and ci.mean != 0:
        lower = ci.mean < 0
        direction = BETTER if lower == lower_is_better else WORSE
        label = direction if claim is None else (REPRODUCED if direction == claim else REVERSED)
        text = label
    elif p_eq is not None and ci.n >= 2 and p_eq < alpha:
        label, text = EQUIVALENT, f"{EQUIVALENT} within +-{margin:.3g}"
    else:
        label, text = NOT_DETECTED, _qualify_not_detected(ci.n, detectable)
    return Verdict(label, text, p_diff, p_eq, detectable, margin)


@dataclass(frozen=True)
class PairedComparison:
    """``method - baseline`` per seed; for losses, a negative difference favours the method.

    ``verdict`` is :func:`judge`'s text in the Compare flavour ("better", "worse",
    "not detected (could detect >= X)", "equivalent within +-m")."""

    difference: Interval
    verdict: str
    reason: str
    judged: Verdict | None = None
    differences: tuple[float, ...] = ()


def paired_comparison(method: Sequence[float], baseline: Sequence[float],
                      lower_is_better: bool = True, margin: float | None = None
                      ) -> PairedComparison:
    """Paired 95% interval of the per-seed differences and the Compare-flavour verdict.

    "better"/"worse" only when the two-sided paired t-test rejects (the 95% interval excludes
    zero); one seed can never show a difference.
    """
    if len(method) != len(baseline):
        raise ValueError(f"paired comparison needs equal seed counts, got {len(method)} and "
                         f"{len(baseline)}")
    diffs = [float(m) - float(b) for m, b in zip(method, baseline)]
    ci = mean_ci(diffs)
    judged = judge(diffs, margin=margin, lower_is_better=lower_is_better)
    n = ci.n
    if n < 2:
        reason = "one seed gives no estimate of the noise"
    else:
        reason = (f"mean difference {ci.mean:+.4f}, 95% interval [{ci.low:+.4f}, {ci.high:+.4f}] "
                  f"over {n} paired seeds; p = {judged.p:.3g}; 80% power to detect "
                  f">= {judged.detectable:.3g}")
    return PairedComparison(ci, judged.text, reason, judged, tuple(diffs))

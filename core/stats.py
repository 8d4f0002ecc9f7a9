"""Small-sample statistics for comparing methods over seeds: intervals, power, equivalence, verdicts.

Seeds are few (1 to 20), so everything rests on Student's t (``scipy.stats.t``, exact quantiles
at every df). A paired difference uses the same seeds for both methods (same initial weights and
batch order), which removes the seed-to-seed variance that both share.

The verdict vocabulary (:func:`judge`) weighs size as well as significance, against a margin m
(the smallest difference that matters, set per metric before the run):

- "identical: no difference" when every per-seed difference is exactly zero;
- "no seed-to-seed variation, no test possible" when the differences vary by less than float32
  resolution (a t statistic over a spread of rounding noise means nothing);
- significant (two-sided paired t-test at ``alpha``) and the difference reaches outside +-m (TOST
  does not show it inside): a direction, "better"/"worse" (against a claim,
  "reproduced"/"reversed");
- significant but inside +-m (TOST at ``alpha`` shows it, i.e. the 1 - 2 alpha interval lies
  inside the margin): "significant but within +-m: negligible", never a strong verdict;
- not significant and inside +-m: "equivalent within +-m";
- otherwise "not detected (could detect >= X, a point estimate from n seeds)", where X is the
  smallest true difference these seeds would detect with 80% power at the test's level, given the
  spread they showed (exact, via the noncentral t distribution ``scipy.stats.nct``).

Several comparisons on one page or in one record are one family: :func:`holm` adjusts their
p-values, and the detectable effect is then computed at the family's strictest level
alpha / m (Holm's first step), so that it says what the adjusted test could detect.

The divergence rule (:data:`DIVERGENCE_RULE`, :func:`apply_divergence_rule`) is the one way every
comparison in the lab (the reproduction, Compare, Sweep, Search's duel) treats a diverged seed.
"""

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

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
NEGLIGIBLE = "negligible"          # significant, but inside the margin: never a strong verdict
IDENTICAL = "identical"
NO_VARIATION = "no variation"
# Compare flavour: the method against the baseline, no claim.
BETTER = "better"
WORSE = "worse"
LABELS = (REPRODUCED, REVERSED, NOT_DETECTED, EQUIVALENT, NEGLIGIBLE, IDENTICAL, NO_VARIATION,
          BETTER, WORSE)
# Only these are drawn in a verdict's strong colour.
STRONG = (REPRODUCED, REVERSED, BETTER, WORSE)
# Differences that vary by less than this are float32 rounding at the scale of a loss or an
# accuracy (about 1; float32's epsilon is 1.2e-7): no t statistic over them means anything.
RESOLUTION = 1e-7

DIVERGENCE_RULE = (
    "A diverged seed is a failure: it keeps its place in the pairs and takes the worst value "
    "that metric reached among all runs of the comparison (the highest loss, the lowest "
    "accuracy), so it ranks last. Dropping it, or keeping its values from before it diverged, "
    "would favour the unstable method.")


def worst_value(values: Iterable[float | None], lower_is_better: bool = True) -> float | None:
    """The worst finite value among ``values`` (the highest loss, the lowest accuracy); None
    when none is finite."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return max(finite) if lower_is_better else min(finite)


def apply_divergence_rule(values: Sequence[float | None], worst: float | None
                          ) -> tuple[list[float], int]:
    """:data:`DIVERGENCE_RULE`: every non-finite value (a diverged run; None counts as one) is
    replaced by ``worst``. Returns (the values, how many were replaced). ValueError when some
    value needs replacing and ``worst`` is None (no run of the comparison gave a number)."""
    out, failed = [], 0
    for v in values:
        if v is not None and math.isfinite(float(v)):
            out.append(float(v))
            continue
        if worst is None or not math.isfinite(worst):
            raise ValueError("every run of this comparison diverged: no value to rank them by")
        out.append(float(worst))
        failed += 1
    return out, failed


def diverged_text(k: int, n: int) -> str:
    """"diverged on 1 of 5 seeds" ("" when none did), shown beside every verdict."""
    return f"diverged on {k} of {n} seeds" if k else ""


@dataclass(frozen=True)
class Verdict:
    """What paired seeds show about ``method - baseline``.

    ``label`` is one of :data:`LABELS`; ``text`` is the label with its qualifier (the margin or
    the detectable effect), ready to print. ``p`` is the two-sided t-test p-value used (Holm
    adjusted where the caller says so; None where no test was possible), ``p_equivalence`` the
    TOST p-value (None without a margin), ``detectable`` the smallest |difference| detectable
    at 80% power at ``alpha``. ``direction`` is "better"/"worse" for a significant difference
    (also a negligible one), else "". ``strong``: drawn in a verdict's strong colour.
    """

    label: str
    text: str
    p: float | None
    p_equivalence: float | None
    detectable: float
    margin: float | None
    direction: str = ""
    alpha: float = ALPHA
    n: int = 0

    @property
    def strong(self) -> bool:
        return self.label in STRONG


def _qualify_not_detected(n: int, detectable: float) -> str:
    if n < 2:
        return f"{NOT_DETECTED} (one seed cannot detect any difference)"
    return (f"{NOT_DETECTED} (could detect >= {detectable:.3g}, a point estimate from {n} "
            "seeds)")


def _spread(xs: Sequence[float]) -> float:
    mean = math.fsum(xs) / len(xs)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1))


def judge(differences: Sequence[float], *, claim: str | None = None, margin: float | None = None,
          lower_is_better: bool = True, alpha: float = ALPHA, p: float | None = None,
          p_equivalence: float | None = None, family: int = 1) -> Verdict:
    """The one verdict function. ``differences``: per-seed ``method - baseline``.

    ``claim`` None gives the Compare flavour ("better"/"worse"); ``claim`` "better" or "worse"
    (the method against the baseline, as a write-up claimed it) gives "reproduced"/"reversed".
    The decision is three-way against ``margin`` (see the module docstring); without a margin
    nothing is called negligible or equivalent. ``p``/``p_equivalence`` replace the raw p-values
    (Holm-adjusted across a family of ``family`` comparisons; the detectable effect is then
    computed at alpha / family).
    """
    if claim not in (None, BETTER, WORSE):
        raise ValueError(f"claim must be None, 'better' or 'worse', got {claim!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if margin is not None and not margin > 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin!r}")
    if isinstance(family, bool) or not isinstance(family, int) or family < 1:
        raise ValueError(f"family must be a whole number >= 1, got {family!r}")
    xs = _finite(differences, "judge")
    n = len(xs)
    level = alpha / family
    common = dict(margin=margin, alpha=alpha, n=n)
    if n >= 2 and all(x == 0 for x in xs):
        return Verdict(IDENTICAL, "identical: no difference", None, None, 0.0, **common)
    if n >= 2 and _spread(xs) < RESOLUTION:
        return Verdict(NO_VARIATION, "no seed-to-seed variation, no test possible", None, None,
                       math.nan, **common)
    ci = mean_ci(xs)
    p_diff = t_test_p(xs) if p is None else float(p)
    p_eq = None
    if margin is not None:
        p_eq = tost_p(xs, margin) if p_equivalence is None else float(p_equivalence)
    detectable = detectable_effect(ci.sd, n, level)
    # Size is judged on the raw TOST: an adjustment may weaken a claim of equivalence, but it
    # must never turn a negligible difference into a strong verdict.
    inside_raw = margin is not None and n >= 2 and tost_p(xs, margin) < alpha
    inside = p_eq is not None and n >= 2 and p_eq < alpha
    direction = ""
    if n >= 2 and p_diff < alpha and ci.mean != 0:
        lower = ci.mean < 0
        direction = BETTER if lower == lower_is_better else WORSE
    if direction and not inside_raw:
        label = direction if claim is None else (REPRODUCED if direction == claim else REVERSED)
        text = label
    elif direction:
        label = NEGLIGIBLE
        text = f"significant but within +-{margin:.3g}: {NEGLIGIBLE} ({direction})"
    elif inside:
        label, text = EQUIVALENT, f"{EQUIVALENT} within +-{margin:.3g}"
    else:
        label, text = NOT_DETECTED, _qualify_not_detected(n, detectable)
    return Verdict(label, text, p_diff, p_eq, detectable, direction=direction, **common)


def verdict_reason(differences: Sequence[float], judged: Verdict, diverged: str = "") -> str:
    """The numbers behind a verdict in one line (interval, p, what the seeds could detect)."""
    ci = mean_ci(differences)
    if ci.n < 2:
        reason = "one seed gives no estimate of the noise"
    elif judged.p is None:
        reason = f"mean difference {ci.mean:+.4g} over {ci.n} paired seeds; {judged.text}"
    else:
        reason = (f"mean difference {ci.mean:+.4f}, 95% interval [{ci.low:+.4f}, "
                  f"{ci.high:+.4f}] over {ci.n} paired seeds; p = {judged.p:.3g}; 80% power to "
                  f"detect >= {judged.detectable:.3g} (a point estimate from {ci.n} seeds)")
    return reason + (f"; {diverged}" if diverged else "")


@dataclass(frozen=True)
class PairedComparison:
    """``method - baseline`` per seed; for losses, a negative difference favours the method.

    ``verdict`` is :func:`judge`'s text in the Compare flavour. ``differences`` are after the
    divergence rule; ``diverged`` counts the seeds on which (method, baseline) diverged."""

    difference: Interval
    verdict: str
    reason: str
    judged: Verdict | None = None
    differences: tuple[float, ...] = ()
    diverged: tuple[int, int] = (0, 0)
    lower_is_better: bool = True

    @property
    def diverged_text(self) -> str:
        """"diverged on k of n seeds" for the entry (the method side), "" when none did."""
        method, base = self.diverged
        parts = [diverged_text(method, self.difference.n)]
        if base:
            parts.append(f"baseline {diverged_text(base, self.difference.n)}")
        return "; ".join(p for p in parts if p)

    def rejudged(self, *, p: float | None = None, p_equivalence: float | None = None,
                 family: int = 1, claim: str | None = None) -> Verdict:
        return judge(self.differences, claim=claim, margin=self.judged.margin if self.judged
                     else None, lower_is_better=self.lower_is_better, p=p,
                     p_equivalence=p_equivalence, family=family)


def paired_comparison(method: Sequence[float | None], baseline: Sequence[float | None],
                      lower_is_better: bool = True, margin: float | None = None,
                      worst: float | None = None) -> PairedComparison:
    """Paired 95% interval of the per-seed differences and the Compare-flavour verdict.

    Non-finite values (diverged seeds) follow :data:`DIVERGENCE_RULE`: they take ``worst``
    (default: the worst finite value of both sides), so they rank last and stay paired.
    "better"/"worse" only when the two-sided paired t-test rejects and the difference is not
    shown to lie inside ``margin``; one seed can never show a difference.
    """
    if len(method) != len(baseline):
        raise ValueError(f"paired comparison needs equal seed counts, got {len(method)} and "
                         f"{len(baseline)}")
    if worst is None:
        worst = worst_value([*method, *baseline], lower_is_better)
    ms, k_method = apply_divergence_rule(method, worst)
    bs, k_base = apply_divergence_rule(baseline, worst)
    diffs = [m - b for m, b in zip(ms, bs)]
    ci = mean_ci(diffs)
    judged = judge(diffs, margin=margin, lower_is_better=lower_is_better)
    pc = PairedComparison(ci, judged.text, "", judged, tuple(diffs), (k_method, k_base),
                          lower_is_better)
    return replace(pc, reason=verdict_reason(diffs, judged, pc.diverged_text))


def adjust_family(comparisons: Sequence[PairedComparison | None]) -> list[PairedComparison | None]:
    """Holm across ``comparisons`` (a page's, or a record's): each judged again with its adjusted
    p-values (difference and equivalence tests as two families), its detectable effect at the
    family's strictest level. Comparisons without a test (identical, no variation, one seed)
    stay as they are and do not count in the family."""
    tested = [i for i, c in enumerate(comparisons)
              if c is not None and c.judged is not None and c.judged.p is not None]
    m = len(tested)
    p_diff = dict(zip(tested, holm([comparisons[i].judged.p for i in tested])))
    eq = [i for i in tested if comparisons[i].judged.p_equivalence is not None]
    p_eq = dict(zip(eq, holm([comparisons[i].judged.p_equivalence for i in eq])))
    out = list(comparisons)
    for i in tested:
        c = comparisons[i]
        judged = c.rejudged(p=p_diff[i], p_equivalence=p_eq.get(i), family=m)
        out[i] = replace(c, verdict=judged.text, judged=judged,
                         reason=verdict_reason(c.differences, judged, c.diverged_text))
    return out

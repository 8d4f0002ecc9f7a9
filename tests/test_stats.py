"""core.stats against scipy, against simulation, and its verdict vocabulary case by case."""

import math

import numpy as np
import pytest
from scipy import stats as st

from core.stats import (DIVERGENCE_RULE, STRONG, adjust_family, apply_divergence_rule,
                        detectable_effect, holm, judge, mean_ci, paired_comparison, power,
                        t_critical, t_test_p, tost_p, worst_value)


@pytest.mark.parametrize("df", range(1, 201))
def test_interval_matches_scipy_for_every_df(df):
    rng = np.random.default_rng(df)
    xs = rng.normal(1.0, 0.3, size=df + 1)
    ci = mean_ci(xs)
    low, high = st.t.interval(0.95, df, loc=xs.mean(), scale=st.sem(xs))
    assert ci.low == pytest.approx(low, rel=1e-12, abs=1e-12)
    assert ci.high == pytest.approx(high, rel=1e-12, abs=1e-12)
    assert ci.sd == pytest.approx(xs.std(ddof=1), rel=1e-12)
    assert t_test_p(xs, 1.0) == pytest.approx(st.ttest_1samp(xs, 1.0).pvalue, rel=1e-9)


def test_old_normal_shortcut_is_gone():
    # The 1.96 used above df 30 was 3.9% too narrow at df 31.
    assert t_critical(31) == pytest.approx(2.0395, abs=1e-4)
    assert t_critical(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_critical(0) == math.inf


def test_tost_matches_two_scipy_one_sided_tests():
    xs = np.array([0.011, -0.004, 0.006, 0.002, -0.001, 0.008])
    m = 0.02
    lo = st.ttest_1samp(xs, -m, alternative="greater").pvalue
    hi = st.ttest_1samp(xs, m, alternative="less").pvalue
    assert tost_p(xs, m) == pytest.approx(max(lo, hi), rel=1e-9)
    with pytest.raises(ValueError, match="margin"):
        tost_p(xs, 0.0)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_detectable_effect_has_80_percent_power_in_simulation(n):
    # Independent of the noncentral-t formula: simulate the t-test at the claimed effect.
    sd = 0.05
    d = detectable_effect(sd, n)
    assert power(d, sd, n) == pytest.approx(0.8, abs=1e-8)
    rng = np.random.default_rng(n)
    sims = rng.normal(d, sd, size=(40_000, n))
    p = st.ttest_1samp(sims, 0.0, axis=1).pvalue
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.01)
    # The normal shortcut (z_a/2 + z_b) * sd / sqrt(n) is too small at few seeds.
    assert d > (1.959964 + 0.841621) * sd / math.sqrt(n)


def test_detectable_effect_edges():
    assert detectable_effect(0.1, 1) == math.inf
    assert detectable_effect(0.0, 5) == 0.0
    assert detectable_effect(0.2, 5) == pytest.approx(2 * detectable_effect(0.1, 5))
    # Where scipy's nct returns NaN for the far tail (tiny spreads, few seeds).
    for n in range(2, 201):
        d = detectable_effect(1e-9, n)
        assert math.isfinite(d) and power(d, 1e-9, n) == pytest.approx(0.8, abs=1e-8)


def test_holm_by_hand():
    # Sorted 0.01, 0.02, 0.04 -> 3*0.01, max(., 2*0.02), max(., 1*0.04).
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


CLEAR = [-0.10, -0.12, -0.09, -0.11, -0.10]    # method lower (better on a loss)
NOISE = [-0.05, 0.06, -0.04, 0.05, 0.01]
TIGHT = [0.001, -0.002, 0.0015, -0.001, 0.0005]


def test_reproduced_and_reversed():
    assert judge(CLEAR, claim="better").text == "reproduced"
    assert judge(CLEAR, claim="worse").text == "reversed"
    assert judge([-x for x in CLEAR], claim="worse").label == "reproduced"
    # Higher is better (accuracy): a lower method is worse.
    assert judge(CLEAR, claim="worse", lower_is_better=False).label == "reproduced"


def test_not_detected_states_what_could_be_detected():
    v = judge(NOISE, claim="better", margin=0.01)
    sd = np.std(NOISE, ddof=1)
    assert v.label == "not detected"
    assert v.detectable == pytest.approx(detectable_effect(sd, 5))
    assert v.text == (f"not detected (could detect >= {v.detectable:.3g}, a point estimate from "
                      "5 seeds)")
    assert judge([0.3], claim="better").text == "not detected (one seed cannot detect any difference)"


def test_equivalent_only_with_a_margin_that_tost_supports():
    assert judge(TIGHT, claim="better", margin=0.01).text == "equivalent within +-0.01"
    assert judge(TIGHT, claim="better").label == "not detected"
    assert judge(TIGHT, claim="better", margin=0.0005).label == "not detected"


def test_adjusted_p_can_only_weaken_a_verdict():
    raw = judge(CLEAR, claim="better")
    assert raw.label == "reproduced"
    adjusted = judge(CLEAR, claim="better", p=0.2)
    assert adjusted.label == "not detected" and adjusted.p == 0.2


def test_compare_flavour():
    assert paired_comparison([1.0, 1.1, 1.2], [1.1, 1.21, 1.32]).verdict == "better"
    assert paired_comparison([1.1, 1.21, 1.32], [1.0, 1.1, 1.2]).verdict == "worse"
    pc = paired_comparison([1.0, 1.3, 1.1], [1.1, 1.1, 1.2])
    assert pc.verdict.startswith("not detected (could detect >= ")
    assert pc.judged.detectable > 0
    assert paired_comparison([1.0], [2.0]).verdict.startswith("not detected")
    with pytest.raises(ValueError):
        judge(CLEAR, claim="sideways")


# 002's headline as the record of 2026-12 had it: +0.0164 [0.0140, 0.0188] over 20 paired seeds,
# TOST p = 0.0026 against +-0.02. These 20 differences have that mean and interval.
_Z = np.random.default_rng(2).normal(size=20)
META_002 = list(0.0164 + (_Z - _Z.mean()) / _Z.std(ddof=1) * 0.00512)


def test_002_is_significant_but_within_the_margin_negligible_never_strong():
    ci = mean_ci(META_002)
    assert ci.mean == pytest.approx(0.0164) and ci.low == pytest.approx(0.0140, abs=1e-4)
    assert ci.high == pytest.approx(0.0188, abs=1e-4)
    assert tost_p(META_002, 0.02) == pytest.approx(0.0026, abs=2e-4)
    v = judge(META_002, claim="worse", margin=0.02)
    assert v.label == "negligible" and not v.strong and v.direction == "worse"
    assert v.text == "significant but within +-0.02: negligible (worse)"
    # Without a margin nothing can be negligible: the old two-way answer.
    assert judge(META_002, claim="worse").label == "reproduced"


def test_alpha_variant_size_is_negligible_and_reaching_outside_is_strong():
    tiny = [0.0025 + 0.001 * z for z in _Z]     # the alpha = 1e-4 variant's size
    assert judge(tiny, claim="worse", margin=0.02).label == "negligible"
    # Significant and its interval reaches outside the margin: reproduced.
    wide = [0.018 + 0.01 * z for z in _Z]
    assert mean_ci(wide).high > 0.02 and t_test_p(wide) < 0.05
    assert judge(wide, claim="worse", margin=0.02).label == "reproduced"
    # Not significant and inside: equivalent.
    assert judge(TIGHT, claim="better", margin=0.01).label == "equivalent"
    assert set(STRONG) == {"reproduced", "reversed", "better", "worse"}


def test_an_adjustment_never_turns_negligible_into_strong():
    raw = judge(META_002, claim="worse", margin=0.02)
    adjusted = judge(META_002, claim="worse", margin=0.02, p=raw.p * 7,
                     p_equivalence=min(1.0, raw.p_equivalence * 7), family=7)
    assert adjusted.label == "negligible"


def test_identical_runs_and_jitter_are_no_test():
    v = judge([0.0] * 5, margin=0.02)
    assert v.label == "identical" and v.text == "identical: no difference" and v.p is None
    assert paired_comparison([1.2, 1.3, 1.1], [1.2, 1.3, 1.1]).verdict == \
        "identical: no difference"
    jitter = [1e-18, -1e-18, 2e-18, 0.0, -2e-18]
    v = judge(jitter)
    assert v.text == "no seed-to-seed variation, no test possible" and v.p is None
    assert judge([0.01] * 5).label == "no variation"       # a constant shift: no spread either
    assert not v.strong


def test_divergence_rule_replaces_a_failure_by_the_worst_value():
    assert "ranks last" in DIVERGENCE_RULE
    assert worst_value([1.0, math.inf, 2.0, None]) == 2.0
    assert worst_value([0.5, math.nan, 0.7], lower_is_better=False) == 0.5
    assert apply_divergence_rule([1.0, math.inf, None], 3.0) == ([1.0, 3.0, 3.0], 2)
    with pytest.raises(ValueError, match="diverged"):
        apply_divergence_rule([math.nan], None)
    # A diverged method seed stays paired at the comparison's worst value.
    pc = paired_comparison([1.0, math.inf, 1.0], [1.1, 1.2, 1.05])
    assert pc.differences == pytest.approx((-0.1, 0.0, -0.05))
    assert pc.diverged == (1, 0) and pc.diverged_text == "diverged on 1 of 3 seeds"
    assert "diverged on 1 of 3 seeds" in pc.reason


def _null_entries(rng, k=7, n=10):
    base = rng.normal(1.0, 0.05, size=n)
    return [paired_comparison(list(base + rng.normal(0, 0.01, size=n)), list(base))
            for _ in range(k)]


def test_seven_null_entries_are_adjusted_as_one_family():
    rng = np.random.default_rng(7)
    raw_hits = adjusted_hits = 0
    for _ in range(300):
        raw = _null_entries(rng)
        adjusted = adjust_family(raw)
        raw_hits += any(c.judged.strong for c in raw)
        adjusted_hits += any(c.judged.strong for c in adjusted)
    # Unadjusted, 7 entries at 5% each give a false "better"/"worse" about 30% of the time;
    # Holm holds the family-wise rate near 5%.
    assert raw_hits / 300 > 0.18
    assert adjusted_hits / 300 < 0.09
    one = _null_entries(np.random.default_rng(1))
    adjusted = adjust_family(one)
    assert [a.judged.p for a in adjusted] == pytest.approx(holm([c.judged.p for c in one]))
    # The detectable effect is computed at the family's strictest level, 5% / 7.
    for c, a in zip(one, adjusted):
        assert a.judged.detectable == pytest.approx(
            detectable_effect(c.difference.sd, c.difference.n, 0.05 / 7))
        assert a.judged.detectable > c.judged.detectable

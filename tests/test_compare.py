"""core.training.compare: pairing over seeds, bands across seeds, and the results table's statistics."""

import math

import pytest

from core.training.compare_settings import distinct_labels, entry_label, verdict
from core.training.compare import (CompareItem, comparison_seeds, curve_bands,
                          run_comparison, summarize)
from core.config import MAX_SEED, EpochMetrics, RunConfig
from core.optim.registry import BASELINE
from core.stats import holm, mean_ci, paired_comparison


def m(epoch, val_loss, val_acc=0.5, diverged=False):
    return EpochMetrics(epoch=epoch, train_loss=val_loss, val_loss=val_loss, val_acc=val_acc,
                        elapsed=0.0, lrs=(0.01,), diverged=diverged)


def items_from(curves):
    """curves: {(entry, seed): [(val_loss, val_acc), ...]} -> CompareItems."""
    out = []
    for (entry, seed), points in curves.items():
        for epoch, (loss, acc) in enumerate(points, 1):
            out.append(CompareItem(entry, seed, m(epoch, loss, acc)))
    return out


def test_seeds_are_consecutive_and_bounded():
    assert comparison_seeds(5, 3) == [5, 6, 7]
    for bad in (0, 11):
        with pytest.raises(ValueError):
            comparison_seeds(0, bad)
    # Every seed, not only the first, must be one a run accepts.
    assert comparison_seeds(MAX_SEED - 2, 3)[-1] == MAX_SEED
    for first in (MAX_SEED - 1, -1):
        with pytest.raises(ValueError, match="range"):
            comparison_seeds(first, 3)


@pytest.mark.timeout(120)
def test_same_seed_gives_the_same_run_and_entries_interleave():
    base = RunConfig(method=BASELINE, epochs=2, hidden=(8,), batch_size=500)
    entries = [base, base]          # identical configs: per seed they must agree exactly
    items = list(run_comparison(entries, [0, 1]))
    # Each entry's seeds train together (one population); the entries take turns by epoch.
    assert [(i.entry, i.seed, i.metrics.epoch) for i in items] == [
        (0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1), (0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2)]
    by = {(i.entry, i.seed, i.metrics.epoch): i.metrics for i in items}
    for seed in (0, 1):
        for epoch in (1, 2):
            assert by[0, seed, epoch].val_loss == by[1, seed, epoch].val_loss
    assert by[0, 0, 2].val_loss != by[0, 1, 2].val_loss, "different seeds must differ"


def test_closing_the_comparison_closes_trainings():
    base = RunConfig(method=BASELINE, epochs=50, hidden=(8,), batch_size=500)
    gen = run_comparison([base, base], [0])
    next(gen)
    gen.close()   # must not raise, and leaves no running generator behind
    with pytest.raises(StopIteration):
        next(gen)


def test_bands_minmax_and_ci():
    items = items_from({(0, 0): [(1.0, .1), (0.5, .1)], (0, 1): [(3.0, .1), (0.7, .1)],
                        (0, 2): [(2.0, .1)]})
    rows = curve_bands(items, "val_loss", "minmax")
    first = next(r for r in rows if r["epoch"] == 1)
    assert first == {"entry": 0, "epoch": 1, "mean": 2.0, "low": 1.0, "high": 3.0, "n": 3}
    ci = next(r for r in curve_bands(items, "val_loss", "ci95") if r["epoch"] == 1)
    expected = mean_ci([1.0, 3.0, 2.0])
    assert ci["low"] == pytest.approx(expected.low) and ci["high"] == pytest.approx(expected.high)
    second = next(r for r in curve_bands(items, "val_loss", "ci95") if r["epoch"] == 2)
    assert second["n"] == 2 and second["mean"] == pytest.approx(0.6)


def test_bands_skip_non_finite_and_single_seed_collapses():
    items = [CompareItem(0, 0, m(1, 1.0)), CompareItem(0, 0, m(2, math.nan, diverged=True))]
    rows = curve_bands(items, "val_loss", "ci95")
    assert rows == [{"entry": 0, "epoch": 1, "mean": 1.0, "low": 1.0, "high": 1.0, "n": 1}]
    with pytest.raises(ValueError):
        curve_bands(items, "val_loss", "sideways")


def test_summary_matches_core_stats_and_pairs_by_seed():
    cfg = RunConfig(epochs=2)
    base = {0: [1.0, 0.9], 1: [1.2, 1.1], 2: [1.1, 1.0]}
    other = {0: [0.95, 0.8], 1: [1.15, 1.0], 2: [1.0, 0.95]}
    acc_base, acc_other = {0: 0.5, 1: 0.52, 2: 0.49}, {0: 0.6, 1: 0.63, 2: 0.61}
    curves = {(0, s): [(v, acc_base[s]) for v in vs] for s, vs in base.items()}
    curves.update({(1, s): [(v, acc_other[s]) for v in vs] for s, vs in other.items()})
    summary = summarize(items_from(curves), [cfg, cfg], baseline=0)
    assert summary[0].versus == {}
    best_other = [min(v) for v in other.values()]
    assert summary[1].stats["best_val_loss"] == mean_ci(best_other)
    expected = paired_comparison(best_other, [min(v) for v in base.values()])
    assert summary[1].versus_raw["best_val_loss"] == expected
    # The page's verdicts are Holm-adjusted across its 2 tests (1 entry x 2 metrics).
    assert summary[1].family == 2
    raw_ps = [summary[1].versus_raw[n].judged.p for n in ("best_val_loss", "best_val_acc")]
    assert [summary[1].versus[n].judged.p for n in ("best_val_loss", "best_val_acc")] == \
        pytest.approx(holm(raw_ps))
    assert summary[1].versus["best_val_loss"].verdict == "better"
    # Accuracy: higher is better, so a higher accuracy is "better", not "worse".
    assert summary[1].versus["best_val_acc"].verdict == "better"
    one_seed = summarize(items_from({k: v for k, v in curves.items() if k[1] == 0}),
                         [cfg, cfg], baseline=0)
    assert one_seed[1].versus["best_val_loss"].verdict == ("not detected (one seed cannot detect any "
                                                                "difference)")


def test_incomplete_and_diverged_runs():
    cfg = RunConfig(epochs=3)
    items = items_from({(0, 0): [(1.0, .5)] * 3, (0, 1): [(1.0, .5)] * 3,
                        (1, 0): [(0.9, .5)] * 3, (1, 1): [(0.8, .5)]})  # seed 1 still running
    items.append(CompareItem(1, 2, m(1, 0.7)))
    items.append(CompareItem(1, 2, m(2, math.inf, diverged=True)))
    summary = summarize(items, [cfg, cfg], baseline=0)
    assert summary[1].seeds == (0, 2) and summary[1].diverged == (2,)
    # The diverged run is a failure: its 0.7 from before it diverged never counts.
    assert summary[1].stats["best_val_loss"].n == 1
    assert summary[1].stats["final_val_loss"].n == 1
    # Pairs need both sides ended: only seed 0.
    assert summary[1].versus["best_val_loss"].difference.n == 1


def _ended(val_losses, diverged=False):
    runs = [m(e, v) for e, v in enumerate(val_losses, 1)]
    if diverged:
        runs.append(m(len(runs) + 1, math.inf, diverged=True))
    return runs


def test_a_diverged_seed_ranks_last_in_compare():
    # SGD lr=10 momentum 0.99 in the issue: 1 of 5 seeds diverged after a good first epoch.
    cfg = RunConfig(epochs=2)
    items = []
    for seed in range(5):
        for metrics in _ended([1.0 + 0.01 * seed, 0.95 + 0.01 * seed]):
            items.append(CompareItem(0, seed, metrics))
        bad = _ended([0.5], diverged=True) if seed == 0 else \
            _ended([0.90 + 0.013 * seed, 0.85 + 0.011 * seed])
        items.extend(CompareItem(1, seed, x) for x in bad)
    summary = summarize(items, [cfg, cfg], baseline=0)
    pc = summary[1].versus_raw["best_val_loss"]
    # Seed 0 takes the worst best-validation-loss any run of the comparison reached (the
    # baseline's seed 4, 0.99), never its 0.5 from before it diverged: it ranks last.
    assert pc.differences[0] == pytest.approx(0.99 - 0.95)
    assert pc.diverged == (1, 0) and "diverged on 1 of 5 seeds" in verdict(pc)
    assert pc.difference.n == 5


def test_seven_null_entries_on_the_page_are_adjusted():
    import numpy as np
    rng = np.random.default_rng(3)
    cfg = RunConfig(epochs=1)
    items = []
    base = rng.normal(1.0, 0.05, size=10)
    for entry in range(8):
        noise = np.zeros(10) if entry == 0 else rng.normal(0, 0.01, size=10)
        for seed in range(10):
            items.append(CompareItem(entry, seed, m(1, float(base[seed] + noise[seed]),
                                                    0.5 + float(noise[seed]))))
    summary = summarize(items, [cfg] * 8, baseline=0)
    assert all(s.family == 14 for s in summary)
    raw = [s.versus_raw[n] for s in summary[1:] for n in ("best_val_loss", "best_val_acc")]
    adjusted = [s.versus[n] for s in summary[1:] for n in ("best_val_loss", "best_val_acc")]
    assert [a.judged.p for a in adjusted] == pytest.approx(holm([r.judged.p for r in raw]))
    assert all(a.judged.p >= r.judged.p for a, r in zip(adjusted, raw))


def test_entry_labels_are_unique_and_show_changed_knobs():
    key = BASELINE
    a, b = RunConfig(method=key), RunConfig(method=key, lr=0.5)
    assert entry_label(0, a) != entry_label(1, a)
    assert "lr=0.5" in entry_label(1, b)


def test_identical_labels_get_distinguishing_labels():
    # The live page said "Adam lr=0.005 is better than Adam lr=0.005" (lr 1e-9 apart).
    a, b = RunConfig(lr=0.005), RunConfig(lr=0.005 + 1e-9)
    names = distinct_labels([a, b, a], [None, None, None])
    assert len({n.split(". ", 1)[1] for n in names}) == 3
    assert names[0] == "1. Adam lr=0.005" and names[1].startswith("2. Adam lr=0.005000001")
    assert names[2] == "3. Adam lr=0.005 (copy 2)"
    assert distinct_labels([a, b], ["x", None]) == ["1. x", "2. Adam lr=0.005"]


def test_one_seed_runs_solo_and_several_seeds_run_as_a_population():
    import dataclasses
    from core.training.train import train
    base = RunConfig(method="gnw_adam", epochs=2, hidden=(8,), batch_size=500)
    solo = [dataclasses.replace(m, elapsed=0.0) for m in train(base.replace(seed=4))]
    alone = [dataclasses.replace(i.metrics, elapsed=0.0) for i in run_comparison([base], [4])]
    assert alone == solo                        # one seed: the solo run, bit for bit
    together = [i for i in run_comparison([base], [4, 5]) if i.seed == 4]
    assert [i.metrics.epoch for i in together] == [1, 2]
    # A population member starts from the solo run's weights and batch order; only float32
    # rounding of the batched kernels separates them.
    for a, b in zip(together, solo):
        assert a.metrics.val_loss == pytest.approx(b.val_loss, abs=1e-2)


def test_only_strong_verdicts_get_strong_colours():
    from core.stats import LABELS, STRONG
    from ui.outcome import VERDICT_COLORS
    assert set(LABELS) <= set(VERDICT_COLORS)
    strong = {VERDICT_COLORS[label] for label in STRONG}
    assert all(VERDICT_COLORS[label] not in strong for label in LABELS if label not in STRONG)

"""Reproduce's time estimates: the committed record's pace, a cost per side, this server's pace,
and a remaining time that follows the epochs done rather than the events (ui.estimate)."""

from types import SimpleNamespace

import pytest

from core.experiments import FULL, PROTOCOLS, QUICK, planned_epochs
from ui import estimate


@pytest.fixture(autouse=True)
def _fresh_pace():
    saved = dict(estimate._pace)
    estimate._pace["factor"] = 1.0     # a Reproduce run finished by another test may have set it
    yield
    estimate._pace.update(saved)


def test_the_record_gives_each_protocol_its_own_pace():
    rates = estimate._record_rates()
    assert set(rates) == set(PROTOCOLS)
    assert all(0.001 < r < 1 for r in rates.values())


def test_an_estimate_is_the_start_up_plus_the_epochs_at_the_records_pace():
    p = PROTOCOLS["weight_trajectory"]
    epochs = planned_epochs(p, 5, QUICK) * estimate.seconds_per_epoch(p.key)
    assert estimate.estimate_s(p, 5, QUICK) == pytest.approx(estimate.START_S + epochs)
    # The record's own full run, re-estimated, lands on its measured duration plus start-up.
    full = estimate.estimate_s(p, 5, FULL) - estimate.START_S
    assert full == pytest.approx(planned_epochs(p, 5, FULL) * estimate._record_rates()[p.key])


def test_a_finished_run_sets_this_servers_pace():
    p = PROTOCOLS["gnw_adam"]
    before = estimate.estimate_s(p, 5, QUICK)
    estimate.record_finished(before, 3 * before)
    assert estimate.estimate_s(p, 5, QUICK) == pytest.approx(3 * before)
    estimate.record_finished(1.0, 1e6)
    assert estimate._pace["factor"] == 20.0


def test_remaining_time_counts_trials_as_their_epochs():
    p = PROTOCOLS["weight_trajectory"]
    per_trial = QUICK.apply(p)["search_epochs"]
    total = planned_epochs(p, 5, QUICK)
    events = [SimpleNamespace(kind="stage")] + [SimpleNamespace(kind="trial")] * 8
    # 8 trials = 8 * per_trial epochs in 10 s: the rest at the same pace.
    done = 8 * per_trial
    assert estimate.remaining_s(events, p, 5, QUICK, 10.0) == pytest.approx(10 / done * (total - done))
    assert estimate.remaining_s(events[:1], p, 5, QUICK, 10.0) is None


def test_at_a_steady_pace_the_remaining_time_never_jumps():
    """Events of very different cost (stages, trials, epochs) arrive at a steady epoch pace: the
    estimate of the end time stays put, where counting events made it swing."""
    p = PROTOCOLS["hessian_lr"]
    per_trial = QUICK.apply(p)["search_epochs"]
    events, t, ends = [], 0.0, []
    for kind in ["stage"] + ["trial"] * 8 + ["side", "epoch"] * 10 + ["trial"] * 8:
        events.append(SimpleNamespace(kind=kind))
        t += per_trial if kind == "trial" else 1 if kind == "epoch" else 0
        left = estimate.remaining_s(events, p, 5, QUICK, t)
        if left is not None:
            ends.append(t + left)
    assert max(ends) == pytest.approx(min(ends))


def test_words():
    assert estimate.words(20) == "20 s" and estimate.words(600) == "10.0 min"

"""core.search: spaces from the registry, reproducible seeded searches, pruning, divergence, duels.

Most tests train through a fake trainer (the pluggable ``trainer`` argument) whose validation
loss is a known function of the learning rate, so the search logic is tested exactly and fast;
a few train for real for one or two epochs.
"""

import json
import math
import subprocess
import sys
import threading

import pytest
from optuna.distributions import FloatDistribution, IntDistribution

from core.config import EpochMetrics
from core.optim.registry import METHODS
from core.search.duel import ConfirmationRun, DuelSummary, run_duel
from core.search.outcomes import TrialResult, best_of
from core.search.study import BASELINE, SearchConfig, run_search
from core.search.space import search_space

SEARCHABLE = [k for k, s in METHODS.items() if any(hp.search for hp in s.hyperparams)]
MULTI_KNOB = next(k for k, s in METHODS.items() if sum(hp.search is not None
                                                        for hp in s.hyperparams) >= 2)
CHALLENGER = next(k for k in METHODS if k != BASELINE)


def fake_trainer(diverge_above=math.inf, calls=None):
    """val loss at epoch e = (log10 lr + 2)^2 + 1/e: best near lr = 1e-2, known for every lr.
    Configs with lr above ``diverge_above`` diverge at epoch 2."""
    def trainer(configs, keep_going):
        if calls is not None:
            calls.append(len(configs))
        curves = []
        for i, c in enumerate(configs):
            curve = []
            for e in range(1, c.epochs + 1):
                diverged = c.lr > diverge_above and e == 2
                val = math.nan if diverged else (math.log10(c.lr) + 2) ** 2 + 1 / e
                m = EpochMetrics(epoch=e, train_loss=val, val_loss=val, val_acc=0.5,
                                 elapsed=0.0, lrs=(c.lr,), diverged=diverged,
                                 reason="loss became non-finite" if diverged else None)
                curve.append(m)
                if diverged or not keep_going(i, m):
                    break
            curves.append(curve)
        return curves
    return trainer


def test_space_comes_from_the_registry():
    for key, spec in METHODS.items():
        space = search_space(key)
        for hp in spec.hyperparams:
            if hp.search is None:
                assert space.fixed[hp.name] == hp.default
                continue
            d = space.distributions[hp.name]
            assert (d.low, d.high, d.log) == (hp.search[0], hp.search[1], hp.log)
            assert isinstance(d, IntDistribution if hp.integer else FloatDistribution)
        assert space.distributions["lr"].log, "lr is searched on a log scale for every method"


def test_ranges_narrow_and_fixed_values_pin():
    spec = METHODS[MULTI_KNOB]
    other = next(hp for hp in spec.hyperparams if hp.name != "lr" and hp.search)
    space = search_space(MULTI_KNOB, ranges={"lr": (1e-3, 2e-3)}, fixed={other.name: other.high})
    assert (space.distributions["lr"].low, space.distributions["lr"].high) == (1e-3, 2e-3)
    assert other.name not in space.distributions and space.fixed[other.name] == other.high
    kwargs = space.run_kwargs({"lr": 1.5e-3})
    assert kwargs["lr"] == 1.5e-3 and kwargs["hparams"][other.name] == other.high


@pytest.mark.parametrize("ranges, fixed, message", [
    ({"lr": (1e-9, 1e-3)}, {}, "outside"),            # beyond the registry's limits
    ({"lr": (1e-2, 1e-3)}, {}, "low < high"),
    ({"nope": (1, 2)}, {}, "no hyperparameter"),
    ({"lr": (1e-3, 1e-2)}, {"lr": 1e-3}, "both fixed and searched"),
    ({}, {"lr": -1}, "outside"),
])
def test_bad_spaces_are_rejected(ranges, fixed, message):
    with pytest.raises(ValueError, match=message):
        search_space(BASELINE, ranges, fixed)


@pytest.mark.parametrize("change, message", [
    ({"trials": 0}, "trials"), ({"sampler": "grid"}, "sampler"), ({"epochs": 0}, "epochs"),
    ({"split": "x"}, "split"), ({"pruning": "yes"}, "pruning"), ({"method": "x"}, "method"),
])
def test_config_validation(change, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**{"method": BASELINE, **change})


def test_narrowed_ranges_are_respected():
    config = SearchConfig(BASELINE, trials=8, epochs=1, ranges=(("lr", (1e-3, 2e-3)),))
    results = list(run_search(config, trainer=fake_trainer()))
    assert len(results) == 8
    assert all(1e-3 <= r.params["lr"] <= 2e-3 for r in results)


def test_objective_is_the_best_validation_loss_over_epochs():
    config = SearchConfig(BASELINE, trials=3, epochs=3)
    for r in run_search(config, trainer=fake_trainer()):
        expected = (math.log10(r.params["lr"]) + 2) ** 2 + 1 / 3
        assert r.state == "COMPLETE" and r.value == pytest.approx(expected)
        assert [m.epoch for m in r.curve] == [1, 2, 3]


def test_seeded_search_is_reproducible_with_real_training():
    config = SearchConfig(BASELINE, trials=3, epochs=1, device="cpu")
    first = [(r.params, r.value) for r in run_search(config)]
    again = [(r.params, r.value) for r in run_search(config)]
    other = [(r.params, r.value) for r in run_search(SearchConfig(
        BASELINE, trials=3, epochs=1, device="cpu", seed=1))]
    assert first == again
    assert first != other
    assert all(math.isfinite(v) for _, v in first)


def test_tpe_moves_towards_the_optimum():
    """After its random start-up trials, seeded TPE samples near the known best lr (1e-2)."""
    results = list(run_search(SearchConfig(BASELINE, trials=30, epochs=1),
                              trainer=fake_trainer()))
    startup = [abs(math.log10(r.params["lr"]) + 2) for r in results[:10]]
    guided = [abs(math.log10(r.params["lr"]) + 2) for r in results[20:]]
    assert sum(guided) / len(guided) < sum(startup) / len(startup)
    assert best_of(results).value == min(r.value for r in results)


def test_pruning_prunes_bad_trials():
    config = SearchConfig(BASELINE, trials=12, epochs=3, pruning=True, sampler="random")
    results = list(run_search(config, trainer=fake_trainer()))
    pruned = [r for r in results if r.state == "PRUNED"]
    assert pruned, "with a clear per-epoch ordering, the median rule must prune something"
    assert all("pruned" in r.reason and len(r.curve) < 3 and r.value is None for r in pruned)
    unpruned = list(run_search(SearchConfig(BASELINE, trials=12, epochs=3, sampler="random"),
                               trainer=fake_trainer()))
    assert all(r.state == "COMPLETE" for r in unpruned)


def test_a_diverging_trial_is_never_a_good_value_and_the_study_goes_on():
    config = SearchConfig(BASELINE, trials=10, epochs=3, sampler="random")
    results = list(run_search(config, trainer=fake_trainer(diverge_above=1e-2)))
    assert len(results) == 10
    diverged = [r for r in results if r.params["lr"] > 1e-2]
    assert diverged and all(r.state in ("PRUNED", "FAIL") and r.value is None
                            and "diverged" in r.reason for r in diverged)
    good = [r for r in results if r.params["lr"] <= 1e-2]
    assert good and all(r.state == "COMPLETE" and math.isfinite(r.value) for r in good)
    assert best_of(results).params["lr"] <= 1e-2


def test_stop_ends_between_epochs_and_keeps_finished_trials():
    stop = threading.Event()
    seen = []
    for r in run_search(SearchConfig(BASELINE, trials=10, epochs=2), stop=stop,
                        trainer=fake_trainer()):
        seen.append(r)
        if len(seen) == 2:
            stop.set()
    assert [r.number for r in seen] == [0, 1]


def test_batches_of_asked_trials_go_to_the_trainer_together():
    calls = []
    results = list(run_search(SearchConfig(BASELINE, trials=5, epochs=1),
                              trainer=fake_trainer(calls=calls), batch=2))
    assert calls == [2, 2, 1]
    assert [r.number for r in results] == [0, 1, 2, 3, 4]
    assert len({r.params["lr"] for r in results}) == 5


def test_duel_gives_both_sides_the_same_budget_and_a_paired_verdict():
    config = SearchConfig(CHALLENGER, trials=3, epochs=2)
    events = list(run_duel(config, confirm_seeds=3, trainer=fake_trainer()))
    trials = [e for e in events if isinstance(e, TrialResult)]
    sides = {e.side for e in trials}
    assert sides == {CHALLENGER, BASELINE}
    assert all(sum(t.side == s for t in trials) == 3 for s in sides)
    confirm = [e for e in events if isinstance(e, ConfirmationRun)]
    # fresh seeds: never the search's own seed 0, the same ones for both sides (paired)
    assert sorted((c.side, c.seed) for c in confirm) == sorted(
        (s, k) for s in sides for k in (1, 2, 3))
    summary = events[-1]
    assert isinstance(summary, DuelSummary)
    best = {s: best_of(t for t in trials if t.side == s) for s in sides}
    assert summary.method.best_params == best[CHALLENGER].params
    assert summary.baseline.best_params == best[BASELINE].params
    # the fake loss depends on lr only, so each side's seeds agree exactly
    assert summary.method.best_loss.mean == pytest.approx(best[CHALLENGER].value)
    assert summary.verdict


def test_duel_refuses_adam_against_itself():
    with pytest.raises(ValueError, match="Adam"):
        next(run_duel(SearchConfig(BASELINE, trials=1, epochs=1)))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.timeout(120)
def test_cli_search_prints_trials_and_json():
    out = _cli("search", "--method", BASELINE, "--trials", "2", "--epochs", "1",
               "--device", "cpu")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum("trial" in line and "COMPLETE" in line for line in lines) == 2
    assert "best: trial" in lines[-1]
    out = _cli("search", "--method", BASELINE, "--trials", "2", "--epochs", "1", "--json",
               "--device", "cpu")
    doc = json.loads(out.stdout)
    assert [t["number"] for t in doc["trials"]] == [0, 1]
    assert len(doc["trials"][0]["curve"]) == 1


def test_cli_search_says_each_epoch_of_a_batch_on_stderr(capsys):
    from core.cli import main
    assert main(["search", "--method", BASELINE, "--trials", "2", "--epochs", "2",
                 "--parallel", "2", "--hidden", "8", "--device", "cpu"]) == 0
    out = capsys.readouterr()
    assert "# [adam] batch 1/1: epoch 1/2, 2 trials training, 0 done" in out.err.splitlines()
    assert "batch 1/1" not in out.out
    assert sum("COMPLETE" in line for line in out.out.splitlines()) == 2


@pytest.mark.parametrize("flags", [["--trials", "0"], ["--range", "lr", "1", "0.1"],
                                   ["--fix", "nope", "1"], ["--sampler", "grid"], ["--duel"]])
def test_cli_bad_flags_exit_2(flags, capsys):
    from core.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--method", BASELINE, "--epochs", "1", *flags])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_batches_train_as_one_population_and_finish_every_trial():
    from core.training.population import population_trainer
    from core.search.trainers import default_trainer, train_trials
    assert default_trainer("weight_trajectory", 4) is population_trainer
    assert default_trainer("weight_trajectory", 1) is train_trials
    config = SearchConfig(method="adam", trials=5, epochs=2, seed=0)
    results = list(run_search(config, batch=3))
    assert [r.number for r in results] == [0, 1, 2, 3, 4]
    assert all(r.state == "COMPLETE" and len(r.curve) == 2 for r in results)
    assert all(r.value == min(m.val_loss for m in r.curve) for r in results)
    with pytest.raises(ValueError, match="batch"):
        list(run_search(config, batch=0))


def test_a_batch_training_together_reports_progress_after_every_epoch():
    """Nothing finishes before a batch's last epoch, so the search says where it is per epoch."""
    from core.search.outcomes import SearchProgress
    config = SearchConfig(method="adam", trials=4, epochs=3, seed=0, hidden=(8,))
    events = list(run_search(config, batch=4, progress=True))
    steps = [e for e in events if isinstance(e, SearchProgress)]
    assert [(s.epoch, s.epochs_done) for s in steps] == [(0, 0), (1, 4), (2, 8), (3, 12)]
    assert all(s.epochs_planned == 12 and (s.batch, s.batches) == (1, 1) and s.done == 0
               for s in steps)
    assert [s.training for s in steps] == [4, 4, 4, 0]
    assert steps[1].line() == "batch 1/1: epoch 1/3, 4 trials training, 0 done"
    assert steps[-1].fraction == 1.0
    assert all(isinstance(e, SearchProgress) for e in events[:4])   # before any result
    assert [e.number for e in events[4:]] == [0, 1, 2, 3]
    assert not any(isinstance(e, SearchProgress) for e in run_search(config, batch=4))


def test_one_at_a_time_progress_counts_earlier_trials_done():
    from core.search.outcomes import SearchProgress
    config = SearchConfig(method="adam", trials=2, epochs=2, seed=0, hidden=(8,))
    steps = [e for e in run_search(config, batch=1, progress=True)
             if isinstance(e, SearchProgress)]
    assert [(s.batch, s.batches, s.epoch, s.done, s.epochs_done) for s in steps] == \
        [(1, 2, 0, 0, 0), (1, 2, 1, 0, 1), (1, 2, 2, 0, 2),
         (2, 2, 0, 1, 2), (2, 2, 1, 1, 3), (2, 2, 2, 1, 4)]


def test_duel_ranks_a_diverged_confirmation_seed_last():
    # core.stats.DIVERGENCE_RULE: the seed stays paired at the duel's worst value; it neither
    # voids the verdict nor drops out of the pairs.
    from core.search.duel import SideSummary, _summary
    def runs(side, bests):
        return [ConfirmationRun(side, s, {}, (), b, b, None if b else "diverged")
                for s, b in zip((1, 2, 3), bests)]
    m_runs, b_runs = runs(CHALLENGER, [1.0, None, 1.02]), runs(BASELINE, [1.1, 1.15, 1.12])
    side = lambda name, rs: SideSummary(name, {}, 1.0, 3, None, None,
                                        tuple(r.seed for r in rs if r.best is None))
    summary = _summary(SearchConfig(CHALLENGER, trials=1, epochs=1),
                       [(side(CHALLENGER, m_runs), m_runs), (side(BASELINE, b_runs), b_runs)],
                       (1, 2, 3), 1)
    cmp = summary.best_comparison
    assert cmp.differences == pytest.approx((-0.1, 0.0, -0.1))
    assert cmp.diverged == (1, 0) and "diverged on 1 of 3 seeds" in summary.verdict

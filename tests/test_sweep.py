"""Knob sweeps: grids from the registry, members equal to their solo runs, diverged points kept,
the best point and the edge warning, and the CLI."""

import json
import math

import pytest
import torch

import core.training.population as population
from core.cli import main
from core.config import RunConfig
from core.optim import METHODS
from core.training import sweep as sweep_module
from core.training.sweep import (Axis, SweepConfig, edge_warnings, make_grid, run_sweep,
                                 run_values, sweep_points)
from core.training.train import train

TIGHT = 1e-9


def test_log_grid_is_geometric_and_ends_exactly_at_the_range():
    hp = METHODS["adam"].hyperparam("lr")
    grid = make_grid(hp, 5, (1e-4, 1.0))
    assert grid == (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    assert make_grid(hp, 4) [0] == hp.search[0] and make_grid(hp, 4)[-1] == hp.search[1]


def test_linear_and_integer_grids():
    rho = METHODS["hessian_lr"].hyperparam("rho")
    assert make_grid(rho, 3, (0.5, 0.9)) == pytest.approx((0.5, 0.7, 0.9))
    freq = METHODS["meta_curvature"].hyperparam("update_freq")
    grid = make_grid(freq, 8, (1, 50))
    assert all(isinstance(v, int) for v in grid) and grid[0] == 1 and grid[-1] == 50
    assert list(grid) == sorted(set(grid))


@pytest.mark.parametrize("kwargs, match", [
    ({"points": 2}, "points for lr"), ({"points": 17}, "points for lr"),
    ({"span": (1e-7, 1.0)}, "leaves its valid range"), ({"span": (0.1, 0.01)}, "low < high"),
    ({"knob": "beta"}, "no hyperparameter 'beta'"), ({"n_seeds": 11}, "seeds"),
    ({"metric": "test_loss_at_best_val"}, "honest split"), ({"metric": "speed"}, "metric"),
])
def test_bad_sweeps_are_refused_naming_the_part(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SweepConfig.build(["adam"], **kwargs)


def test_a_knob_without_a_search_range_needs_one_and_log_needs_positive():
    with pytest.raises(ValueError, match="no default sweep range"):
        SweepConfig.build(["wngd"], knob="eps")
    with pytest.raises(ValueError, match="above 0"):
        SweepConfig.build(["wngd"], knob="eps", span=(0.0, 1e-3))


def test_too_many_entries_or_runs_are_refused():
    with pytest.raises(ValueError, match="at most 8 entries"):
        SweepConfig.build(["adam"] * 9)
    with pytest.raises(ValueError, match="runs; at most"):
        SweepConfig.build(["weight_trajectory"] * 2, points=16, knob2="beta", points2=16,
                          n_seeds=10)


def test_two_knob_members_cover_the_product_grid():
    config = SweepConfig.build(["weight_trajectory"], points=3, knob2="beta", points2=4,
                               n_seeds=2, seed=5)
    members = config.members(0)
    assert len(members) == 3 * 4 * 2 and {s for _, s in members} == {5, 6}
    cfg = config.member_configs(0)[-1]
    assert cfg.lr == config.grid(0)[-1] and dict(cfg.hparams)["beta"] == config.grid(0, 1)[-1]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("key", sorted(METHODS))
def test_each_sweep_member_equals_its_solo_run(key, mnist1d):
    # Float64 so that a wrong knob, seed or grid point shows as a gross mismatch; honest split
    # so the test loss at the best validation epoch is compared too.
    config = SweepConfig.build([key], points=3, n_seeds=2, epochs=2, split="honest",
                               metric="test_loss_at_best_val", device="cpu")
    runs = [r for event in run_sweep(config, mnist1d, dtype=torch.float64)
            for r in event.finished]
    assert len(runs) == 6
    by_member = {(r.point, r.seed): r for r in runs}
    for (point, seed), solo_config in zip(config.members(0), config.member_configs(0)):
        solo = run_values(list(train(solo_config, mnist1d, dtype=torch.float64,
                                     test_every_epoch=True)))
        got = by_member[(point, seed)].values
        for name, value in solo.items():
            assert got[name] == pytest.approx(value, rel=TIGHT, abs=TIGHT), (name, point, seed)


def test_diverged_points_are_reported_never_dropped(mnist1d, monkeypatch):
    config = SweepConfig.build(["adam"], points=3, n_seeds=2, epochs=2, device="cpu")
    top = config.grid(0)[-1]
    original = population.build_model

    def poisoned(run_config, device, dtype=torch.float32):
        model = original(run_config, device, dtype)
        if run_config.lr == top and run_config.seed == 1:
            with torch.no_grad():
                next(model.parameters())[0, 0] = float("inf")
        return model

    monkeypatch.setattr(population, "build_model", poisoned)
    runs = [r for event in run_sweep(config, mnist1d) for r in event.finished]
    assert len(runs) == 6
    bad = [r for r in runs if r.diverged]
    assert [(r.point, r.seed) for r in bad] == [((top,), 1)]
    assert math.isnan(bad[0].values["best_val_loss"]) and "non-finite" in bad[0].reason
    points = sweep_points(config, runs)
    edge = [p for p in points if p.point == (top,)][0]
    assert edge.n_runs == 2 and edge.n_diverged == 1 and not edge.best
    # The divergence rule: the diverged seed stays, at the worst value of the whole sweep.
    worst = max(r.values["best_val_loss"] for r in runs if not r.diverged)
    finite = [r.values["best_val_loss"] for r in runs if r.point == (top,) and not r.diverged]
    assert edge.stats.n == 2 and edge.stats.mean == pytest.approx((finite[0] + worst) / 2)


def _fake_runs(config, value):
    return [sweep_module.SweepRun(e, p, s, {"best_val_loss": value(e, p, s)}, 2)
            for e in range(len(config.entries)) for p, s in config.members(e)]


def test_a_diverged_seed_ranks_last_in_a_sweep():
    config = SweepConfig.build(["adam"], points=3, n_seeds=3)
    runs = _fake_runs(config, lambda e, p, s: 1.0 + 0.1 * s)
    grid = config.grid(0)
    # The low-lr point diverges on one seed after a flattering 0.1.
    runs = [sweep_module.SweepRun(0, r.point, r.seed, {"best_val_loss": math.nan}, 1, True, "x")
            if r.point == (grid[0],) and r.seed == 0 else r for r in runs]
    points = sweep_points(config, runs)
    low = points[0]
    assert low.stats.n == 3 and low.stats.mean > points[1].stats.mean
    assert low.stats.mean == pytest.approx((1.2 + 1.1 + 1.2) / 3)


def test_confirmation_runs_the_best_point_on_fresh_seeds(mnist1d):
    from core.training.sweep_confirm import (CONFIRM_OFFSET, confirmation_plan,
                                             confirmation_rows, confirmations, minima_tests,
                                             run_confirmation)
    config = SweepConfig.build(["adam", "gnw_adam"], points=3, n_seeds=2, epochs=2, seed=3,
                               split="honest", metric="test_loss_at_best_val",
                               hidden=(16,), batch_size=500, device="cpu")
    runs = [r for e in run_sweep(config, mnist1d) for r in e.finished]
    points = sweep_points(config, runs)
    plan = confirmation_plan(config, points)
    assert plan.seeds == (3 + CONFIRM_OFFSET, 4 + CONFIRM_OFFSET)
    assert not set(plan.seeds) & set(config.seeds)
    fresh = [r for e in run_confirmation(plan, mnist1d) for r in e.finished]
    assert {r.seed for r in fresh} == set(plan.seeds) and len(fresh) == 4
    best = {p.entry: p.point for p in points if p.best}
    assert {(r.entry, r.point) for r in fresh} == set(best.items())
    found = confirmations(plan, fresh)
    for c in found:
        # The fresh number is the best point retrained on the fresh seeds, run by run.
        solo = [run_values(list(train(config.point_config(c.entry, c.point, s), mnist1d,
                                      test_every_epoch=True)))["test_loss_at_best_val"]
                for s in plan.seeds]
        assert c.fresh.mean == pytest.approx(sum(solo) / 2, abs=1e-4)
        assert c.sweep == next(p.stats for p in points if p.best and p.entry == c.entry)
    tests = minima_tests(plan, found)
    assert set(tests) == {1} and tests[1].difference.n == 2
    rows = confirmation_rows(plan, found, tests)
    assert rows[0]["vs entry 1 (paired, fresh seeds)"] == "reference"
    assert "optimistic" in " ".join(rows[0])
    with pytest.raises(ValueError, match="fresh"):
        confirmation_plan(config, points, first=4)


def test_an_unconfirmed_minimum_is_not_tested():
    from core.training.sweep_confirm import confirmation_plan, confirmation_rows, minima_tests
    config = SweepConfig.build(["adam", "wngd"], points=3, n_seeds=2)
    points = sweep_points(config, _fake_runs(config, lambda e, p, s: 1.0 + p[0] + 0.01 * s))
    plan = confirmation_plan(config, points)
    tests = minima_tests(plan, [])
    assert tests == {1: None}
    rows = confirmation_rows(plan, [], tests)
    assert rows[1]["fresh seeds"] == "not confirmed"
    assert rows[1]["vs entry 1 (paired, fresh seeds)"] == "not tested"


def test_best_point_and_edge_warning():
    config = SweepConfig.build(["adam", "wngd"], points=3, n_seeds=2)
    runs = []
    for entry in (0, 1):
        for i, (point, seed) in enumerate(config.members(entry)):
            # entry 0: lowest loss in the middle; entry 1: at the top of the grid
            rank = abs(i // 2 - 1) if entry == 0 else 2 - i // 2
            runs.append(sweep_module.SweepRun(entry, point, seed,
                                              {"best_val_loss": 1.0 + rank + 0.01 * seed}, 2))
    points = sweep_points(config, runs)
    best = [p for p in points if p.best]
    assert [(p.entry, p.point) for p in best] == [(0, (config.grid(0)[1],)),
                                                  (1, (config.grid(1)[2],))]
    warnings = edge_warnings(config, points)
    assert len(warnings) == 1 and warnings[0].startswith("2. WNGD") and "widen" in warnings[0]


def test_closing_the_sweep_stops_training(mnist1d):
    config = SweepConfig.build(["adam"], points=3, n_seeds=1, epochs=50, device="cpu")
    run = run_sweep(config, mnist1d)
    first = next(run)
    assert first.epoch == 1 and first.finished == ()
    run.close()
    with pytest.raises(StopIteration):
        next(run)


def test_cli_sweep_json(capsys):
    assert main(["sweep", "--method", "adam", "--method", "weight_trajectory:beta=0.3",
                 "--points", "3", "--seeds", "2", "--epochs", "1", "--range", "1e-3", "1e-1",
                 "--device", "cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["points"]) == 6 and len(doc["runs"]) == 12
    assert [p["lr"] for p in doc["points"][:3]] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert doc["config"]["entries"][1]["hparams"]["beta"] == 0.3
    assert sum(p["best"] for p in doc["points"]) == 2
    assert "confirmation" not in doc


def test_cli_sweep_confirm_retrains_the_best_points_on_fresh_seeds(capsys):
    assert main(["sweep", "--method", "adam", "--method", "gnw_adam", "--points", "3",
                 "--seeds", "2", "--epochs", "1", "--hidden", "16", "--batch-size", "500",
                 "--device", "cpu", "--confirm", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    conf = doc["confirmation"]
    assert conf["seeds"] == [100, 101]
    assert {r["seed"] for r in conf["runs"]} == {100, 101} and len(conf["runs"]) == 4
    assert [r["entry"] for r in conf["rows"]] == [1, 2]
    assert conf["rows"][1]["vs entry 1 (paired, fresh seeds)"] != "not tested"


def test_cli_sweep_two_knobs_table(capsys):
    assert main(["sweep", "--method", "weight_trajectory", "--points", "3", "--knob2", "beta",
                 "--points2", "3", "--seeds", "1", "--epochs", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("weight_trajectory") >= 9 and "beta" in out


@pytest.mark.parametrize("args, message", [
    (["--method", "adam", "--knob", "beta"], "no hyperparameter 'beta'"),
    (["--method", "nope"], "unknown method"),
    (["--method", "adam", "--points", "17"], "from 3 to 16"),
    (["--method", "adam", "--range", "1e-7", "1"], "valid range"),
    (["--method", "adam", "--seeds", "11"], "seeds"),
    (["--method", "adam", "--range2", "1", "2"], "--range2 needs --knob2"),
    (["--method", "adam", "--points2", "5"], "--points2 needs --knob2"),
    (["--method", "adam:lr=5"], "outside"),
])
def test_cli_sweep_bad_input_exits_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", *args, "--epochs", "1"])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_method_without_a_population_form_sweeps_run_by_run(mnist1d, monkeypatch):
    # A plug-in optimizer may have no population form: its runs advance in turn, with the
    # same events and numbers (float64: the population and the solo runs agree to ~1e-10).
    config = SweepConfig.build(["wngd"], points=3, n_seeds=1, epochs=2, device="cpu")
    together = [r for e in run_sweep(config, mnist1d, dtype=torch.float64) for r in e.finished]
    import dataclasses
    monkeypatch.setitem(METHODS, "wngd", dataclasses.replace(
        METHODS["wngd"], population=None, one_after_another=True))
    events = list(run_sweep(config, mnist1d, dtype=torch.float64))
    assert [e.epoch for e in events] == [1, 2]
    alone = [r for e in events for r in e.finished]
    assert [(r.point, r.seed) for r in alone] == [(r.point, r.seed) for r in together]
    for a, b in zip(alone, together):
        assert a.values["best_val_loss"] == pytest.approx(b.values["best_val_loss"], rel=1e-9)

"""Learning-rate schedules (issue 22, section 2): the factors against sequences written out by
hand, the loop applying them step by step (as a torch scheduler set by hand would), populations
training members with different schedules exactly as their solo runs, MetaCurvatureLR scaling the
scheduled lr, and bad settings refused with a message."""

import dataclasses
import math

import pytest
import torch

from core.config import RunConfig
from core.optim import METHODS
from core.schedules import SCHEDULES, factor, factors, resolve
from core.training.population import population_to_end
from core.training.train import train


def test_constant_is_one_everywhere_and_the_default_changes_nothing():
    assert factors("constant", {"warmup": 0}, 3, 4) == [1.0] * 12
    assert RunConfig().schedule == "constant" and dict(RunConfig().schedule_params) == {
        "warmup": 0}


def test_warmup_by_hand():
    # 3 steps an epoch, 2 epochs of warm-up, 4 epochs: 1/6, 2/6, ..., 6/6, then 1.
    assert factors("constant", {"warmup": 2}, 3, 4) == pytest.approx(
        [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], abs=1e-15)


def test_cosine_by_hand():
    # 2 steps an epoch, 2 epochs: T = 4, cos(pi t / 4) from 1 to floor.
    got = factors("cosine", {"warmup": 0, "lr_floor": 0.0}, 2, 2)
    assert got == pytest.approx([1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2],
                                abs=1e-15)
    floor = factors("cosine", {"warmup": 0, "lr_floor": 0.2}, 2, 2)
    assert floor == pytest.approx([0.2 + 0.8 * f for f in got], abs=1e-15)


def test_warmup_then_cosine_by_hand():
    # 1 step an epoch, warm-up 2 of 6 epochs: 1/2, 1, then cosine over the remaining 4 steps.
    got = factors("cosine", {"warmup": 2, "lr_floor": 0.0}, 1, 6)
    assert got == pytest.approx([0.5, 1.0, 1.0, (1 + math.sqrt(0.5)) / 2, 0.5,
                                 (1 - math.sqrt(0.5)) / 2], abs=1e-15)


def test_step_decay_by_hand():
    # 2 steps an epoch, gamma 0.5 every 2 epochs, 5 epochs.
    got = factors("step", {"warmup": 0, "step_every": 2, "step_gamma": 0.5}, 2, 5)
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize("key,knobs,message", [
    ("linear", {}, "unknown schedule 'linear'"),
    ("cosine", {"warmup": 20}, "warmup=20 epochs must be shorter than the run"),
    ("constant", {"lr_floor": 0.1}, "no setting"),
    ("cosine", {"lr_floor": 1.5}, "lr_floor"),
    ("step", {"step_gamma": 0.0}, "step_gamma"),
    ("step", {"step_every": 0}, "step_every"),
])
def test_bad_settings_are_refused_with_a_message(key, knobs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(epochs=20, schedule=key, schedule_params=knobs)


def test_every_schedule_describes_its_knobs():
    for spec in SCHEDULES.values():
        assert spec.knobs[0].name == "warmup" and spec.description
        values = resolve(spec.key, {}, epochs=5)
        assert factor(spec.key, values, 0, 10, 5) == pytest.approx(1.0)


def _config(**changes):
    base = dict(epochs=3, seed=4, device="cpu", split="honest", hidden=(32,))
    return RunConfig(**{**base, **changes})


def test_the_loop_sets_each_step_s_lr_as_a_hand_set_scheduler_would(mnist1d):
    # Adam trained with the cosine schedule equals Adam whose group lr is set by hand before
    # every step to lr * factor (the sequence above), bit for bit.
    config = _config(schedule="cosine", schedule_params={"warmup": 1, "lr_floor": 0.1})
    scheduled = list(train(config, mnist1d))
    steps = math.ceil(3200 / 100)   # the honest split trains on 3200 samples
    expected = factors("cosine", dict(config.schedule_params), steps, 3)

    import core.training.train as module
    seen = []
    real = module.SoloMembers.scale_lrs

    def spy(self, fs):
        seen.append(fs[0])
        real(self, fs)
    try:
        module.SoloMembers.scale_lrs = spy
        again = list(train(config, mnist1d))
    finally:
        module.SoloMembers.scale_lrs = real
    assert seen == expected
    assert [dataclasses.replace(m, elapsed=0) for m in again] == \
        [dataclasses.replace(m, elapsed=0) for m in scheduled]
    assert [m.lrs[0] for m in scheduled] == [config.lr * expected[e * steps - 1]
                                             for e in (1, 2, 3)]
    constant = list(train(_config(), mnist1d))
    assert constant[-1].val_loss != scheduled[-1].val_loss


def test_a_constant_run_never_touches_the_lr(mnist1d, monkeypatch):
    import core.training.train as module
    monkeypatch.setattr(module.SoloMembers, "scale_lrs",
                        lambda self, fs: pytest.fail("a constant run set an lr"))
    list(train(_config(epochs=1), mnist1d))


SCHEDULES_MIXED = [("constant", {}), ("constant", {"warmup": 1}),
                   ("cosine", {"warmup": 1, "lr_floor": 0.05}),
                   ("step", {"step_every": 1, "step_gamma": 0.5})]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("key", ["adam", "sgd", "lion", "adamw_schedulefree", "meta_curvature",
                                 "weight_trajectory", "muon"])
def test_members_with_different_schedules_train_together_as_their_solo_runs(key, mnist1d):
    nudged = {"meta_curvature": {"update_freq": 3, "alpha": 0.05},
              "weight_trajectory": {"beta": 0.5}}.get(key, {})
    configs = [_config(method=key, seed=5 + i, schedule=s, schedule_params=k, hparams=nudged)
               for i, (s, k) in enumerate(SCHEDULES_MIXED)]
    members = population_to_end(configs, mnist1d, dtype=torch.float64)
    for config, history in zip(configs, members):
        solo = list(train(config, mnist1d, dtype=torch.float64))
        for a, b in zip(solo, history, strict=True):
            for name in ("train_loss", "val_loss", "test_loss"):
                x, y = getattr(a, name), getattr(b, name)
                assert (x is None) == (y is None) and (x is None or y == pytest.approx(
                    x, rel=1e-9, abs=1e-9)), (key, config.schedule, name)
            assert b.lrs == pytest.approx(a.lrs, rel=1e-12)
            assert b.diagnostics == pytest.approx(a.diagnostics, rel=1e-9, abs=1e-9)


def test_meta_curvature_scales_the_scheduled_lr(mnist1d):
    config = _config(method="meta_curvature", hparams={"update_freq": 2, "alpha": 0.05},
                     schedule="step", schedule_params={"step_every": 1, "step_gamma": 0.5})
    history = list(train(config, mnist1d))
    for epoch, m in enumerate(history):
        scheduled = config.lr * 0.5 ** epoch
        assert m.lrs[0] == pytest.approx(scheduled, rel=1e-12)
        # The step's lr is the scheduled one times the curvature factor 1/(1 + alpha trace+).
        trace = max(m.diagnostics["hessian_trace"], 0.0)
        assert m.diagnostics["lr"] == pytest.approx(scheduled / (1 + 0.05 * trace), rel=1e-9)


@pytest.mark.timeout(300)
def test_a_search_tunes_the_schedule_as_a_categorical_knob():
    from core.search.space import describe
    from core.search.study import SearchConfig, run_search
    config = SearchConfig("adam", trials=4, epochs=2, device="cpu", sampler="random",
                          schedules=("constant", "cosine"), schedule_params={"warmup": 1})
    assert "schedule: one of constant, cosine" in describe(config.space())
    results = list(run_search(config, batch=4))
    assert all(r.state == "COMPLETE" for r in results)
    assert {r.params["schedule"] for r in results} <= {"constant", "cosine"}
    for r in results:
        run = config.run_config(r.params)
        assert run.schedule == r.params["schedule"] and dict(run.schedule_params)["warmup"] == 1
    # A study's settings keep the schedule, so whoever attaches trains the same trials.
    again = SearchConfig.from_attrs(config.to_attrs(), trials=4, device="cpu")
    assert again.space() == config.space()
    # A fixed schedule trains every trial with it.
    fixed = SearchConfig("adam", trials=1, epochs=2, schedule="step",
                         schedule_params={"step_every": 1})
    run = fixed.run_config({"lr": 0.01})
    assert run.schedule == "step" and dict(run.schedule_params)["step_every"] == 1


@pytest.mark.parametrize("changes,message", [
    ({"schedules": ("constant", "warmup_cosine")}, "unknown schedule"),
    ({"schedule": "cosine", "schedule_params": {"warmup": 2}}, "shorter than the run"),
    ({"schedule_params": {"lr_floor": 0.1}}, "belong to none"),
])
def test_a_search_with_a_bad_schedule_is_refused_before_it_starts(changes, message):
    from core.search.study import SearchConfig
    with pytest.raises(ValueError, match=message):
        SearchConfig("adam", trials=2, epochs=2, **changes)


def test_no_method_knob_is_named_like_a_schedule_setting():
    from core.optim.plugins import RESERVED_NAMES
    from core.schedules import NAMES
    knobs = {hp.name for spec in METHODS.values() for hp in spec.hyperparams}
    assert not knobs & set(NAMES) and set(NAMES) <= RESERVED_NAMES


def _cli(*args):
    import subprocess
    import sys
    from conftest import ROOT
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


@pytest.mark.timeout(300)
def test_the_cli_trains_with_a_schedule_and_refuses_a_bad_one_with_exit_2():
    import json
    done = _cli("train", "--schedule", "cosine", "--warmup", "1", "--lr-floor", "0.1",
                "--epochs", "3", "--hidden", "16", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(done.stdout)
    assert run["config"]["schedule"] == "cosine"
    assert run["config"]["schedule_params"] == {"warmup": 1, "lr_floor": 0.1}
    steps = 40   # 4000 training samples (writeup split), batch 100
    expected = factors("cosine", {"warmup": 1, "lr_floor": 0.1}, steps, 3)
    assert [e["lrs"][0] for e in run["epochs"]] == pytest.approx(
        [0.01 * expected[e * steps - 1] for e in (1, 2, 3)], rel=1e-12)
    for args, message in ((("--warmup", "5"), "shorter than the run"),
                          (("--schedule", "linear"), "invalid choice"),
                          (("--lr-floor", "0.1"), "has no setting"),
                          (("--schedule", "step", "--step-gamma", "2"), "step_gamma")):
        bad = _cli("train", "--epochs", "3", "--hidden", "16", *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr[-500:])


def test_links_and_compare_entries_carry_the_schedule():
    from core.training.compare_settings import entry_label, entry_text, parse_entry
    from ui.params import config_from_params, config_to_params
    config = RunConfig(method="adamw", schedule="cosine", schedule_params={"warmup": 2})
    params = config_to_params(config)
    assert params["schedule"] == "cosine" and params["warmup"] == "2"
    again, warnings = config_from_params(params)
    assert again == config and warnings == []
    old, warnings = config_from_params({"method": "adam", "lr": "0.01"})
    assert old.schedule == "constant" and warnings == []
    bad, warnings = config_from_params({"schedule": "linear", "warmup": "99", "lr": "0.02"})
    assert bad.lr == 0.02 and bad.schedule == "constant" and len(warnings) == 2
    # Compare entries: the schedule only where there is one, so old entry texts read the same.
    assert "schedule" not in entry_text(RunConfig())
    text = entry_text(config, "cos")
    assert parse_entry(text) == (config, "cos")
    assert "cosine warmup=2" in entry_label(0, config)
    with pytest.raises(ValueError, match="lr_floor"):
        parse_entry("adam:lr=0.01,schedule=cosine,lr_floor=3")


def test_the_budget_s_command_lines_rebuild_the_schedule():
    import shlex
    from core.budget import compare_plan, search_plan, train_plan
    from core.search.study import SearchConfig
    config = RunConfig(method="adam", epochs=5, schedule="cosine",
                       schedule_params={"warmup": 2, "lr_floor": 0.1})
    command = train_plan(config).cli
    assert "--schedule cosine --lr-floor 0.1 --warmup 2" in command
    assert "--schedule" not in train_plan(RunConfig()).cli   # the default adds nothing
    plain = RunConfig(method="adam", epochs=5)
    compare = compare_plan([plain, config], [0, 1]).cli
    entries = [w for w in shlex.split(compare) if w.startswith("adam:")]
    assert "schedule" not in entries[0] and "schedule=cosine" in entries[1]
    assert "--schedule" not in shlex.split(compare)   # not a shared flag: it is per entry
    search = SearchConfig("adam", trials=2, epochs=5, schedules=("constant", "cosine"),
                          schedule_params={"warmup": 1})
    assert "--schedules constant cosine --warmup 1" in search_plan(search, parallel=2).cli

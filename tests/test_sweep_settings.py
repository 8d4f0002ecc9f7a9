"""Sweeping an lr schedule's knob (core.sweep_settings): the grid from the schedule's
description, each point's run, a member of the population equal to its solo run, the CLI, the
link and the Sensitivity page."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import run_until
from core.config import SETTINGS, RunConfig
from core.schedules import SCHEDULES
from core.sweep_settings import KnobSweepConfig, KnobAxis, setting_knobs, sweep_knob, sweepable
from core.training.sweep import Axis, make_grid, run_sweep
from core.training.train import train
from ui.sweep_params import sweep_from_params, sweep_to_params

APP = "../app.py"
pytestmark = pytest.mark.timeout(180)
SMALL = dict(epochs=3, hidden=(16,), batch_size=500, split="honest")


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_the_knobs_a_run_can_sweep_are_its_schedules_as_described(schedule):
    config = RunConfig(method="adam", schedule=schedule)
    knobs = setting_knobs(config)
    described = SETTINGS["schedule"].knobs()
    assert set(knobs) == {hp.name for hp in SCHEDULES[schedule].knobs}
    for name, (field, hp) in knobs.items():
        assert field == "schedule_params" and hp is described[name]
        assert sweep_knob(config, name) is hp
        # The grid is the description's search range, as a method knob's is.
        assert KnobAxis(name, 3).grid(config) == make_grid(hp, 3)
    assert sweepable([config]) == ["lr", *knobs]


def test_a_points_run_sets_the_schedule_knob_and_nothing_else():
    entry = RunConfig(method="adam", lr=3e-3, schedule="cosine", **SMALL)
    config = KnobSweepConfig((entry,), Axis("lr_floor", 3, (0.0, 0.2)), Axis("lr", 3), 2)
    assert isinstance(config.axis, KnobAxis) and isinstance(config.axis2, KnobAxis)
    assert config.grid(0) == (0.0, 0.1, 0.2)
    run = config.point_config(0, (0.1, 1e-3), seed=7)
    assert run == entry.replace(lr=1e-3, seed=7, schedule_params={"warmup": 0, "lr_floor": 0.1})
    assert config.n_runs == 18


@pytest.mark.parametrize("axis, message", [
    (Axis("lr_floor", 3), "no hyperparameter 'lr_floor'.*nor do its run settings"),           # a constant schedule has no floor
    (Axis("warmup", 3, (0, 4)), "warmup=4 epochs must be shorter"),
    (Axis("nope", 3), "no hyperparameter 'nope'"),
])
def test_a_knob_the_run_lacks_or_a_warmup_as_long_as_the_run_is_refused(axis, message):
    with pytest.raises(ValueError, match=message):
        KnobSweepConfig((RunConfig(method="adam", **SMALL),), axis, None, 1)


def test_members_with_different_warmups_equal_their_solo_runs():
    entry = RunConfig(method="adam", lr=1e-2, schedule="cosine", **SMALL)
    config = KnobSweepConfig((entry,), Axis("warmup", 3, (0, 2)), None, 1,
                             "test_loss_at_best_val")
    runs = [r for event in run_sweep(config) for r in event.finished]
    assert sorted(r.point for r in runs) == [(0,), (1,), (2,)]
    values = {r.point: r.values["final_val_loss"] for r in runs}
    assert len(set(values.values())) == 3        # the warm-up changed each run
    for point, value in values.items():
        solo = list(train(config.point_config(0, point, config.seeds[0])))
        assert value == pytest.approx(solo[-1].val_loss, rel=1e-4)


def test_cli_sweeps_a_schedule_knob(capsys):
    from core.cli import main
    assert main(["sweep", "--method", "adam", "--schedule", "cosine", "--knob", "lr_floor",
                 "--points", "3", "--range", "0", "0.2", "--epochs", "2", "--hidden", "16",
                 "--seeds", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["axes"][0]["knob"] == "lr_floor"
    assert sorted(row["lr_floor"] for row in doc["points"]) == [0.0, 0.1, 0.2]
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--method", "adam", "--knob", "lr_floor", "--epochs", "2"])
    assert e.value.code == 2 and "lr_floor" in capsys.readouterr().err


def test_a_sweep_link_with_a_schedule_knob_round_trips():
    entry = RunConfig(method="adam", lr=1e-2, schedule="cosine", epochs=6)
    config = KnobSweepConfig((entry,), Axis("warmup", 4, (0, 3)), None, 2)
    again, warnings = sweep_from_params(sweep_to_params(config))
    assert warnings == [] and again == config
    # On a constant schedule the floor does not exist: only that axis is dropped, by name.
    params = {**sweep_to_params(config), "knob": "lr_floor"}
    params["e1"] = params["e1"].replace("schedule=cosine", "schedule=constant")
    kept, warnings = sweep_from_params(params)
    assert kept is not None and kept.axis.knob == "lr"
    assert any("lr_floor" in w for w in warnings)


def test_the_sensitivity_page_sweeps_the_chosen_schedules_knob():
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in {"epochs": "3", "hidden": "16", "batch_size": "500", "seeds": "1",
                       "points": "3"}.items():
        at.query_params[key] = value
    at.switch_page("pages/sensitivity.py")
    at.run()
    assert "lr_floor" not in at.selectbox(key="sens.knob").options
    at.selectbox(key="sens.schedule").set_value("cosine").run()
    knob = at.selectbox(key="sens.knob")
    assert {"lr", "warmup", "lr_floor"} <= set(knob.options)
    knob.set_value("warmup").run()
    at.toggle(key="sens.custom").set_value(True).run()
    at.number_input(key="sens.low").set_value(0.0)
    at.number_input(key="sens.high").set_value(2.0).run()
    assert not at.error, [e.value for e in at.error]
    assert at.query_params.get("knob") in ("warmup", ["warmup"])
    at.button(key="sens.start").click().run()
    at = run_until(at, lambda a: a.success, "the warm-up sweep to finish")
    assert "Finished: 3 runs" in at.success[0].value
    assert sorted(at.dataframe[0].value["warmup"].tolist()) == [0, 1, 2]

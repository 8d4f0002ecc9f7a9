"""Train's demo controls: the log-scale lr grid, and (AppTest) the slider, pause / step /
resume, reset, auto-restart and the demo pace on the page."""

import pytest

from core.optim.registry import METHODS
from ui.demo_controls import log_grid, lr_grid, nearest


def test_the_lr_grid_is_one_two_three_five_per_decade_and_holds_every_default():
    assert log_grid(1e-3, 1.0) == [0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05,
                                   0.1, 0.2, 0.3, 0.5, 1.0]
    assert log_grid(0.0015, 0.04) == [0.002, 0.003, 0.005, 0.01, 0.02, 0.03]
    for spec in METHODS.values():
        hp = spec.hyperparam("lr")
        grid = log_grid(hp.low, hp.high)
        assert grid[0] >= hp.low and grid[-1] <= hp.high and grid == sorted(grid)
        assert hp.default in lr_grid(hp), spec.key
        assert set(grid) <= set(lr_grid(hp)) and len(lr_grid(hp)) - len(grid) <= 1
        # log-spaced: no step wider than a factor of 2 (1 -> 2, 3 -> 5 -> 10)
        assert max(b / a for a, b in zip(grid, grid[1:])) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        log_grid(0.0, 1.0)


def test_nearest_is_nearest_on_the_log_scale():
    grid = log_grid(1e-4, 1.0)
    assert nearest(grid, 0.0042) == 0.005       # log10: 0.0042 is nearer 0.005 than 0.003
    assert nearest(grid, 0.0037) == 0.003
    assert nearest(grid, 7e-5) == 1e-4 and nearest(grid, 50.0) == 1.0
    assert nearest(grid, -1.0) == grid[0] and nearest(grid, None) == grid[0]
    assert nearest(grid, 0.01) == 0.01


# ---- the Train page under AppTest ---------------------------------------------------------

@pytest.fixture
def train_page():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.switch_page("pages/train.py")
    at.run()
    at.text_input(key="train.hidden").set_value("16")
    # batch 100: about 15 ms an epoch, so 10,000 epochs outlast any test on a fast machine
    at.number_input(key="train.batch_size").set_value(100)
    at.run()
    return at


def lr_box(at):
    return at.number_input(key=f"train.hp.{at.selectbox(key='train.method').value}.lr")


def bar(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def epochs_shown(at) -> int:
    return int(at.metric[0].value) if at.metric and at.metric[0].value != "-" else 0


@pytest.mark.timeout(120)
def test_the_lr_slider_and_the_lr_box_follow_each_other(train_page):
    at = train_page
    at.select_slider(key="train.demo.lr").set_value(0.05).run()
    assert lr_box(at).value == pytest.approx(0.05)
    lr_box(at).set_value(0.0042).run()
    assert at.select_slider(key="train.demo.lr").value == pytest.approx(0.005)
    assert lr_box(at).value == pytest.approx(0.0042)   # the box keeps what was typed


@pytest.mark.timeout(240)
def test_pause_holds_the_run_step_trains_one_epoch_resume_goes_on(train_page):
    from apptest_support import run_until
    at = train_page
    at.number_input(key="train.epochs").set_value(10000).run()
    assert "train.pause" not in {b.key for b in at.button}   # no run, nothing to pause
    at.button(key="train.start").click().run()
    run_until(at, lambda a: epochs_shown(a) >= 1, "a first epoch")
    at.button(key="train.pause").click().run()
    run_until(at, lambda a: bar(a).startswith("Paused"), "the pause")
    held = epochs_shown(at)
    assert f"after epoch {held} of 10000" in bar(at)
    assert at.button(key="train.pause").label == "Resume"
    for _ in range(5):   # held: no epoch goes by
        at.run()
    assert epochs_shown(at) == held
    at.button(key="train.step").click().run()
    run_until(at, lambda a: bar(a).startswith("Paused") and epochs_shown(a) == held + 1,
              "one step")
    at.button(key="train.pause").click().run()   # now "Resume"
    run_until(at, lambda a: epochs_shown(a) > held + 2, "the run to go on")
    assert bar(at).startswith("Running") and at.button(key="train.pause").label == "Pause"
    at.button(key="train.stop").click().run()
    run_until(at, lambda a: any("Stopped after" in i.value for i in a.info), "the stop")


@pytest.mark.timeout(240)
def test_reset_and_auto_restart_start_over_with_the_settings_shown(train_page):
    from apptest_support import run_until
    at = train_page
    at.number_input(key="train.epochs").set_value(10000).run()
    at.button(key="train.start").click().run()
    run_until(at, lambda a: epochs_shown(a) >= 2, "two epochs")
    at.button(key="train.reset").click().run()
    run_until(at, lambda a: bar(a).startswith("Running #2"), "run #2")
    first, second = [r["job"] for r in at.session_state["train.runs"]]
    assert first.status == "stopped" and 2 <= first.count() < 10000   # cut short
    assert not second.done()
    # Auto-restart: a new lr stops run #2 and starts run #3 with it.
    at.toggle(key="train.demo.auto").set_value(True).run()
    assert bar(at).startswith("Running #2")   # switching it on changes no setting
    at.select_slider(key="train.demo.lr").set_value(0.002).run()
    run_until(at, lambda a: bar(a).startswith("Running #3"), "run #3")
    runs = at.session_state["train.runs"]
    assert "lr=0.002" in bar(at) and runs[-1]["config"].lr == 0.002
    assert second.status == "stopped"
    assert runs[-1]["config"] == runs[-2]["config"].replace(lr=0.002)   # only the lr changed
    at.button(key="train.stop").click().run()
    run_until(at, lambda a: any("Stopped after" in i.value for i in a.info), "the stop")
    # Stopped: a changed setting starts nothing, auto-restart or not.
    at.select_slider(key="train.demo.lr").set_value(0.003).run()
    assert any("Stopped after" in i.value for i in at.info) and not bar(at)


@pytest.mark.timeout(240)
def test_a_demo_pace_streams_a_short_run_and_counts_in_the_wall_time_limit(train_page):
    from apptest_support import run_until
    at = train_page
    at.number_input(key="train.epochs").set_value(3).run()
    at.slider(key="train.demo.pace").set_value(0.5).run()
    at.button(key="train.start").click().run()
    run_until(at, lambda a: "at a demo pace of 0.5 s per epoch" in bar(a), "a paced run")
    run_until(at, lambda a: a.success, "the run to finish")
    assert "Finished 3 epochs" in at.success[0].value
    # 2,000 epochs at 10 s each run past the server's limit: refused before anything starts.
    at.number_input(key="train.epochs").set_value(2000).run()
    at.slider(key="train.demo.pace").set_value(10.0).run()
    at.button(key="train.start").click().run()
    assert any("at a demo pace of 10 s per epoch would need" in e.value for e in at.error)
    assert "Finished 3 epochs" in at.success[0].value   # the last run stays on screen

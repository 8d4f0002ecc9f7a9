"""The lr schedule on the pages (AppTest): a Train link and a Compare entry carry it into the
widgets and back into the URL; Compare runs Adam constant against Adam with warm-up + cosine."""

import pytest
from streamlit.testing.v1 import AppTest

APP = "../app.py"
pytestmark = pytest.mark.timeout(240)


def app(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def _query(at, key):
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def test_a_train_link_with_a_schedule_fills_the_widgets_and_the_config():
    at = app("train", {"method": "adamw", "schedule": "cosine", "warmup": "2",
                       "lr_floor": "0.05", "epochs": "5"})
    assert not at.warning and not at.error
    assert at.selectbox(key="train.schedule").value == "cosine"
    assert at.number_input(key="train.schedule.warmup").value == 2
    assert at.number_input(key="train.schedule.lr_floor").value == pytest.approx(0.05)
    config = at.session_state["train.config"]
    assert config.schedule == "cosine" and dict(config.schedule_params) == {
        "warmup": 2, "lr_floor": 0.05}
    assert _query(at, "schedule") == "cosine" and _query(at, "warmup") == "2"
    # A warm-up as long as the run is an error in words, and nothing can start.
    at.number_input(key="train.epochs").set_value(2).run()
    assert any("shorter than the run" in e.value for e in at.error)
    assert at.button(key="train.start").disabled


def test_compare_entries_each_keep_their_schedule():
    at = app("compare", {"e1": "adam:lr=0.01", "e2": "adam:lr=0.01,schedule=cosine,warmup=1",
                         "epochs": "3", "seeds": "1"})
    assert not at.warning and not at.error
    assert at.selectbox(key="compare.e0.schedule").value == "constant"
    assert at.selectbox(key="compare.e1.schedule").value == "cosine"
    settings = at.session_state["compare.settings"]
    assert [e.schedule for e in settings.entries] == ["constant", "cosine"]
    assert "schedule" not in _query(at, "e1") and "schedule=cosine" in _query(at, "e2")


def test_the_search_page_can_tune_the_schedule():
    at = app("search", {})
    assert not at.error
    at.multiselect(key="search.schedules").set_value(["constant", "cosine"]).run()
    assert not at.error
    assert any("schedule: one of constant, cosine" in e.value for e in at.caption)


def test_a_sensitivity_link_with_a_schedule_sweeps_every_entry_with_it():
    at = app("sensitivity", {"e1": "adam:lr=0.01,schedule=step,step_every=2", "knob": "lr",
                             "epochs": "4"})
    assert not at.error
    assert at.selectbox(key="sens.schedule").value == "step"
    assert at.number_input(key="sens.schedule.step_every").value == 2


def test_a_search_link_carries_the_schedule_both_ways():
    at = app("search", {"method": "adam", "schedules": "constant,cosine", "warmup": "1",
                        "epochs": "4"})
    assert not at.warning and not at.error
    assert at.multiselect(key="search.schedules").value == ["constant", "cosine"]
    assert at.number_input(key="search.schedule.warmup").value == 1
    assert any("schedule: one of constant, cosine" in e.value for e in at.caption)
    at.multiselect(key="search.schedules").set_value(["step", "cosine"]).run()
    assert _query(at, "schedules") == "step,cosine"
    bad = app("search", {"schedules": "linear", "warmup": "-1"})
    assert len(bad.warning) >= 1 and not bad.error


def test_a_search_over_schedules_runs_to_the_end_and_draws(monkeypatch):
    from apptest_support import run_until
    monkeypatch.delenv("MNIST1D_LAB_STORAGE", raising=False)
    at = app("search", {"method": "adam", "schedules": "constant,cosine", "trials": "3",
                        "epochs": "2"})
    at.button(key="search.start").click().run()
    run_until(at, lambda a: any("Search finished" in c.value for c in a.caption),
              "the search to finish")
    table = at.dataframe[0].value
    assert len(table) == 3 and "None" not in table.astype(str).values
    assert any("best trial #" in s.value for s in at.success)
    link = at.get("link_button")[0].proto.url
    assert "schedule=" in link and "lr=" in link

"""The Search page under streamlit's AppTest: a 3-trial, 2-epoch search runs to the end and
draws its table, charts and best-parameter link."""


import pytest
from streamlit.testing.v1 import AppTest
from apptest_support import run_until

APP = "../app.py"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def at(monkeypatch):
    monkeypatch.delenv("MNIST1D_LAB_STORAGE", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/search.py")
    return at.run()


def start_search(at, trials: int, epochs: int, **settings: int) -> None:
    """Set the search's size (and any other number box by key suffix) and press Start."""
    for name, value in {"trials": trials, "epochs": epochs, **settings}.items():
        at.number_input(key=f"search.{name}").set_value(value)
    at.run()
    at.button(key="search.start").click().run()


def wait_until_finished(at) -> None:
    run_until(at, lambda a: any("Search finished" in c.value for c in a.caption),
              "the search to finish")


def test_a_small_search_runs_to_the_end_and_draws(at):
    assert not at.exception
    start_search(at, trials=3, epochs=2)
    wait_until_finished(at)
    table = at.dataframe[0].value
    assert list(table["number"]) == [0, 1, 2]
    assert set(table["state"]) <= {"COMPLETE", "⚠ PRUNED", "✖ FAIL"}
    charts = at.get("vega_lite_chart")
    # history, distribution, one slice per searched knob, intermediate curves
    assert len(charts) >= 4
    assert any("best trial #" in s.value for s in at.success)
    links = at.get("link_button")
    assert links and "train?" in links[0].proto.url and "lr=" in links[0].proto.url


def test_stop_keeps_finished_trials(at):
    start_search(at, trials=50, epochs=1)
    run_until(at, lambda a: len(a.dataframe) > 0, "a first trial")
    at.button(key="search.stop_button").click().run()
    run_until(at, lambda a: any("Search stopped" in c.value for c in a.caption), "the stop")
    n = len(at.dataframe[0].value)
    assert 1 <= n < 50


def test_the_best_of_a_search_can_be_confirmed_on_fresh_seeds(at):
    start_search(at, trials=2, epochs=2, confirm=2)
    wait_until_finished(at)
    at.button(key="search.confirm_button").click().run()
    run_until(at, lambda a: any("**Confirmation** (2 seeds" in m.value for m in a.markdown),
              "the confirmation")
    rows = at.dataframe[-1].value
    assert list(rows["seed"]) == [1, 2] and rows["best val loss"].notna().all()

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
    assert list(table["trial"]) == [0, 1, 2] and "best val loss" in table.columns
    assert not any(c.startswith("params_") for c in table.columns)
    assert not table.isna().any().any() and "None" not in table.astype(str).values
    assert set(table["state"]) <= {"COMPLETE", "⚠ PRUNED", "✖ FAIL"}
    charts = at.get("vega_lite_chart")
    # history, distribution, one slice per searched knob, intermediate curves
    assert len(charts) >= 4
    assert any("best trial #" in s.value for s in at.success)
    links = at.get("link_button")
    assert links and "train?" in links[0].proto.url and "lr=" in links[0].proto.url


def test_stop_keeps_finished_trials(at):
    start_search(at, trials=50, epochs=1)
    run_until(at, lambda a: len(a.dataframe) > 0
              and "COMPLETE" in set(a.dataframe[0].value["state"]), "a first finished trial")
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


# ---- with a server-configured storage (issue 13, Medium 5 and Low) --------------------------

@pytest.fixture
def stored(monkeypatch, tmp_path):
    """The page with a SQLite storage, and a study some other visitor made in it."""
    import optuna
    from core.search.study import BASELINE, SearchConfig, run_search
    from tests.test_search import fake_trainer
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    list(run_search(SearchConfig(BASELINE, trials=1, epochs=1), storage=url,
                    study_name="victim", trainer=fake_trainer()))
    monkeypatch.setenv("MNIST1D_LAB_STORAGE", url)
    monkeypatch.delenv("MNIST1D_LAB_SHARED_STUDIES", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/search.py")
    at.run()
    victim = lambda: len(optuna.load_study(study_name="victim", storage=url).trials)  # noqa
    return at, victim


def test_a_visitor_cannot_write_to_or_watch_another_visitors_study(stored):
    at, victim = stored
    at.text_input(key="search.study").set_value("victim").run()
    at.button(key="search.start").click().run()
    assert any("belongs to someone else" in e.value for e in at.error)
    assert victim() == 1, "nothing was added to the other visitor's study"
    assert "victim" not in at.selectbox(key="search.watch_name").options


def test_storage_errors_show_visitors_nothing_about_the_database(monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MNIST1D_LAB_STORAGE", f"postgresql://secretuser@127.0.0.1:{port}/db")
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/search.py")
    at.run()
    at.button(key="search.start").click().run()
    shown = " ".join(e.value for e in at.error)
    assert "not available" in shown
    assert not any(secret in shown for secret in ("127.0.0.1", str(port), "secretuser",
                                                  "psycopg", "postgresql"))


def test_the_default_study_name_follows_the_settings_until_one_is_typed(stored):
    at, _ = stored
    at.number_input(key="search.epochs").set_value(3).run()
    assert "-e3-s0-" in at.text_input(key="search.study").value   # then the visitor's tag
    at.number_input(key="search.seed").set_value(7).run()
    assert "-e3-s7-" in at.text_input(key="search.study").value
    at.text_input(key="search.study").set_value("my-study").run()
    at.number_input(key="search.epochs").set_value(4).run()
    assert at.text_input(key="search.study").value == "my-study"


@pytest.mark.parametrize("typed", ["", "   "], ids=["emptied", "blank"])
def test_an_emptied_study_name_is_refused_and_writes_nowhere(stored, typed):
    # Issue 20, High 3: the empty name was checked, then the default study was written to.
    import optuna
    at, victim = stored
    url = __import__("os").environ["MNIST1D_LAB_STORAGE"]
    names = lambda: set(optuna.get_all_study_names(url))  # noqa: E731
    before = names()
    at.text_input(key="search.study").set_value(typed).run()
    at.button(key="search.start").click().run()
    assert any("study name is empty" in e.value for e in at.error)
    assert names() == before and victim() == 1, "no study was created or written to"


def _browser(monkeypatch, key: str):
    """The Search page as the browser ``key`` opens it (a fresh session: a reload)."""
    import ui.studies
    monkeypatch.setattr(ui.studies, "browser_key", lambda: key, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/search.py")
    at.run()
    at.number_input(key="search.trials").set_value(1)
    at.number_input(key="search.epochs").set_value(1)
    return at.run()


def _start_and_finish(at):
    at.button(key="search.start").click().run()
    assert not at.error, [e.value for e in at.error]
    run_until(at, lambda a: any("Search finished" in c.value for c in a.caption), "the search")


def test_default_study_names_are_per_visitor_and_stay_theirs_after_a_reload(stored,
                                                                            monkeypatch):
    # Issue 20, Medium 5: the first visitor on the default settings owned the one default name,
    # and lost it themselves on a reload (ownership lived in the session).
    import optuna
    url = __import__("os").environ["MNIST1D_LAB_STORAGE"]
    first = _browser(monkeypatch, "browser-a")
    mine = first.text_input(key="search.study").value
    _start_and_finish(first)
    other = _browser(monkeypatch, "browser-b")
    theirs = other.text_input(key="search.study").value
    assert theirs != mine, "another visitor's default is their own"
    _start_and_finish(other)                      # not refused: nobody squats it
    again = _browser(monkeypatch, "browser-a")    # the first visitor reloads
    assert again.text_input(key="search.study").value == mine
    assert mine in again.selectbox(key="search.watch_name").options
    assert theirs not in again.selectbox(key="search.watch_name").options
    again.number_input(key="search.trials").set_value(2).run()
    _start_and_finish(again)                      # resumes their own study
    assert len(optuna.load_study(study_name=mine, storage=url).trials) == 2
    assert len(optuna.load_study(study_name=theirs, storage=url).trials) == 1


def test_a_study_made_for_other_settings_is_refused_in_words(stored):
    at, _ = stored
    at.text_input(key="search.study").set_value("mine").run()
    at.button(key="search.start").click().run()      # creates "mine" with epochs 10
    at.button(key="search.stop_button").click().run()
    run_until(at, lambda a: any("Search stopped" in c.value or "Search finished" in c.value
                                for c in a.caption), "the stop")
    at.number_input(key="search.epochs").set_value(3).run()
    at.text_input(key="search.study").set_value("mine").run()
    at.button(key="search.start").click().run()
    assert any("made for a different search" in e.value for e in at.error)


def test_a_batch_training_together_moves_the_bar_every_epoch(at):
    """4 trials trained as one population finish together; the bar moves by epochs meanwhile."""
    start_search(at, trials=4, epochs=8, parallel=4)

    def mid_batch(a):
        bars = [b for b in a.get("progress") if "4 trials training" in b.proto.text]
        return any(0 < b.proto.value < 100 and "batch 1/1: epoch " in b.proto.text
                   and "/8, 4 trials training, 0 done" in b.proto.text for b in bars)
    run_until(at, mid_batch, "a bar part way through the batch")
    # No trial has finished, yet the table lists the batch's trials from their first epoch:
    # each with its knobs, its epochs so far and its best validation loss so far.
    training = at.dataframe[0].value
    assert list(training["trial"]) == [0, 1, 2, 3] and set(training["state"]) == {"▶ training"}
    assert all(1 <= e < 8 for e in training["epochs trained"])
    assert all(isinstance(v, float) and 0 < v < 10 for v in training["best val loss"])
    assert "lr" in training.columns and not training["lr"].eq("-").any()
    wait_until_finished(at)
    assert list(at.dataframe[0].value["trial"]) == [0, 1, 2, 3]


def test_a_finished_search_draws_its_parameter_importance(at):
    at.selectbox(key="search.method").set_value("weight_trajectory").run()
    start_search(at, trials=4, epochs=1, parallel=4)
    wait_until_finished(at)
    assert any("fANOVA" in c.value for c in at.caption)
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("Parameter importance" in s for s in specs)

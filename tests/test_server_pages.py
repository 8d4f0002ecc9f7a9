"""The public server's guards in the app: budgets refuse before anything starts, bad settings
stop every Start, and a run handle re-attaches a reloaded page (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import run_until
from test_app_pages import app, texts
from core.training import runner
import ui.session

pytestmark = pytest.mark.timeout(180)
HUGE = ",".join(["4096"] * 8)


@pytest.fixture
def no_jobs():
    for job in runner.RUNNER.jobs():
        job.stop()
        job.wait(30)
    before = set(runner.RUNNER._handles)
    yield
    started = set(runner.RUNNER._handles) - before
    for handle in started:
        runner.RUNNER.find(handle).stop()


@pytest.mark.parametrize("page,query,cli", [
    ("train", {"method": "hessian_lr", "epochs": "10000", "hidden": HUGE},
     "python -m core train --method hessian_lr"),
    ("compare", {"methods": "adam,gnw_adam", "seeds": "10", "epochs": "10000", "hidden": HUGE},
     "python -m core compare --entry adam:"),
])
def test_the_issue_13_links_are_refused_with_nothing_started(no_jobs, page, query, cli):
    at = app(page, query)
    assert not at.exception and not at.warning, texts(at.warning)
    handles = set(runner.RUNNER._handles)
    at.button(key=f"{page}.start").click().run()
    assert not at.exception
    refusals = [t for t in texts(at.error) if t.startswith("Not started")]
    assert len(refusals) == 1 and "memory" in refusals[0] and cli in refusals[0]
    assert set(runner.RUNNER._handles) == handles and runner.RUNNER.jobs() == [], \
        "nothing was queued or started"


def test_invalid_settings_are_shown_and_no_start_runs(no_jobs, monkeypatch):
    monkeypatch.setenv("JOB_THREADS", "abc")
    ui.session.server_settings.clear()
    try:
        at = app("train")
        assert any("JOB_THREADS='abc' is not a whole number" in t for t in texts(at.error))
        at.text_input(key="train.hidden").set_value("16")
        at.number_input(key="train.epochs").set_value(1)
        at.button(key="train.start").click().run()
        assert not at.exception and runner.RUNNER.jobs() == []
        assert any("misconfigured" in t for t in texts(at.error))
    finally:
        monkeypatch.delenv("JOB_THREADS")
        ui.session.server_settings.clear()


def start_small_run(at: AppTest, epochs: int) -> runner.Job:
    at.text_input(key="train.hidden").set_value("16")
    at.number_input(key="train.batch_size").set_value(500)
    at.number_input(key="train.epochs").set_value(epochs)
    at.run()
    at.button(key="train.start").click().run()
    job = at.session_state["train.job"]["job"]
    run_until(at, lambda a: job.count() >= 1, "a first epoch")
    return job


def test_a_reload_re_attaches_the_starting_browser_and_others_only_watch(no_jobs, monkeypatch):
    # AppTest gives every instance the same session id; a browser's sessions are set here
    def as_session(session, browser):
        monkeypatch.setattr(ui.session, "session_id", lambda: session)
        monkeypatch.setattr(ui.session, "browser_key", lambda: browser)

    as_session("session-1", "browser-A")
    first = app("train")
    job = start_small_run(first, 2000)
    # AppTest reruns only the page after its first run, not app.py, which puts the handle in
    # the URL (the browser test checks that part); the reload gets the URL it would have.
    settings = {**{k: v[-1] if isinstance(v, list) else v for k, v in first.query_params.items()},
                "run": job.handle}

    # F5: a new session of the same browser, with the URL the page had
    as_session("session-2", "browser-A")
    reloaded = app("train", settings)
    assert reloaded.session_state["train.job"]["job"] is job and job.owner == "session-2"
    assert not reloaded.button(key="train.stop").disabled, "the starter keeps its controls"
    assert [r["job"] for r in reloaded.session_state["train.runs"]] == [job], "runs listed"
    assert any("Your active jobs: 1" in t for t in texts(reloaded.sidebar.caption))

    # the same link in another browser: the curves, never the controls
    as_session("session-3", "browser-B")
    other = app("train", settings)
    assert other.session_state["train.job"]["job"] is job
    assert other.button(key="train.stop").disabled
    assert any("watching a run started in another browser" in t for t in texts(other.caption))
    assert not job.done() and job.owner == "session-2", "watching changes nothing"

    as_session("session-2", "browser-A")
    reloaded.button(key="train.stop").click().run()
    assert job.wait(60) and job.status == "stopped"


def test_a_run_the_server_no_longer_has_is_reported(no_jobs):
    at = app("train", {"run": "handle-from-before-a-restart"})
    assert any("no longer on the server" in t for t in texts(at.warning))
    assert "train.job" not in at.session_state
    assert "run" not in at.query_params


def test_the_browser_key_survives_the_servers_re_masking_of_the_xsrf_cookie():
    generate = pytest.importorskip(
        "streamlit.web.server.starlette.starlette_app_utils").generate_xsrf_token_string
    token = bytes(range(16))
    first, again = generate(token, 1700000000), generate(token, 1700000000)
    assert first != again, "a new mask each time"
    assert ui.session.xsrf_token(first) == ui.session.xsrf_token(again) == token
    assert ui.session.xsrf_token(generate(bytes(16), 1)) != token
    assert ui.session.xsrf_token("2|zz|00|1") is None


# Every page keeps {**meta, "job": job} under its run key (ui.live.LiveRun); Reproduce keeps
# one more per write-up tab (a reload gets the latest).
REATTACH_PAGES = [
    ("compare", "compare.start", "compare.run", "compare.stop",
     {"e1": "adam:lr=0.01", "e2": "sgd:lr=0.1", "seeds": "2", "epochs": "500", "hidden": "16",
      "batch_size": "500"}),
    ("sensitivity", "sens.start", "sens.run", "sens.stop",
     {"epochs": "500", "hidden": "16", "batch_size": "500", "seeds": "2", "points": "3"}),
    ("search", "search.start", "search.job", "search.stop_button",
     {"trials": "50", "epochs": "200"}),
    ("reproduce", "repro.quick.gnw_adam", "repro.job.gnw_adam", "repro.stop.gnw_adam",
     {"seeds": "10"}),
]


def job_of(state):
    return state["job"] if isinstance(state, dict) else state


@pytest.mark.parametrize("page,start_key,run_key,stop_key,query", REATTACH_PAGES)
def test_a_reload_re_attaches_the_other_pages_runs(no_jobs, monkeypatch, page, start_key,
                                                  run_key, stop_key, query):
    monkeypatch.delenv("MNIST1D_LAB_STORAGE", raising=False)
    def as_session(session, browser):
        monkeypatch.setattr(ui.session, "session_id", lambda: session)
        monkeypatch.setattr(ui.session, "browser_key", lambda: browser)

    as_session("session-1", "browser-A")
    first = app(page, query)
    first.button(key=start_key).click().run()
    assert not first.exception and not first.error, texts(first.error)
    job = job_of(first.session_state[run_key])
    run_until(first, lambda a: job.count() >= 1, "a first epoch")
    settings = {**{k: v[-1] if isinstance(v, list) else v for k, v in first.query_params.items()},
                "run": job.handle}

    as_session("session-2", "browser-A")
    reloaded = app(page, settings)
    run = reloaded.session_state[run_key]
    assert job_of(run) is job and job.owner == "session-2"
    if isinstance(run, dict):
        assert set(run) >= set(first.session_state[run_key]), "the panel gets the record it drew"
    assert not reloaded.button(key=stop_key).disabled, "the starter keeps its controls"
    assert not reloaded.exception

    as_session("session-3", "browser-B")
    other = app(page, settings)
    assert job_of(other.session_state[run_key]) is job
    assert other.button(key=stop_key).disabled
    assert any("watching a run started in another browser" in t for t in texts(other.caption))
    assert not job.done() and job.owner == "session-2", "watching changes nothing"

    as_session("session-2", "browser-A")
    reloaded.button(key=stop_key).click().run()
    assert job.wait(60) and job.status == "stopped"


def _handle_round_trip():
    import streamlit as st
    from ui.session import put_handle_in_url, take_handle_from_url
    take_handle_from_url("train")           # what app.py does around every page run
    st.text(st.session_state.get("_run_handle.train") or "none")
    put_handle_in_url("train")


def test_the_url_gets_each_new_runs_handle_and_never_brings_back_the_old_one(no_jobs):
    # Issue 19: after a Start (its callback stores the new handle) the browser still sends the
    # URL naming the previous run; that handle must not replace the new one.
    jobs = [runner.submit(lambda: iter(()), owner=f"other-{i}", page="train") for i in range(3)]
    at = AppTest.from_function(_handle_round_trip)
    at.query_params["run"] = jobs[0].handle
    at.run()
    assert at.text[0].value == jobs[0].handle, "a link's run is taken"
    for job in jobs[1:]:
        at.session_state["_run_handle.train"] = job.handle   # what a Start's start_job does
        at.run()
        assert at.text[0].value == job.handle
        assert at.query_params["run"] in (job.handle, [job.handle])
    reloaded = AppTest.from_function(_handle_round_trip)
    reloaded.query_params["run"] = jobs[0].handle
    reloaded.run()
    assert reloaded.text[0].value == jobs[0].handle, "a new session takes the URL's run"

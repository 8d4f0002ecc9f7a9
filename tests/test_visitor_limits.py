"""Issue 20 in the app (AppTest): one visitor's tabs share MAX_JOBS_PER_VISITOR, and a job that
would outlast MAX_JOB_SECONDS at the server's pace is refused before it starts, with the
command that runs it locally."""

import pytest

from apptest_support import run_until
from test_app_pages import app, texts
from test_pace import FakePace
from core.training import runner
import ui.session

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def no_jobs(monkeypatch):
    for job in runner.RUNNER.jobs():
        job.stop()
        job.wait(30)
    monkeypatch.setattr(runner.RUNNER, "max_per_visitor", 1)
    monkeypatch.setattr(ui.session, "pace_here", lambda: FakePace())
    yield
    for job in runner.RUNNER.jobs():
        job.stop()
        job.wait(30)


def as_tab(monkeypatch, session: str, browser: str) -> None:
    # AppTest gives every instance the same session id and no cookie: a tab is set here
    monkeypatch.setattr(ui.session, "session_id", lambda: session)
    monkeypatch.setattr(ui.session, "browser_key", lambda: browser)


def start(at, epochs=2000):
    at.text_input(key="train.hidden").set_value("16")
    at.number_input(key="train.batch_size").set_value(500)
    at.number_input(key="train.epochs").set_value(epochs)
    at.run()
    at.button(key="train.start").click().run()
    assert not at.exception


def test_a_second_tab_of_the_same_browser_is_refused_and_another_browser_is_not(no_jobs,
                                                                                 monkeypatch):
    as_tab(monkeypatch, "tab-1", "browser-A")
    first = app("train")
    start(first)
    job = first.session_state["train.job"]["job"]   # the page's run record (ui.live)
    assert job.visitor == ("browser:browser-A",)
    assert job.estimated_s == pytest.approx(2000 * 8 / 1000), "the fake pace's estimate"
    run_until(first, lambda a: job.count() >= 1, "a first epoch")

    as_tab(monkeypatch, "tab-2", "browser-A")
    second = app("train")
    start(second)
    assert any("in this or other tabs" in t for t in texts(second.error)), texts(second.error)
    assert runner.RUNNER.jobs() == [job], "nothing was queued"

    as_tab(monkeypatch, "tab-3", "browser-B")
    other = app("train")
    start(other)
    assert not other.error, texts(other.error)
    assert len(runner.RUNNER.jobs()) == 2


def test_a_run_longer_than_the_limit_at_the_servers_pace_is_refused_up_front(no_jobs,
                                                                             monkeypatch):
    as_tab(monkeypatch, "tab-1", "browser-A")
    at = app("train", {"batch_size": "1", "epochs": "10000", "hidden": "1"})
    handles = set(runner.RUNNER._handles)
    at.button(key="train.start").click().run()
    refusals = [t for t in texts(at.error) if t.startswith("Not started")]
    assert len(refusals) == 1 and "present pace" in refusals[0], texts(at.error)
    assert "python -m core train --method" in refusals[0] and "--batch-size 1 " in refusals[0]
    assert set(runner.RUNNER._handles) == handles and runner.RUNNER.jobs() == []

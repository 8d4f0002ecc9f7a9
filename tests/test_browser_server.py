"""The public server in a real browser: a reload during a run re-attaches to it (the run handle
in the URL; curves and Stop come back for the browser that started it; another browser with the
link only watches; the sidebar's counts follow the run), and a full queue turns a Start away at
once with "server busy" instead of queueing it behind everyone."""

import re

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, page,  # noqa: F401
                             streamlit_server, text_of, wait_idle, widget)
from test_browser import CHART, LONG_RUN, alerts, line_points, start, stop, wait_for

pytestmark = pytest.mark.timeout(240)


def sidebar(p) -> str:
    return text_of(p, '[data-testid="stSidebar"]')


def stop_enabled(p) -> bool:
    return widget(p, "train.stop").locator("button").is_enabled()


def test_reload_re_attaches_and_another_browser_only_watches(browser, app_server):
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    try:
        a = a_ctx.new_page()
        goto(a, app_server, "train", LONG_RUN)
        assert "Your active jobs: 0" in sidebar(a)
        start(a)
        # (a first run on a fresh server measures its pace first: slow on a loaded machine)
        handle = wait_for(a, lambda: (m := re.search(r"[?&]run=([\w-]+)", a.url)) and m[1],
                          "the run handle in the URL", limit_s=150)
        assert "epochs=3000" in a.url, "the settings stay in the URL beside the handle"
        wait_for(a, lambda: "Your active jobs: 1" in sidebar(a), "the sidebar to count the run")
        before = wait_for(a, lambda: line_points(a) >= 3 and line_points(a), "a few epochs")

        a.reload()
        wait_idle(a)
        assert "Your active jobs: 1" in sidebar(a), "right after the reload"
        wait_for(a, lambda: line_points(a) > before, "the curves to come back and grow")
        assert stop_enabled(a), "the browser that started the run keeps Stop"
        assert f"run={handle}" in a.url

        b = b_ctx.new_page()
        goto(b, app_server, "train", f"{LONG_RUN}&run={handle}")
        wait_for(b, lambda: line_points(b) > 0, "the watcher to see the curves")
        assert "watching a run started in another browser" in text_of(b, "body")
        assert not stop_enabled(b)
        assert "Your active jobs: 0" in sidebar(b)

        stop(a)
        wait_for(a, lambda: "Stopped after" in alerts(a), "the stopped state")
        wait_for(b, lambda: "Stopped after" in alerts(b), "the watcher to see it stopped")
        assert a.locator(EXCEPTION).count() == 0 and b.locator(EXCEPTION).count() == 0
        a.screenshot(path="/tmp/reattach_a.png", full_page=True)
        b.screenshot(path="/tmp/reattach_b.png", full_page=True)
    finally:
        a_ctx.close()
        b_ctx.close()


def test_a_link_to_a_run_the_server_lost_says_so(page, app_server):
    goto(page, app_server, "train", "run=from-before-a-restart")
    wait_for(page, lambda: "no longer on the server" in alerts(page), "the lost-run notice")
    assert "run=" not in page.url and page.locator(CHART).count() == 0


def test_a_full_queue_refuses_a_start_at_once_and_says_the_server_is_busy(browser):
    """One slot and a queue of one (a scaled-down server): the first session runs, the second
    waits at position 1, the third is told the server is busy and nothing of it is queued."""
    with streamlit_server(env={"MAX_CONCURRENT_JOBS": "1", "MAX_QUEUED_JOBS": "1"}) as url:
        contexts = [browser.new_context() for _ in range(3)]
        try:
            pages = [c.new_page() for c in contexts]
            for p in pages:
                goto(p, url, "train", LONG_RUN)
            start(pages[0])
            wait_for(pages[0], lambda: line_points(pages[0]) > 0, "the first run")
            start(pages[1])
            wait_for(pages[1], lambda: "position 1 in the queue" in alerts(pages[1]),
                     "the second session to wait first in line")
            start(pages[2])
            wait_for(pages[2], lambda: "server is busy" in alerts(pages[2]),
                     "the third session to be turned away")
            # The sidebar may settle a moment after the refusal is drawn (a loaded machine).
            wait_for(pages[2], lambda: "1 of 1 training slots busy, 1 queued" in sidebar(pages[2]),
                     "the sidebar to count the running and the queued job")
            assert "Your active jobs: 0" in sidebar(pages[2])
            stop(pages[0])
            wait_for(pages[1], lambda: line_points(pages[1]) > 0, "the queued run to start")
            stop(pages[1])
            wait_for(pages[1], lambda: "Stopped after" in alerts(pages[1]), "it to stop")
        finally:
            for c in contexts:
                c.close()

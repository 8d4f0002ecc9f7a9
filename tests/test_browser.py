"""The app in a real browser (Debian's chromium via Playwright) against ``streamlit run``."""

import re
import time

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, page, text_of,  # noqa: F401
                             wait_idle, widget)

pytestmark = pytest.mark.timeout(240)
# Default model and batch: ~40 ms an epoch, so the few seconds a test watches stay far below the
# 300 points where charts start thinning (thinning would make the drawn point count drop).
LONG_RUN = "epochs=3000"
CHART = '[data-testid="stVegaLiteChart"]'


def line_points(p) -> int:
    """Points drawn on the first line of the first chart (the loss curve), read off the SVG."""
    paths = p.locator(f"{CHART} >> nth=0 >> g.mark-line path")
    if paths.count() == 0:
        return 0
    d = paths.first.get_attribute("d") or ""
    return d.count("L") + 1 if d else 0


def wait_for(p, condition, what: str, limit_s: float = 60, every_s: float = 0.25):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        p.wait_for_timeout(every_s * 1000)
    pytest.fail(f"gave up waiting for {what}")


def alerts(p) -> str:
    return text_of(p, '[data-testid="stAlert"]')


def start(p) -> None:
    widget(p, "train.start").locator("button").click()


def stop(p) -> None:
    widget(p, "train.stop").locator("button").click()


def test_every_page_loads_without_an_error(page, app_server):
    for path in ("", "train", "compare", "sensitivity", "search", "reproduce"):
        goto(page, app_server, path)
        page.wait_for_timeout(300)
        assert page.locator(EXCEPTION).count() == 0, f"/{path}: {text_of(page, EXCEPTION)}"
    # Navigation goes through app.py: its menu lists the pages.
    nav = text_of(page, '[data-testid="stSidebarNav"]')
    assert all(name in nav for name in ("Train", "Compare", "Sensitivity", "Search", "Reproduce"))


def test_live_run_gains_points_then_stops(page, app_server):
    goto(page, app_server, "train", LONG_RUN)
    start(page)
    seen = []
    while len(seen) < 4:      # the chart must grow at least three times
        previous = seen[-1] if seen else 0
        seen.append(wait_for(page, lambda: (n := line_points(page)) > previous and n,
                             "the loss curve to gain points"))
    assert seen == sorted(seen) and len(set(seen)) == 4
    stop(page)
    wait_for(page, lambda: "Stopped after" in alerts(page), "the stopped state")
    # The finished chart is drawn anew once the run has stopped: wait for its SVG.
    stopped_at = wait_for(page, lambda: line_points(page), "the stopped run's curve")
    assert stopped_at >= seen[-1], "the curve keeps what was trained"
    page.wait_for_timeout(1500)
    assert line_points(page) == stopped_at, "nothing trains after Stop"
    assert page.locator(EXCEPTION).count() == 0


def test_changing_a_widget_during_a_run_does_not_stop_it(page, app_server):
    goto(page, app_server, "train", LONG_RUN)
    start(page)
    before = wait_for(page, lambda: line_points(page) >= 2 and line_points(page),
                      "the run to start")
    seed = widget(page, "train.seed").locator("input")
    seed.fill("5")
    seed.press("Enter")
    wait_idle(page)
    wait_for(page, lambda: re.search(r"seed=5", page.url), "the URL to follow the widgets")
    wait_for(page, lambda: line_points(page) > before + 2, "the run to go on after the change")
    assert "Running" in text_of(page, '[data-testid="stProgress"]')
    stop(page)
    wait_for(page, lambda: "Stopped after" in alerts(page), "the stopped state")


def test_two_sessions_are_isolated(browser, app_server):
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    try:
        a, b = a_ctx.new_page(), b_ctx.new_page()
        goto(a, app_server, "train", LONG_RUN)
        goto(b, app_server, "train", "epochs=3000&hidden=50&seed=3")
        start(a)
        wait_for(a, lambda: line_points(a) >= 2, "session A's run")
        b.wait_for_timeout(1000)
        assert b.locator(CHART).count() == 0, "session B sees no run of A"
        assert "Your active jobs: 0" in text_of(b, '[data-testid="stSidebar"]')
        start(b)
        wait_for(b, lambda: line_points(b) >= 2, "session B's run")
        stop(a)
        wait_for(a, lambda: "Stopped after" in alerts(a), "A stopped")
        grown = line_points(b)
        wait_for(b, lambda: line_points(b) > grown, "B to keep running after A stopped")
        assert "Stopped" not in alerts(b)
        stop(b)
        wait_for(b, lambda: "Stopped after" in alerts(b), "B stopped")
    finally:
        a_ctx.close()
        b_ctx.close()


def test_search_shows_trials_as_they_finish(page, app_server):
    goto(page, app_server, "search")
    for key, value in (("search.trials", "6"), ("search.epochs", "15"), ("search.parallel", "1")):
        box = widget(page, key).locator("input")
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    # With "parallel" lost, all 6 trials train as one population and finish together, so
    # "partway" below could never be seen: check the page kept every change first.
    wait_for(page, lambda: all(re.search(rf"[?&]{name}={value}(&|$)", page.url) for name, value
                               in (("trials", "6"), ("epochs", "15"), ("parallel", "1"))),
             "the URL to hold all three changes", limit_s=15)
    widget(page, "search.start").locator("button").click()

    def finished_so_far() -> int:
        # "batch 3/6: epoch 2/15, 1 trial training, 2 done" (a single search reports each epoch)
        found = re.search(r"(\d+) done", text_of(page, '[data-testid="stProgress"]'))
        return int(found.group(1)) if found else 0

    partway = wait_for(page, lambda: 0 < (n := finished_so_far()) < 6 and n, "a first trial",
                      limit_s=180)   # a busy 2-core machine can take over a minute
    wait_for(page, lambda: page.locator('[data-testid="stDataFrame"]').count() >= 1,
             "the trials table")
    wait_for(page, lambda: "Search finished: 6 trial(s)" in text_of(page, "body"),
             "the search to finish", limit_s=120)
    assert partway < 6
    # The finished search is drawn once more, as a whole page: wait for its charts.
    wait_for(page, lambda: page.locator(CHART).count() >= 2, "the finished search's charts")
    assert page.locator(EXCEPTION).count() == 0


def test_a_shared_compare_link_fills_the_page_and_runs(page, app_server):
    # A link someone copied: two methods with their own lr, 2 seeds, a tiny model.
    goto(page, app_server, "compare",
         "methods=adam,wngd&adam.lr=0.003&wngd.lr=0.2&seeds=2&epochs=2&hidden=20")
    assert page.locator(EXCEPTION).count() == 0
    assert "ignored" not in alerts(page), alerts(page)   # nothing in the link was ignored
    # (the number box can show a transient value while the page settles: wait for the link's)
    wait_for(page, lambda: widget(page, "compare.epochs").locator("input").input_value() == "2",
             "the link's epochs in the widget", limit_s=10)
    widget(page, "compare.start").locator("button").click()
    wait_for(page, lambda: "Finished: 2 entries x 2 seeds" in alerts(page), "the comparison")
    # The page keeps the link current, in the scheme that allows repeats: one entry each.
    assert re.search(r"e1=adam(%3A|:)lr(%3D|=)0\.003", page.url), page.url
    assert re.search(r"e2=wngd(%3A|:)lr(%3D|=)0\.2", page.url), page.url
    assert page.locator(EXCEPTION).count() == 0


@pytest.mark.timeout(400)
def test_compare_with_six_entries_stays_readable_at_1280(page, app_server):
    # Issue 11: with 6 entries each plot keeps >= 200 px of height (legends live outside the
    # charts) and every entry's verdict sits inside the 1280 px viewport (a plain table, no
    # sideways scrolling), measured by bounding boxes.
    page.set_viewport_size({"width": 1280, "height": 900})
    entries = "&".join(f"e{i + 1}=adam:lr={0.001 * (i + 1):g}" for i in range(6))
    goto(page, app_server, "compare", entries + "&seeds=2&epochs=2&hidden=16&batch_size=500")
    widget(page, "compare.start").locator("button").click()
    wait_for(page, lambda: "Finished: 6 entries x 2 seeds" in alerts(page), "the comparison",
             limit_s=300)
    wait_for(page, lambda: page.locator(CHART).count() == 3, "forest plot, loss, accuracy")
    for i in range(3):
        chart = page.locator(CHART).nth(i)
        chart.scroll_into_view_if_needed()
        # The first background path is the plot area of the chart's top view.
        plot = chart.locator("svg path.background").first.bounding_box()
        assert plot["height"] >= 200, (i, plot)
    table = page.locator('[data-testid="stTable"]').first
    table.scroll_into_view_if_needed()
    rows = table.locator("tbody tr")
    assert rows.count() == 6
    for k in range(6):
        verdict = rows.nth(k).locator("td").first     # the column right after the entry's name
        box = verdict.bounding_box()
        text = verdict.inner_text()
        assert text == "baseline" or text in ("better", "worse") or \
            text.startswith(("not detected", "equivalent")), text
        assert 0 <= box["x"] and box["x"] + box["width"] <= 1280, (k, box)
        assert 0 <= box["y"] and box["y"] + box["height"] <= 900, (k, box)
    assert page.locator(EXCEPTION).count() == 0

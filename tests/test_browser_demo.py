"""The demo features in a real browser at 1280 and 400 px: a finished search's parallel
coordinates and contours drawn with marks in them. Screenshots go to $SCREENSHOT_DIR (default
/tmp/mnist1d-lab-shots), to be looked at."""

import pytest

from browser_support import EXCEPTION, app_server, browser, goto, text_of, widget  # noqa: F401
from test_browser_layout import CHART, OVERFLOW_JS, settle, shot, wait_alert  # noqa: F401

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(params=[1280, 400])
def sized(browser, request):
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    yield context.new_page(), request.param
    context.close()


def chart_titled(p, title: str):
    return p.locator(CHART).filter(has_text=title)


def test_a_finished_search_draws_parallel_coordinates_and_contours(sized, app_server):
    p, width = sized
    goto(p, app_server, "search", "method=meta_curvature&trials=6&epochs=2&parallel=6")
    widget(p, "search.start").locator("button").click()
    wait_alert(p, "best trial #", 300)
    settle(p, 2500)
    p.locator(CHART).last.scroll_into_view_if_needed()
    settle(p, 1500)
    shot(p, f"search-knob-views-{width}")
    assert p.locator(EXCEPTION).count() == 0
    parallel = chart_titled(p, "Parallel coordinates")
    assert parallel.count() == 1
    # one line per completed trial (at least one of the six completed)
    assert parallel.locator("svg g.mark-line path").count() >= 1
    contours = chart_titled(p, "Contour: ")
    assert contours.count() == 3
    for i in range(3):
        c = contours.nth(i)
        assert c.locator("svg g.mark-symbol path").count() >= 1, i   # the trials
        box = c.locator("svg path.background").first.bounding_box()
        assert box and box["width"] >= 150 and box["height"] >= 200, (i, box)
    overflow = p.evaluate(OVERFLOW_JS)
    assert overflow["main"] <= overflow["inner"] + 1, overflow


def line_points(p) -> int:
    """Points on the first line of the first chart (the loss curve), read off the SVG."""
    paths = p.locator(f"{CHART} >> nth=0 >> g.mark-line path")
    d = (paths.first.get_attribute("d") or "") if paths.count() else ""
    return d.count("L") + 1 if d else 0


def wait_for(p, condition, what: str, limit_s: float = 60):
    for _ in range(int(limit_s * 4)):
        value = condition()
        if value:
            return value
        p.wait_for_timeout(250)
    pytest.fail(f"gave up waiting for {what}")


def progress(p) -> str:
    return text_of(p, '[data-testid="stProgress"]')


def press(p, key: str, keys: list[str]) -> None:
    """Move a slider with the keyboard, as a visitor without a mouse would."""
    thumb = widget(p, key).locator('input[type="range"]')   # react-aria's slider
    thumb.focus()
    for k in keys:
        thumb.press(k)
    settle(p, 300)


def test_train_demo_controls_stream_pause_and_move_the_lr(sized, app_server):
    p, width = sized
    goto(p, app_server, "train", "method=adam&lr=0.01&epochs=8")
    p.get_by_text("Demo controls").click()
    # The lr slider: one step right of 0.01 is 0.02, and the lr box follows.
    press(p, "train.demo.lr", ["ArrowRight"])
    box = widget(p, "train.hp.adam.lr").locator("input")
    wait_for(p, lambda: float(box.input_value()) == 0.02, "the lr box to follow")
    # A demo pace of 1 s an epoch (4 steps of 0.25 s): an 8-epoch run that takes a fraction
    # of a second now streams.
    press(p, "train.demo.pace", ["ArrowRight"] * 4)
    widget(p, "train.start").locator("button").click()
    wait_for(p, lambda: "demo pace of 1 s per epoch" in progress(p), "the paced run")
    seen = [wait_for(p, lambda: line_points(p), "the first points")]
    seen.append(wait_for(p, lambda: (n := line_points(p)) > seen[-1] and n, "more points"))
    widget(p, "train.pause").get_by_role("button", name="Pause").click()
    wait_for(p, lambda: progress(p).startswith("Paused"), "the pause")
    settle(p, 1000)
    held = line_points(p)
    shot(p, f"train-demo-paused-{width}")
    p.wait_for_timeout(2500)   # more than two paced epochs: nothing trains while paused
    assert line_points(p) == held and progress(p).startswith("Paused")
    resume = widget(p, "train.pause").get_by_role("button", name="Resume")
    assert resume.count() == 1
    overflow = p.evaluate(OVERFLOW_JS)
    assert overflow["main"] <= overflow["inner"] + 1, overflow
    resume.click()
    wait_alert(p, "Finished 8 epochs", 60)
    assert "lr=0.02" in text_of(p, '[data-testid="stCaptionContainer"]')
    assert p.locator(EXCEPTION).count() == 0


def sidebar(p) -> str:
    return text_of(p, '[data-testid="stSidebarUserContent"]')


@pytest.mark.timeout(240)
def test_an_idle_pages_sidebar_counts_follow_other_visitors_runs(browser, app_server):
    """A page drawn while the server was idle learns of another browser's run, and of its
    end, without any action of its own (its sidebar polls slowly while idle)."""
    idle_ctx, busy_ctx = browser.new_context(), browser.new_context()
    try:
        idle, busy = idle_ctx.new_page(), busy_ctx.new_page()
        goto(idle, app_server, "home")
        assert "0 of" in sidebar(idle) and "Your active jobs: 0" in sidebar(idle)
        goto(busy, app_server, "train", "epochs=3000")
        widget(busy, "train.start").locator("button").click()
        wait_for(idle, lambda: "1 of" in sidebar(idle), "the idle page to see the run", 40)
        assert "Your active jobs: 0" in sidebar(idle)   # someone else's
        widget(busy, "train.stop").locator("button").click()
        wait_for(idle, lambda: "0 of" in sidebar(idle), "the idle page to see it end", 40)
    finally:
        idle_ctx.close()
        busy_ctx.close()

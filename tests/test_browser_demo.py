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

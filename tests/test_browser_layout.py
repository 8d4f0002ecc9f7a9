"""Layout in a real browser, at 1280 and 400 px: no page scrolls sideways, Compare with 8
entries keeps its method names whole and Start within reach, and the charts a run draws get
the room they need. Screenshots go to $SCREENSHOT_DIR (default /tmp/mnist1d-lab-shots), to be
looked at."""

import os
from pathlib import Path

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, page, text_of,  # noqa: F401
                             wait_idle, widget)

pytestmark = pytest.mark.timeout(300)
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/mnist1d-lab-shots"))
CHART = '[data-testid="stVegaLiteChart"]'
EIGHT = "&".join(f"e{i + 1}={m}" for i, m in enumerate(
    ["adam", "weight_trajectory", "wngd", "meta_curvature", "hessian_lr", "gnw_adam", "sgd",
     "adamw"]))
PAGES = [("", ""), ("train", ""), ("compare", EIGHT), ("sensitivity", ""), ("search", ""),
         ("reproduce", "")]

# Widest element inside the app's scrolling area, and the area's width: the page scrolls
# sideways when the first exceeds the second (document.scrollWidth alone misses it, because
# Streamlit scrolls its main block, not the document).
OVERFLOW_JS = """() => {
  const doc = document.scrollingElement;
  const main = document.querySelector('[data-testid="stMain"]') || doc;
  const wide = [...main.querySelectorAll('*')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
      .filter(e => !e.closest('[data-testid="stDataFrame"], .katex-display, [data-testid="stTable"]')
                   || e.matches('[data-testid="stDataFrame"], .katex-display, [data-testid="stTable"]'))
      .map(e => (e.getAttribute('data-testid') || e.tagName) + ' ' + Math.round(e.getBoundingClientRect().right));
  return {doc: doc.scrollWidth, main: main.scrollWidth, inner: window.innerWidth,
          wide: wide.slice(0, 8)};
}"""


def settle(p, ms: int = 1500) -> None:
    wait_idle(p)
    p.wait_for_timeout(ms)   # charts render after the script ends


@pytest.fixture
def wide(browser):
    """A page 1280 x 900 px in its own browser context (its own Streamlit session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def wait_alert(p, text: str, limit_s: float = 120) -> str:
    """The page's alerts once one of them holds ``text`` (fails after ``limit_s``)."""
    for _ in range(int(limit_s * 4)):
        alerts = text_of(p, '[data-testid="stAlert"]')
        if text in alerts:
            return alerts
        p.wait_for_timeout(250)
    pytest.fail(f"gave up waiting for {text!r}; the alerts say: {alerts}")


def shot(p, name: str) -> None:
    """The whole page: Streamlit scrolls its main block, not the document, so the window is
    made as tall as that block for the picture (at most 8000 px), then put back."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = p.viewport_size
    tall = p.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || "
                      "document.body).scrollHeight")
    p.set_viewport_size({"width": size["width"], "height": min(8000, max(size["height"], tall))})
    p.wait_for_timeout(800)
    p.screenshot(path=str(SHOTS / f"{name}.png"))
    p.set_viewport_size(size)


@pytest.mark.parametrize("width", [400, 1280])
def test_no_page_scrolls_sideways(browser, app_server, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        p = context.new_page()
        problems = {}
        for path, query in PAGES:
            goto(p, app_server, path, query)
            settle(p)
            assert p.locator(EXCEPTION).count() == 0, f"/{path}: {text_of(p, EXCEPTION)}"
            m = p.evaluate(OVERFLOW_JS)
            if max(m["doc"], m["main"]) > m["inner"]:
                problems[path or "home"] = m
            shot(p, f"layout-{path or 'home'}-{width}")
        assert not problems, problems
    finally:
        context.close()


def test_home_says_how_many_seeds_the_record_used(page, app_server):
    goto(page, app_server, "")
    body = text_of(page, "body")
    assert "over None" not in body and "honest seeds" in body


def test_compare_with_eight_entries_shows_whole_names_and_keeps_start_in_view(wide,
                                                                              app_server):
    p = wide
    goto(p, app_server, "compare", EIGHT)
    settle(p)
    # Each select shows its method's whole name: its text fits its box.
    values = """() => [...document.querySelectorAll('[data-testid="stSelectbox"] input')]"""
    cut = p.evaluate(values + ".filter(v => v.scrollWidth > v.clientWidth + 1).map(v => v.value)")
    names = p.evaluate(values + ".map(v => v.value)")
    assert "HessianLRAdaptation (Adam)" in names and not cut, (cut, names)
    # The Start row sticks to the window's bottom, however many entries are above it.
    box = widget(p, "compare.start").locator("button").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 900, box
    shot(p, "compare-8-entries-1280")


def test_train_charts_get_their_width_and_name_their_curves(wide, app_server):
    p = wide
    # A method with diagnostics, two quick epochs.
    goto(p, app_server, "train", "method=weight_trajectory&epochs=2&hidden=16")
    widget(p, "train.start").locator("button").click()
    wait_alert(p, "Finished 2 epochs", 60)
    settle(p, 2500)
    shot(p, "train-run-1280")
    charts = p.locator(CHART)
    assert charts.count() >= 3, "loss, accuracy and at least one diagnostic"
    legend = text_of(p, f"{CHART} >> nth=0")
    assert "train loss" in legend and "validation loss" in legend, legend
    # Loss and accuracy share the results' width; a diagnostic (its legend below it, not
    # beside it, where it left the plot ~100 px) gets more.
    for i in range(charts.count()):
        plot = charts.nth(i).locator("svg path.background").first.bounding_box()
        assert plot and plot["width"] >= (170 if i < 2 else 300), (i, plot)
        # The element grows with its legend, so the plot keeps its height.
        assert plot["height"] >= (230 if i < 2 else 190), (i, plot["height"])


@pytest.mark.timeout(400)
def test_a_duel_in_two_colours_says_the_methods_names(wide, app_server):
    p = wide
    # duel=1 as people type it; a tiny budget.
    goto(p, app_server, "search", "method=wngd&duel=1&trials=3&epochs=2&confirm=2")
    assert "duel" not in text_of(p, '[data-testid="stAlert"]')
    widget(p, "search.start").locator("button").click()
    wait_alert(p, "WNGD vs Adam on best validation loss", 300)
    settle(p, 2500)
    shot(p, "search-duel-1280")
    # Both sides' colours appear in the history chart's marks, and they differ.
    fills = p.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] svg g.mark-symbol path')]
        .map(e => e.getAttribute('fill')).filter(f => f && f !== 'transparent')""")
    assert {"#1f77b4", "#ff7f0e"} <= set(fills), set(fills)


def test_sensitivity_bands_stay_inside_the_metrics_range(wide, app_server):
    p = wide
    # 2 seeds: t intervals are wide, and a loss band would reach below zero unclipped.
    goto(p, app_server, "sensitivity",
         "e1=adam&knob=lr&points=3&low=0.0001&high=1&seeds=2&epochs=2&hidden=16"
         "&batch_size=500")
    widget(p, "sens.start").locator("button").click()
    wait_alert(p, "Finished: 6 runs", 120)
    settle(p, 2500)
    shot(p, "sensitivity-2-seeds-1280")
    ticks = p.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] g.role-axis-label text')].map(t => t.textContent)""")
    values = [float(t.replace("−", "-")) for t in ticks
              if t.replace("−", "-").replace(".", "").lstrip("-").isdigit()]
    assert values and min(values) >= 0, ticks

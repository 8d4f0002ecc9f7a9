"""In a real browser (issue 19): every Start shows its own run on every page, Compare's forest
plot has its marks, and a new baseline re-reads the runs already done."""

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, page, text_of,  # noqa: F401
                             wait_idle, widget)

pytestmark = pytest.mark.timeout(300)
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/mnist1d-lab-shots"))
CHART = '[data-testid="stVegaLiteChart"]'
PROGRESS = '[data-testid="stProgress"]'
MAIN = '[data-testid="stMain"]'
SMALL = "hidden=16&batch_size=500"


def wait_for(p, condition, what: str, limit_s: float = 90, every_ms: int = 250):
    for _ in range(int(limit_s * 1000 / every_ms)):
        value = condition()
        if value:
            return value
        p.wait_for_timeout(every_ms)
    shot(p, "gave-up")
    pytest.fail(f"gave up waiting for {what}; the page says: {text_of(p, MAIN)[:600]}")


def shot(p, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def run_handle(p) -> str | None:
    return parse_qs(urlparse(p.url).query).get("run", [None])[-1]


def button(p, key: str):
    # (a button with help text is drawn twice, one of them hidden)
    return widget(p, key).locator('button[data-testid^="stBaseButton"]:visible')


def enabled(p, key: str) -> bool:
    return button(p, key).count() == 1 and button(p, key).is_enabled()


# (page, query, how to prepare it, Start's key, Stop's key, what a stopped run says).
# Every run is long; each is stopped once the page shows it running.
def tick(key):
    def prepare(p):
        widget(p, key).locator("label").first.click()
        wait_idle(p)
    return prepare


PAGES = {
    "train": ("train", f"epochs=3000&{SMALL}", None, "train.start", "train.stop",
              "Stopped after"),
    "compare": ("compare", f"e1=adam:lr=0.01&e2=sgd:lr=0.1&seeds=2&epochs=2000&{SMALL}", None,
                "compare.start", "compare.stop", "Stopped after"),
    "sensitivity": ("sensitivity", f"seeds=1&points=3&epochs=2000&{SMALL}", None, "sens.start",
                    "sens.stop", "Stopped:"),
    "search": ("search", "trials=30&epochs=100&parallel=1", None, "search.start",
               "search.stop_button", "Search stopped"),
    "search duel": ("search", "trials=30&epochs=100&parallel=1", tick("search.duel"),
                    "search.start", "search.stop_button", "Search stopped"),
    "reproduce": ("reproduce", "seeds=1", None, "repro.full.weight_trajectory",
                  "repro.stop.weight_trajectory", "Stopped. Nothing is judged"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_start_shows_its_own_run_and_stop_stops_it(page, app_server, name):
    path, query, prepare, start_key, stop_key, stopped = PAGES[name]
    goto(page, app_server, path, query)
    if prepare:
        prepare(page)
    handles = []
    for n in range(3):
        wait_for(page, lambda: enabled(page, start_key), f"Start #{n + 1} to be enabled")
        button(page, start_key).click()
        # The new run, not the one before: its handle in the URL, running, with Stop enabled.
        handle = wait_for(page, lambda: (h := run_handle(page)) not in (None, *handles) and h,
                          f"run #{n + 1}'s handle in the URL")
        handles.append(handle)
        wait_for(page, lambda: page.locator(PROGRESS).count() >= 1 and stopped
                 not in text_of(page, MAIN) and enabled(page, stop_key),
                 f"run #{n + 1} to be shown running, with Stop enabled")
        assert not enabled(page, start_key), "one run at a time"
        if n == 1:
            shot(page, f"runs-{name.replace(' ', '-')}-second-start")
        button(page, stop_key).click()
        wait_for(page, lambda: stopped in text_of(page, MAIN)
                 and not enabled(page, stop_key), f"run #{n + 1} to stop")
        wait_idle(page)   # (during a run of the script the URL is being rewritten)
        assert run_handle(page) == handle, "the URL keeps naming the run on screen"
    assert len(set(handles)) == 3
    assert page.locator(EXCEPTION).count() == 0, text_of(page, EXCEPTION)


def forest(p):
    return p.locator(CHART).first


def verdicts(p) -> dict[str, str]:
    """The compact table: entry -> verdict."""
    rows = p.locator('[data-testid="stTable"] tbody tr')
    return {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").first.inner_text()
            for i in range(rows.count())}


@pytest.mark.timeout(400)
def test_the_forest_plot_of_eight_entries_draws_a_row_per_entry(page, app_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    entries = "&".join(f"e{i + 1}=adam:lr={0.002 * (i + 1):g}" for i in range(8))
    goto(page, app_server, "compare", f"{entries}&seeds=2&epochs=2&{SMALL}")
    widget(page, "compare.start").locator("button").click()
    wait_for(page, lambda: "Finished: 8 entries x 2 seeds" in text_of(page, MAIN),
             "the comparison", limit_s=300)
    wait_for(page, lambda: page.locator(CHART).count() == 3, "forest plot, loss, accuracy")
    plot = forest(page)
    plot.scroll_into_view_if_needed()
    # 7 entries against the baseline: a point and an interval each, and the dashed zero line.
    # (Vega's SVG: g.role-mark groups hold the data's marks; axes and legend have their own.)
    wait_for(page, lambda: plot.locator("g.mark-symbol.role-mark path").count() == 7, "7 points")
    assert plot.locator("g.mark-rule.role-mark line").count() == 7 + 1
    labels = plot.locator("g.role-axis-label text").all_text_contents()
    assert sorted(label for label in labels if ". Adam" in label) == \
        [f"{i}. Adam lr={0.002 * i:g}" for i in range(2, 9)], labels
    assert plot.locator("svg path.background").first.bounding_box()["height"] >= 7 * 36 - 1
    shot(page, "compare-forest-8-entries")
    assert page.locator(EXCEPTION).count() == 0


def choose(p, key: str, option: str) -> None:
    widget(p, key).get_by_role("combobox").click()
    p.keyboard.press("ArrowDown")   # opens the list where the click only focused the box
    p.get_by_role("option", name=option).click()
    wait_idle(p)


@pytest.mark.timeout(400)
def test_a_new_baseline_re_reads_the_runs_done_also_in_a_fresh_browser(browser, page,
                                                                      app_server):
    # A tuned lr against one that barely moves: 4 seeds separate them whichever is the baseline.
    goto(page, app_server, "compare", f"e1=adam:lr=0.01&e2=adam:lr=1e-05&seeds=4&epochs=3&{SMALL}")
    widget(page, "compare.start").locator("button").click()
    wait_for(page, lambda: "Finished: 2 entries x 4 seeds" in text_of(page, MAIN),
             "the comparison", limit_s=300)
    first = wait_for(page, lambda: len(v := verdicts(page)) == 2 and v, "the verdicts")
    assert list(first.values()) == ["baseline", "worse"], first
    assert "Against the baseline, 1. Adam" in text_of(page, MAIN)
    # the URL lacks run= for a moment while each rerun runs: wait for it rather than read once
    handle = wait_for(page, lambda: run_handle(page), "the run's handle in the URL")

    choose(page, "compare.baseline", "2. Adam lr=1e-05")
    # Wait for the whole new table: while Streamlit redraws it, the old rows and the new ones
    # can be on the page together for a moment (both read "baseline").
    again = wait_for(page, lambda: list((v := verdicts(page)).values()) == ["better", "baseline"]
                     and v, "the verdicts against the new baseline")
    assert "Against the baseline, 2. Adam" in text_of(page, MAIN)
    url = wait_for(page, lambda: "baseline=2" in page.url and page.url, "the URL's baseline")
    assert run_handle(page) == handle, "the same runs, nothing retrained"
    shot(page, "compare-baseline-changed")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        fresh = context.new_page()
        fresh.goto(url)
        wait_idle(fresh)
        wait_for(fresh, lambda: verdicts(fresh) == again, "the link's verdicts elsewhere")
        assert "Against the baseline, 2. Adam" in text_of(fresh, MAIN)
        assert re.search(r"watching a run started in another browser", text_of(fresh, "body"))
    finally:
        context.close()
    assert page.locator(EXCEPTION).count() == 0

"""The Benchmark page in a real browser: the committed record drawn at once at 1280 and 400 px
without sideways scrolling, and a Start whose grid fills in to the end. Screenshots go to
$SCREENSHOT_DIR (default /tmp/mnist1d-lab-shots), to be looked at."""

from contextlib import contextmanager

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, text_of,  # noqa: F401
                             widget)
from core.benchmark import BenchmarkRecord
from core.models import MODELS
from core.optim.registry import BASELINE, METHODS
from test_benchmark_page import RECORD
from test_browser_layout import OVERFLOW_JS, settle, shot
from test_browser_runs import wait_for

pytestmark = pytest.mark.timeout(400)
CHART = '[data-testid="stVegaLiteChart"]'
MAIN = '[data-testid="stMain"]'
# The grid's cells: rect marks of the first chart (the heatmap).
GRID_FILLS_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .slice(0, 1).flatMap(c => [...c.querySelectorAll('g.mark-rect path')])
    .map(e => e.getAttribute('fill'))"""


@contextmanager
def page_at(browser, width: int):
    """A page ``width`` px wide in its own browser context (its own Streamlit session)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def two_methods(models: list[str], trials: int, epochs: int) -> str:
    """The link of a benchmark of the baseline and another method, 2 seeds, large batches."""
    other = next(k for k in METHODS if k != BASELINE)
    return (f"methods={BASELINE},{other}&models={','.join(models)}&trials={trials}&seeds=2"
            f"&epochs={epochs}&batch_size=500")


@pytest.mark.parametrize("width", [1280, 400])
def test_the_committed_record_is_drawn_at_once_without_sideways_scrolling(browser, app_server,
                                                                          width):
    record = BenchmarkRecord.from_json(RECORD.read_text())
    with page_at(browser, width) as p:
        goto(p, app_server, "benchmark")
        settle(p, 2500)
        assert p.locator(EXCEPTION).count() == 0, text_of(p, EXCEPTION)
        body = text_of(p, MAIN)
        assert "The committed record" in body and "results/benchmark.json" in body
        for w in record.config.workloads:
            assert w.label in body
        # the heatmap has a cell per (method, workload), the profile its lines
        fills = p.evaluate(GRID_FILLS_JS)
        assert len(fills) == len(record.config.methods) * len(record.config.workloads), fills
        assert p.locator(CHART).count() >= 2
        m = p.evaluate(OVERFLOW_JS)
        shot(p, f"benchmark-record-{width}")
        assert max(m["doc"], m["main"]) <= m["inner"], m


@pytest.mark.parametrize("width", [1280, 400])
def test_the_most_methods_and_workloads_a_page_allows_fit_without_sideways_scrolling(
        browser, app_server, width):
    most = f"methods={','.join(list(METHODS)[:8])}&models={','.join(MODELS)}"
    with page_at(browser, width) as p:
        goto(p, app_server, "benchmark", most)
        settle(p, 1500)
        assert p.locator(EXCEPTION).count() == 0, text_of(p, EXCEPTION)
        assert "link" not in text_of(p, '[data-testid="stAlert"]').lower()   # nothing ignored
        assert f"{8 * len(MODELS)} cell(s)" in text_of(p, MAIN)
        m = p.evaluate(OVERFLOW_JS)
        shot(p, f"benchmark-most-{width}")
        assert max(m["doc"], m["main"]) <= m["inner"], m


def test_start_fills_the_grid_cell_by_cell(browser, app_server):
    query = two_methods(list(MODELS)[:2], trials=2, epochs=2)
    with page_at(browser, 1280) as p:
        goto(p, app_server, "benchmark", query)
        widget(p, "bench.start").locator("button").click()
        wait_for(p, lambda: p.locator('[data-testid="stProgress"]').count() >= 1
                 or "Finished" in text_of(p, MAIN), "the run to show", limit_s=240)
        shot(p, "benchmark-running-1280")   # (to look at: the grid filling in)
        wait_for(p, lambda: "Finished: 4 cells" in text_of(p, '[data-testid="stAlert"]'),
                 "the benchmark to finish", limit_s=240)
        settle(p, 2500)
        shot(p, "benchmark-run-1280")
        assert p.locator(EXCEPTION).count() == 0, text_of(p, EXCEPTION)
        assert "The committed record" not in text_of(p, MAIN)
        fills = p.evaluate(GRID_FILLS_JS)
        # every cell judged: none left waiting (light grey) or running (amber)
        assert len(fills) == 4 and not {"#eeeeee", "#ffcc80"} & set(fills), fills
        assert "run=" in p.url   # a reload re-attaches to it
        p.reload()
        settle(p, 2500)
        assert "Finished: 4 cells" in text_of(p, '[data-testid="stAlert"]')


def test_a_judged_cell_of_the_grid_opens_its_configurations_on_compare(browser, app_server):
    record = BenchmarkRecord.from_json(RECORD.read_text())
    with page_at(browser, 1280) as p:
        goto(p, app_server, "benchmark")
        settle(p, 2500)
        # the first cell of a method other than the baseline that has a configuration (the
        # grid's marks come in the order of the config's cells)
        base = record.config.entry("baseline").key
        index = next(i for i, (m, w) in enumerate(record.config.cells())
                     if m.key != base and record.cell(m.key, w.key).best_params)
        cell = p.locator(CHART).first.locator("g.mark-rect path").nth(index)
        cell.scroll_into_view_if_needed()
        p.wait_for_timeout(500)
        box = cell.bounding_box()
        p.mouse.click(box["x"] + box["width"] / 2, box["y"] + 5)
        wait_for(p, lambda: "/compare?e1=" in p.url, "Compare to open", limit_s=60)
        assert f"seeds={record.config.seeds}" in p.url and "split=honest" in p.url
        settle(p, 1500)
        assert p.locator(EXCEPTION).count() == 0, text_of(p, EXCEPTION)
        assert "Entry 2" in text_of(p, MAIN)


def test_a_reload_re_attaches_to_a_running_benchmark_and_stop_stops_it(browser, app_server):
    from test_browser_runs import button, enabled
    query = two_methods(list(MODELS)[:1], trials=200, epochs=20)
    with page_at(browser, 1280) as p:
        goto(p, app_server, "benchmark", query)
        button(p, "bench.start").click()
        wait_for(p, lambda: "run=" in p.url and enabled(p, "bench.stop"), "the run to start")
        p.reload()
        wait_for(p, lambda: p.locator('[data-testid="stProgress"]').count() >= 1
                 and enabled(p, "bench.stop"), "the running benchmark back after the reload")
        assert not enabled(p, "bench.start"), "one benchmark at a time"
        button(p, "bench.stop").click()
        wait_for(p, lambda: "Stopped after" in text_of(p, MAIN) and not enabled(p, "bench.stop"),
                 "the benchmark to stop")
        assert p.locator(EXCEPTION).count() == 0, text_of(p, EXCEPTION)

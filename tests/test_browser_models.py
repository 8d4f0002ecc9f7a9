"""In a real browser (issue 21): a visitor picks another workload on Train, its own knob
replaces the MLP's, the URL holds the choice, a run trains it, and a reload keeps it."""

import os
import re
from pathlib import Path

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, text_of,  # noqa: F401
                             wait_idle, widget)
from test_browser_runs import wait_for

pytestmark = pytest.mark.timeout(300)
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/mnist1d-lab-shots"))
ALERT = '[data-testid="stAlert"]'


def choose(p, key: str, option: str) -> None:
    widget(p, key).locator("input").click()
    p.locator('[role="option"]', has_text=option).first.click()
    wait_idle(p)
    wait_for(p, lambda: widget(p, key).locator("input").input_value().startswith(option),
             f"the box to show {option}")


@pytest.mark.parametrize("width", [1280, 400])
def test_a_visitor_trains_the_cnn_and_a_reload_keeps_it(browser, app_server, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        p = context.new_page()
        goto(p, app_server, "train", "epochs=2&batch_size=500")
        wait_idle(p)
        # (every check waits: on a busy machine the first draw, and the redraw after a choice,
        # can still be under way when the script reports idle)
        wait_for(p, lambda: widget(p, "train.hidden").count() == 1,
                 "the MLP's width knob to start with")
        wait_for(p, lambda: re.search(r"[?&]model=mlp(&|$)", p.url), "model=mlp in the URL")
        choose(p, "train.model", "CNN")
        wait_for(p, lambda: widget(p, "train.channels").count() == 1, "the CNN's channels knob")
        wait_for(p, lambda: widget(p, "train.hidden").count() == 0, "the MLP's knob to go")
        wait_for(p, lambda: re.search(r"[?&]model=cnn(&|$)", p.url), "model=cnn in the URL")
        widget(p, "train.start").locator("button").click()
        wait_for(p, lambda: "Finished 2 epochs" in text_of(p, ALERT), "the CNN run to finish",
                 limit_s=120)
        wait_for(p, lambda: p.locator('[data-testid="stVegaLiteChart"]').count() >= 2,
                 "the CNN run's curves", limit_s=120)
        wait_idle(p)
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SHOTS / f"train-cnn-{width}.png"), full_page=True)
        p.reload()
        wait_idle(p)
        wait_for(p, lambda: widget(p, "train.channels").count() == 1, "the CNN after a reload")
        wait_for(p, lambda: widget(p, "train.model").locator("input").input_value()
                 .startswith("CNN"), "the model box to show the CNN")
        assert p.locator(EXCEPTION).count() == 0
    finally:
        context.close()

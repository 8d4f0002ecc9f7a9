"""Issue 19's smaller fixes, tested without a browser: the palette's distances, bands clipped
to the metric's range, link flags, the search table's training rows, the duel verdict in
display names, and widgets that show an out-of-range value as an error."""

import itertools

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.optim.registry import METHODS
from core.search.outcomes import SearchProgress, TrialResult
from ui.charts import PALETTE, band_chart, sensitivity_chart
from ui.params import flag
from ui.search_charts import running_rows

OLD_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f",
               "#ff9da7")   # Tableau 10 less yellow and grey: what issue 19 found too close

# sRGB -> linear RGB -> simulated dichromat (Machado, Oliveira & Fernandes 2009, severity 1)
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


def lab(color: str, simulate=None) -> np.ndarray:
    """CIELAB (D65) of a #rrggbb colour, as seen with an optional simulated deficiency."""
    rgb = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if simulate is not None:
        linear = np.clip(simulate @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest(palette, simulate=None) -> float:
    return min(float(np.linalg.norm(lab(a, simulate) - lab(b, simulate)))
               for a, b in itertools.combinations(palette, 2))


def test_lab_conversion_matches_known_values():
    assert lab("#ffffff") == pytest.approx([100, 0, 0], abs=0.05)
    assert lab("#ff0000") == pytest.approx([53.24, 80.09, 67.20], abs=0.1)


def test_eight_entry_colours_stay_apart_also_for_colour_blind_viewers():
    assert len(set(PALETTE)) == 8
    # CIE76 distances; ~2.3 is a just-noticeable difference. The old palette had red and
    # green at 0.9 for a deuteranope.
    assert closest(PALETTE) >= 25
    assert closest(PALETTE, DEUTERANOPIA) >= 7 > closest(OLD_PALETTE, DEUTERANOPIA)
    assert closest(PALETTE, PROTANOPIA) >= 4 > closest(OLD_PALETTE, PROTANOPIA)
    # Every colour reads on white and on the dark theme's background.
    assert all(40 <= lab(c)[0] <= 76 for c in PALETTE)


def calculates(spec: dict) -> dict:
    found = {}

    def walk(node):
        if isinstance(node, dict):
            for t in node.get("transform", []):
                if "calculate" in t:
                    found[t["as"]] = t["calculate"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    return found


def test_bands_are_clipped_to_the_metric_range_in_the_spec():
    df = pd.DataFrame({"epoch": [1], "series": ["a"], "kind": ["validation"], "mean": [0.5],
                       "low": [-1.0], "high": [5.0], "n": [2], "config": ["c"]})
    exprs = calculates(band_chart(df, title="", y_title="loss", bounds=(0.0, None)).to_dict())
    assert exprs["low"] == "isValid(datum.low) ? max(datum.low, 0.0) : datum.low"
    assert "min(" not in exprs["high"] and "max(datum.high, 0.0)" in exprs["high"]
    sweep = pd.DataFrame({"x": [0.1], "series": ["a"], "mean": [0.5], "low": [-0.2],
                          "high": [1.3], "seeds": [2], "diverged": [0], "best": [True],
                          "y_marker": [0.5], "config": ["c"]})
    exprs = calculates(sensitivity_chart(sweep, knob="lr", y_title="acc", labels=["a"],
                                         log_x=True, bounds=(0.0, 1.0)).to_dict())
    assert exprs["high"] == "isValid(datum.high) ? min(max(datum.high, 0.0), 1.0) : datum.high"
    # Unbounded: no transform at all.
    assert not calculates(band_chart(df, title="", y_title="loss").to_dict())


def test_the_ring_on_the_best_point_is_drawn_last_over_a_halo():
    sweep = pd.DataFrame({"x": [0.1], "series": ["a"], "mean": [0.5], "low": [0.4],
                          "high": [0.6], "seeds": [2], "diverged": [0], "best": [True],
                          "y_marker": [0.5], "config": ["c"]})
    layers = sensitivity_chart(sweep, knob="lr", y_title="loss", labels=["a"],
                               log_x=True).to_dict()["layer"]
    halo, ring = layers[-2]["mark"], layers[-1]["mark"]
    assert halo["color"] == "white" and halo["strokeWidth"] > ring["strokeWidth"]
    assert ring["filled"] is False and ring["size"] == halo["size"]


@pytest.mark.parametrize("text, value", [("1", True), ("true", True), ("Yes", True),
                                         ("on", True), ("0", False), ("false", False),
                                         ("no", False)])
def test_link_flags_take_the_usual_spellings(text, value):
    assert flag(text) is value


def test_a_bad_flag_is_refused_in_words():
    with pytest.raises(ValueError, match="true or false"):
        flag("maybe")


def test_the_search_table_lists_the_training_batch_with_its_best_so_far():
    step = SearchProgress("adam", 1, 1, 3, 8, 2, 0, 3, 9, 24, running=(
        (0, (("lr", 0.01),), 3, 1.25, "RUNNING"),
        (1, (("lr", 0.1),), 2, 2.5, "LEFT"),        # pruned: no longer training
        (2, (("lr", 0.001),), 3, None, "RUNNING")))
    done = TrialResult("adam", 5, {"lr": 0.2}, 1.0, "COMPLETE", (), 0.1)
    rows = running_rows([done, step], {("adam", 5)})
    assert [(r["number"], r["epochs"], r["value"], r["params_lr"]) for r in rows] == \
        [(0, 3, 1.25, 0.01), (2, 3, None, 0.001)]
    assert {r["side"] for r in rows} == {METHODS["adam"].display_name}
    # A trial whose result arrived is not listed twice.
    assert [r["number"] for r in running_rows([step], {("adam", 0)})] == [2]


def test_the_search_reports_each_trials_best_so_far_while_the_batch_trains():
    from core.search.study import SearchConfig, run_search
    config = SearchConfig(method="adam", trials=3, epochs=3, seed=0, hidden=(8,))
    events = list(run_search(config, batch=3, progress=True))
    steps = [e for e in events if isinstance(e, SearchProgress)]
    results = {e.number: e for e in events if isinstance(e, TrialResult)}
    first, last = steps[1], steps[-1]
    assert [r[2] for r in first.running] == [1, 1, 1]     # one epoch each
    for number, params, epochs, best, state in last.running:
        trial = results[number]
        assert dict(params) == trial.params and epochs == len(trial.curve) == 3
        assert best == pytest.approx(min(m.val_loss for m in trial.curve))
        assert best == pytest.approx(trial.value)


def test_the_duel_verdict_names_the_methods():
    from core.search.duel import SideSummary, _summary
    from core.search.study import SearchConfig
    from core.search.duel import ConfirmationRun
    config = SearchConfig(method="wngd", trials=2, epochs=1)
    ci = type("CI", (), {"mean": 1.0, "low": 0.9, "high": 1.1})()
    runs = lambda side, base: [ConfirmationRun(side, s, {}, (), base + 0.01 * s, base)  # noqa
                               for s in (1, 2, 3)]
    m = SideSummary("wngd", {}, 1.0, 2, ci, ci, ())
    b = SideSummary("adam", {}, 1.0, 2, ci, ci, ())
    verdict = _summary(config, [(m, runs("wngd", 1.0)), (b, runs("adam", 1.2))], (1, 2, 3),
                       1).verdict
    assert verdict.startswith("WNGD vs Adam on best validation loss: ")
    broken = SideSummary("adam", {}, None, 0, None, None, ())
    assert "no verdict: Adam had" in _summary(config, [(m, runs("wngd", 1.0)), (broken, [])], (1, 2, 3), 1).verdict


@pytest.mark.timeout(120)
def test_an_out_of_range_knob_is_said_and_starts_nothing():
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.switch_page("pages/train.py")
    at.run()
    method = at.selectbox(key="train.method").value
    at.number_input(key=f"train.hp.{method}.lr").set_value(1e9).run()
    assert at.error and "lr=" in at.error[0].value and "outside [1e-06, 1]" in at.error[0].value
    assert at.button(key="train.start").disabled
    at.number_input(key=f"train.hp.{method}.lr").set_value(0.01).run()
    at.number_input(key="train.epochs").set_value(0).run()
    assert at.error and "epochs" in at.error[0].value and at.button(key="train.start").disabled
    at.number_input(key="train.epochs").set_value(3).run()
    assert not at.error and not at.button(key="train.start").disabled
    at.text_input(key="train.hidden").set_value("").run()
    assert any("linear classifier" in w.value for w in at.warning)


@pytest.mark.timeout(120)
def test_a_search_link_with_duel_1_is_accepted():
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["duel"] = "1"
    at.query_params["method"] = "wngd"
    at.switch_page("pages/search.py")
    at.run()
    assert not [w.value for w in at.warning if "duel" in w.value]
    assert at.checkbox(key="search.duel").value is True


def test_parameter_importance_finds_the_knob_the_value_depends_on():
    from core.search.study import SearchConfig
    from ui.search_charts import importance_frame
    space = SearchConfig(method="weight_trajectory", trials=12).space()
    assert {"lr", "beta"} <= set(space.distributions)
    rng = np.random.default_rng(0)
    trials = []
    for n in range(12):
        lr, beta = 10 ** rng.uniform(-4, -1), 10 ** rng.uniform(-3, 1)
        # The value depends on lr only.
        trials.append(TrialResult("weight_trajectory", n, {"lr": lr, "beta": beta},
                                  1.0 + (np.log10(lr) + 2.5) ** 2, "COMPLETE", (), 0.1))
    df = importance_frame(trials, {"weight_trajectory": space})
    got = dict(zip(df["knob"], df["importance"]))
    assert got["lr"] > 0.8 > got["beta"] and sum(got.values()) == pytest.approx(1.0)
    assert set(df["side"]) == {METHODS["weight_trajectory"].display_name}
    # Too few completed trials: nothing, rather than a number from nothing.
    assert importance_frame(trials[:3], {"weight_trajectory": space}).empty

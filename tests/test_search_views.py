"""A finished search's parallel-coordinate and contour views: the numbers they draw, checked
against positions and planes worked out by hand, and the page drawing them (AppTest)."""

import math

import pytest

from core.search.outcomes import TrialResult
from core.search.study import SearchConfig
from ui.search_charts import (VALUE_AXIS, axis_ends, contour_chart, contour_frame,
                              contour_pairs, knob_values, numeric_knobs, parallel_chart,
                              parallel_frame)

METHOD = "meta_curvature"   # three searched knobs: lr and alpha (log), update_freq (log, int)


@pytest.fixture
def space():
    return SearchConfig(method=METHOD, trials=4).space()


def trial(n, value, state="COMPLETE", **params):
    return TrialResult(METHOD, n, params, value, state, (), 0.1)


def test_parallel_coordinates_place_each_trial_on_its_knobs_ranges(space):
    dists = numeric_knobs(space)
    assert list(dists) == ["lr", "alpha", "update_freq"]
    trials = [trial(0, 2.0, lr=1e-3, alpha=1e-5, update_freq=1),
              trial(1, 1.0, lr=1e-1, alpha=1e-1, update_freq=50),
              trial(2, 1.5, lr=1e-2, alpha=1e-3, update_freq=7),
              trial(3, None, "PRUNED", lr=1e-4, alpha=1.0, update_freq=3),
              TrialResult("adam", 4, {"lr": 1e-3}, 0.5, "COMPLETE", (), 0.1)]
    wide = knob_values(trials, METHOD, space)
    assert list(wide["number"]) == [0, 1, 2]   # completed trials of this side only
    long = parallel_frame(wide, dists)
    at = {(r.number, r.axis): r.position for r in long.itertuples()}
    # lr searched on [1e-4, 1e-1] in log10: 1e-3 is a third of the way, 1e-2 two thirds
    assert at[0, "lr"] == pytest.approx(1 / 3) and at[2, "lr"] == pytest.approx(2 / 3)
    assert at[1, "lr"] == pytest.approx(1.0)
    # alpha on [1e-5, 1] in log10: 1e-3 is at 2/5; update_freq on [1, 50] in log10
    assert at[2, "alpha"] == pytest.approx(2 / 5)
    assert at[2, "update_freq"] == pytest.approx(math.log10(7) / math.log10(50))
    # the value's axis spans the trials' values: 1.0 at the bottom, 2.0 at the top
    assert (at[1, VALUE_AXIS], at[2, VALUE_AXIS], at[0, VALUE_AXIS]) == (0.0, 0.5, 1.0)
    assert list(long.sort_values("order")["axis"].unique()) == [VALUE_AXIS, *dists]
    ends = axis_ends(wide, dists)
    assert set(ends[ends["axis"] == "lr"]["label"]) == {"0.0001", "0.1"}
    assert set(ends[ends["axis"] == VALUE_AXIS]["label"]) == {"1", "2"}
    spec = parallel_chart(long, ends, "P").to_dict()
    assert len(spec["datasets"]) == 2


def test_one_value_gives_a_value_axis_in_the_middle(space):
    wide = knob_values([trial(0, 1.0, lr=1e-3, alpha=1e-2, update_freq=2),
                        trial(1, 1.0, lr=1e-2, alpha=1e-3, update_freq=9)], METHOD, space)
    long = parallel_frame(wide, numeric_knobs(space))
    assert set(long[long["axis"] == VALUE_AXIS]["position"]) == {0.5}


def plane(lr, alpha):
    """A value linear in the knobs' log positions, which linear interpolation reproduces."""
    return 1.0 + 2.0 * (math.log10(lr) + 4) / 3 + 0.5 * (math.log10(alpha) + 5) / 5


def test_contour_interpolates_between_the_trials_and_not_beyond(space):
    dists = numeric_knobs(space)
    corners = [(1e-4, 1e-5), (1e-1, 1e-5), (1e-4, 1.0), (1e-1, 1.0)]
    trials = [trial(n, plane(lr, a), lr=lr, alpha=a, update_freq=1)
              for n, (lr, a) in enumerate(corners)]
    grid = contour_frame(knob_values(trials, METHOD, space), "lr", "alpha", dists, cells=6)
    assert len(grid) == 36   # the corners' hull is the whole range
    for r in grid.itertuples():   # each cell: the plane at its centre (log-midpoints)
        assert r.value == pytest.approx(plane(math.sqrt(r.x_lo * r.x_hi),
                                              math.sqrt(r.y_lo * r.y_hi)))
    assert grid["x_lo"].min() == pytest.approx(1e-4) and grid["x_hi"].max() == pytest.approx(0.1)
    # Three corners: only the cells whose centres lie in their triangle, px + py <= 1 in the
    # axes' 0..1 positions (21 of 36 on a 6x6 grid, the diagonal's 6 on its edge included).
    half = contour_frame(knob_values(trials[:3], METHOD, space), "lr", "alpha", dists, cells=6)
    assert len(half) == 21
    assert all((math.log10(r.x_lo * r.x_hi) / 2 + 4) / 3
               + (math.log10(r.y_lo * r.y_hi) / 2 + 5) / 5 <= 1 + 1e-9 for r in half.itertuples())
    # Trials on one line span no area: no grid, rather than a made-up surface.
    line = [trial(n, 1.0 + n, lr=10.0 ** (-4 + n), alpha=10.0 ** (-5 + n), update_freq=1)
            for n in range(3)]
    assert contour_frame(knob_values(line, METHOD, space), "lr", "alpha", dists).empty
    spec = contour_chart(knob_values(trials, METHOD, space), grid, "lr", "alpha", dists,
                         "C").to_dict()
    assert {layer["mark"]["type"] for layer in spec["layer"]} == {"rect", "point"}


def test_contour_pairs_take_the_most_important_knobs_first():
    assert contour_pairs(["lr", "alpha", "update_freq"], ["update_freq", "lr", "alpha"]) == [
        ("update_freq", "lr"), ("update_freq", "alpha"), ("lr", "alpha")]
    assert contour_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert contour_pairs(["lr"]) == []


@pytest.mark.timeout(240)
def test_a_finished_search_shows_its_parallel_coordinates_and_contours(monkeypatch):
    from streamlit.testing.v1 import AppTest
    from apptest_support import run_until
    monkeypatch.delenv("MNIST1D_LAB_STORAGE", raising=False)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.switch_page("pages/search.py")
    at.run()
    at.selectbox(key="search.method").set_value(METHOD).run()
    for name, value in {"trials": 4, "epochs": 1, "parallel": 4}.items():
        at.number_input(key=f"search.{name}").set_value(value)
    at.run()
    at.button(key="search.start").click().run()
    run_until(at, lambda a: any("Search finished" in c.value for c in a.caption),
              "the search to finish")
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert sum("Parallel coordinates" in s for s in specs) == 1
    contours = [s for s in specs if '"Contour: ' in s]
    assert len(contours) == 3   # three knobs, three pairs
    assert all('"rect"' in s for s in contours)
    assert any("completed trials. Parallel coordinates" in c.value for c in at.caption)

"""The Sensitivity page under AppTest (a tiny sweep, the edge warning, diverged points, the
two-knob heatmap, its link) and its URL helpers."""

import pytest
import torch
from streamlit.testing.v1 import AppTest

import core.training.population as population
from apptest_support import run_until
from core.training.sweep import Axis, SweepConfig
from ui.sweep_params import SWEEP_DEFAULTS, sweep_from_params, sweep_to_params

APP = "../app.py"
pytestmark = pytest.mark.timeout(180)
TINY = {"epochs": "2", "hidden": "16", "batch_size": "500", "seeds": "2", "points": "3"}


def app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page("pages/sensitivity.py")
    return at.run()


def finish(at: AppTest) -> AppTest:
    at.button(key="sens.start").click().run()
    return run_until(at, lambda a: a.success, "the sweep to finish")


def test_a_tiny_sweep_draws_its_curve_marks_the_best_point_and_warns_at_the_edge():
    # lr from 1e-4 to 1e-3 for 2 epochs: the largest lr is the best, on the grid's edge.
    at = finish(app({**TINY, "low": "0.0001", "high": "0.001"}))
    assert "Finished: 6 runs" in at.success[0].value
    assert any("edge of the grid" in w.value and "widen the range" in w.value
               for w in at.warning)
    table = at.dataframe[0].value
    assert len(table) == 3 and table["best"].tolist() == [False, False, True]
    assert at.get("page_link"), "open the best point on Train"
    assert len(at.get("download_button")) == 2


def test_diverged_points_are_shown(monkeypatch):
    original = population.build_model

    def poisoned(config, device, dtype=torch.float32):
        model = original(config, device, dtype)
        if config.lr == 0.1:
            with torch.no_grad():
                next(model.parameters())[0, 0] = float("nan")
        return model

    monkeypatch.setattr(population, "build_model", poisoned)
    at = finish(app({**TINY, "low": "0.001", "high": "0.1"}))
    assert any("2 run(s) diverged" in w.value for w in at.warning)
    table = at.dataframe[0].value
    top = table[table["lr"] == 0.1].iloc[0]
    assert top["diverged"] == 2 and not top["best"] and top["seeds"] == 2
    # The divergence rule: both failed seeds sit at the sweep's worst value, so the point ranks
    # last, not missing.
    assert top["mean"] == pytest.approx(table["mean"].max())
    assert any("ranks last" in w.value for w in at.warning)


def test_two_knobs_draw_a_heatmap():
    at = finish(app({**TINY, "e1": "weight_trajectory", "knob2": "beta", "points2": "3",
                     "seeds": "1"}))
    assert len(at.dataframe[0].value) == 9
    assert not at.exception


def test_bad_settings_start_nothing():
    at = app({"e1": "adam", "knob": "beta"})
    assert at.warning and "beta" in at.warning[0].value
    at = app()
    at.multiselect(key="sens.methods").set_value([]).run()
    assert at.error and at.button(key="sens.start").disabled


def test_the_link_round_trips_and_keeps_the_widgets():
    config = SweepConfig.build(["adam", "wngd"], knob="lr", points=5, span=(1e-3, 1e-1),
                               n_seeds=4, epochs=3, seed=9, split="honest",
                               metric="test_loss_at_best_val")
    params = sweep_to_params(config)
    assert sweep_from_params(params) == (config, [])
    at = app(params)
    assert not at.warning and not at.error
    assert at.multiselect(key="sens.methods").value == ["adam", "wngd"]
    assert at.slider(key="sens.points").value == 5 and at.toggle(key="sens.custom").value
    assert at.selectbox(key="sens.metric").value == "test_loss_at_best_val"
    low = at.query_params["low"]
    assert (low[-1] if isinstance(low, list) else low) == "0.001"


def test_hostile_sweep_links_lose_only_their_bad_parts():
    config, warnings = sweep_from_params({"e1": "nope", "e2": "wngd:lr=0.1", "points": "x",
                                          "metric": "evil", "seeds": "99", "exec": "1",
                                          "low": "0.1"})
    assert [e.method for e in config.entries] == ["wngd"]
    assert config.axis.points == SWEEP_DEFAULTS.axis.points and config.metric == "best_val_loss"
    text = "\n".join(warnings)
    for part in ("e1=nope", "points=x", "metric=evil", "seeds=99", "`exec`", "both ends"):
        assert part in text, part
    # A range outside the knob's valid range loses only the range, said so.
    config, warnings = sweep_from_params({"knob": "lr", "low": "1e-7", "high": "1",
                                          "seeds": "4"})
    assert config.axis == Axis("lr", SWEEP_DEFAULTS.axis.points) and config.n_seeds == 4
    assert len(warnings) == 1 and "valid range" in warnings[0] and "search range" in warnings[0]


@pytest.mark.parametrize("link, kept, dropped", [
    # Adam has no beta: only the second knob goes; the rest of the link applies.
    ({"e1": "adam:lr=0.01", "knob2": "beta", "points2": "4", "seeds": "5"}, None, "knob2=beta"),
    # The first knob the method lacks: it falls back to lr, the seeds still apply.
    ({"e1": "adam:lr=0.01", "knob": "beta", "seeds": "5"}, "lr", "knob=beta"),
    # Two methods, a knob only one has.
    ({"e1": "adam", "e2": "weight_trajectory", "knob": "beta", "seeds": "5"}, "lr", "knob=beta"),
])
def test_a_knob_the_methods_lack_drops_only_that_knob(link, kept, dropped):
    config, warnings = sweep_from_params(link)
    assert config is not None and config.n_seeds == 5
    assert (config.axis2 if kept is None else config.axis.knob) == kept
    assert len(warnings) == 1 and dropped in warnings[0] and "Adam" in warnings[0]
    assert "Ignored the link" not in warnings[0]


def test_the_best_points_are_confirmed_on_fresh_seeds():
    at = finish(app({**TINY, "low": "0.0001", "high": "0.001", "seed": "7"}))
    assert any("optimistic" in c.value for c in at.caption)
    at.button(key="sens.confirm.start").click().run()
    def confirmed(a):
        return [t.value for t in a.table if "fresh seeds" in t.value.columns]

    at = run_until(at, lambda a: confirmed(a) and not a.get("progress"),
                   "the confirmation to finish")
    table = confirmed(at)[0]
    assert len(table) == 1
    row = table.iloc[0]
    assert row["best point"].startswith("lr=") and row["fresh seeds"] != "not confirmed"
    assert row["sweep seeds (optimistic)"] != row["fresh seeds"]
    assert "inside the sweep's interval" in table.columns
    assert any("fresh one on seeds 107-108" in c.value for c in at.caption)

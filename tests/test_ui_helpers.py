"""Pure helpers behind the pages: URL sharing round-trips and rejects, chart thinning."""

import math

import pandas as pd
import pytest

from core.config import RunConfig
from core.optim.registry import METHODS
from ui.charts import diagnostic_groups, downsample, long_frame
from ui.params import config_from_params, config_to_params


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_round_trips_through_the_url(method):
    spec = METHODS[method]
    knobs = {hp.name: (hp.high if hp.integer else (hp.low + hp.high) / 3)
             for hp in spec.hyperparams if hp.name != "lr"}
    config = RunConfig(method=method, lr=spec.hyperparam("lr").high / 7, hparams=knobs,
                       epochs=7, batch_size=64, seed=123, hidden=(5, 6, 7), split="honest")
    params = config_to_params(config)
    assert all(isinstance(v, str) for v in params.values())
    loaded, warnings = config_from_params(params)
    assert warnings == [] and loaded == config


def test_one_bad_value_loses_only_itself():
    config, warnings = config_from_params({"method": "adam", "lr": "inf", "seed": "9",
                                           "hidden": "1,x"})
    assert config.seed == 9 and config.lr == RunConfig().lr and config.hidden == RunConfig().hidden
    assert len(warnings) == 2


def test_hostile_parameters_are_cut_and_quoted():
    config, warnings = config_from_params({"x" * 5000: "1", "seed": "[link](http://evil)"})
    assert len(warnings) == 2
    assert all(len(w) < 300 for w in warnings)
    assert "`" in warnings[1] and "](http" in warnings[1]  # inside a code span, not a link
    assert config_from_params({str(i): "1" for i in range(100)})[0] is None


def test_absent_device_falls_back_to_auto():
    config, warnings = config_from_params({"device": "cuda"}, devices=["auto", "cpu"])
    assert config.device == "auto" and "not available" in warnings[0]


def test_empty_url_means_no_config():
    assert config_from_params({}) == (None, [])


def test_downsample_keeps_last_and_bounds_points():
    df = pd.DataFrame({"epoch": range(1, 10_001), "value": range(10_000)})
    thin = downsample(df, max_points=300)
    assert len(thin) <= 301 and thin["epoch"].iloc[-1] == 10_000 and thin["epoch"].iloc[0] == 1
    assert downsample(df.head(50), max_points=300) is not None and len(downsample(df.head(50))) == 50


def test_long_frame_drops_non_finite_and_groups_diagnostics():
    rows = [{"epoch": 1, "a": 1.0, "b": math.nan}, {"epoch": 2, "a": math.inf, "b": 2.0}]
    frame = long_frame(rows, {"a": "A", "b": "B"})
    assert frame.to_dict("records") == [{"epoch": 1, "series": "A", "value": 1.0},
                                        {"epoch": 2, "series": "B", "value": 2.0}]
    groups = diagnostic_groups(["f/layer1.weight", "f/layer1.bias", "hessian_trace"])
    assert groups == {"f": ["f/layer1.weight", "f/layer1.bias"], "hessian_trace": ["hessian_trace"]}


def test_fast_spec_draws_the_same_chart_as_altair():
    from ui.charts import band_chart, fast_spec, line_chart
    frame = long_frame([{"epoch": e, "a": 1 / e, "b": 2 / e} for e in range(1, 30)],
                       {"a": "A", "b": "B"})
    for builder, df, kwargs in [
            (line_chart, frame, dict(title="t", y_title="y", dashed=["B"], points=True)),
            (band_chart, pd.DataFrame({"epoch": [1, 2], "series": ["s", "s"], "mean": [1.0, .5],
                                       "low": [.9, .4], "high": [1.1, .6], "n": [3, 3]}),
             dict(title="t", y_title="y"))]:
        slow = builder(df, **kwargs).to_dict()
        fast = fast_spec(builder, df, **kwargs)
        (slow_data,) = slow.pop("datasets").values()
        assert fast.pop("datasets") == {"points": slow_data}
        slow.pop("data"), fast.pop("data")
        assert fast == slow

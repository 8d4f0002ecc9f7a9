"""Pure helpers behind the pages: URL sharing round-trips and rejects, chart thinning."""

import math

import pandas as pd
import pytest

from core.config import RunConfig
from core.optim.registry import METHODS
from ui.charts import diagnostic_groups, downsample, long_frame
from core.training.compare_settings import MAX_ENTRIES, CompareSettings
from ui.params import (COMPARE_DEFAULTS, compare_from_params, compare_to_params,
                       config_from_params, config_to_params)


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
    # Each bad value is named once; the good ones are not (other notices may come and go).
    assert [_named(warnings, v) for v in ("inf", "1,x", "seed", "adam")] == [1, 1, 0, 0]


def _named(warnings, part: str) -> int:
    return sum(part in w for w in warnings)


def test_hostile_parameters_are_cut_and_quoted():
    config, warnings = config_from_params({"x" * 5000: "1", "seed": "[link](http://evil)"})
    assert _named(warnings, "xxxx") == 1 and _named(warnings, "](http") == 1
    assert all(len(w) < 300 for w in warnings)
    link = next(w for w in warnings if "](http" in w)
    assert "`seed=[link](http" in link  # inside a code span, not a link
    assert config_from_params({str(i): "1" for i in range(100)})[0] is None


def test_absent_device_falls_back_to_auto():
    config, warnings = config_from_params({"device": "cuda"}, devices=["auto", "cpu"])
    assert config.device == "auto" and "not available" in warnings[0]


def test_empty_url_means_no_config():
    assert config_from_params({}) == (None, [])


def _odd_knobs(key: str) -> dict:
    """Every knob of ``key`` away from its default, lr apart."""
    return {hp.name: (hp.high if hp.integer else (hp.low + hp.high) / 3)
            for hp in METHODS[key].hyperparams if hp.name != "lr"}


def _comparison(methods, **kwargs) -> CompareSettings:
    run = dict(epochs=7, batch_size=64, seed=123, hidden=(5, 6, 7), split="honest")
    return CompareSettings(tuple(RunConfig(method=k, lr=METHODS[k].hyperparam("lr").high / 7,
                                           hparams=_odd_knobs(k), **run) for k in methods),
                           n_seeds=4, band="ci95", **kwargs)


# Every method, a Compare page's worth of entries at a time (there are more than it holds).
_ALL, _BACK = list(METHODS), list(METHODS)[::-2]


@pytest.mark.parametrize("methods", [
    *(_ALL[i:i + MAX_ENTRIES] for i in range(0, len(_ALL), MAX_ENTRIES)),
    *(_BACK[i:i + MAX_ENTRIES] for i in range(0, len(_BACK), MAX_ENTRIES)),
    list(METHODS)[-1:], ["adam", "adam", "weight_trajectory", "adam"]])
def test_a_comparison_round_trips_through_the_url(methods):
    settings = _comparison(methods, labels=("fast",), baseline=len(methods) - 1)
    params = compare_to_params(settings)
    assert all(isinstance(v, str) for v in params.values())
    assert [params[f"e{i + 1}"].split(":")[0] for i in range(len(methods))] == methods
    assert params["e1"].endswith(",label=fast") and params["baseline"] == str(len(methods))
    assert params["seeds"] == "4" and params["band"] == "ci95" and params["seed"] == "123"
    assert compare_from_params(params) == (settings, [])
    # A link can leave anything out: the rest comes from the base.
    assert compare_from_params({"seeds": "4"}, base=settings) == (settings, [])


def test_the_same_method_twice_and_the_default_baseline():
    settings, warnings = compare_from_params({"e1": "wngd:lr=0.1", "e2": "adam:lr=0.001",
                                              "e3": "adam:lr=0.01,label=fast"})
    assert warnings == [] and settings.methods == ["wngd", "adam", "adam"]
    assert settings.baseline == 1, "the first Adam entry"
    assert settings.label(2) == "3. fast" and settings.entries[2].lr == 0.01
    only_wngd, _ = compare_from_params({"e1": "wngd:lr=0.1", "e2": "wngd:lr=1.0"})
    assert only_wngd.baseline == 0


def test_an_old_link_still_reads():
    first, second = list(METHODS)[:2]
    hp = METHODS[second].hyperparams[-1]
    settings, warnings = compare_from_params({"methods": f"{second},{first}", "seeds": "2",
                                              f"{second}.{hp.name}": repr(hp.high)})
    assert warnings == []
    assert settings.methods == [second, first] and settings.n_seeds == 2
    assert settings.entries[0].optimizer_hparams()[hp.name] == hp.high
    assert settings.entries[1] == COMPARE_DEFAULTS.entries[0], "untouched fields keep defaults"
    assert settings.band == COMPARE_DEFAULTS.band and settings.baseline == 1


def test_hostile_comparison_link_loses_only_its_bad_parts():
    first, second = list(METHODS)[:2]
    lr = METHODS[first].hyperparam("lr")
    settings, warnings = compare_from_params(
        {"methods": f"{first},no_such,../../etc/passwd,{first},{second}",
         f"{first}.lr": "nan", f"{second}.lr": "1e9", "seeds": "999", "epochs": "5",
         "split": "/etc/passwd", "hidden": "C:\\x", "band": "__import__('os')",
         f"{first}.no_knob": "1", "lr": "0.1", "device": "cuda", "baseline": "7"},
        devices=["auto", "cpu"])
    assert settings.methods == [first, second] and settings.entries[0].epochs == 5
    assert settings.entries[0].lr == lr.default
    assert settings.entries[1].lr == METHODS[second].hyperparam("lr").default
    assert settings.n_seeds == COMPARE_DEFAULTS.n_seeds and settings.band == COMPARE_DEFAULTS.band
    assert settings.entries[0].split == "honest" and settings.entries[0].hidden == (100, 100)
    assert settings.entries[0].device == "auto"
    text = "\n".join(warnings)
    for part in ("no_such", "etc/passwd", "repeated", f"{first}.lr=nan", f"{second}.lr=1e9",
                 "seeds=999", "split=", "hidden=", "band=", f"{first}.no_knob", "`lr`",
                 "cuda", "baseline=7"):
        assert part in text, part
    assert all(len(w) < 300 for w in warnings)


def test_hostile_entries_lose_only_themselves():
    settings, warnings = compare_from_params({"e1": "adam:lr=0.01", "e2": "nope:lr=1",
                                              "e3": "adam:beta=1", "e4": "adam:lr=5",
                                              "e5": "adam:lr=0.1,label=" + "x" * 40,
                                              "e9": "adam"})
    assert settings.texts() == ["adam:lr=0.01"]
    text = "\n".join(warnings)
    for part in ("e2=", "unknown method", "e3=", "beta", "e4=", "must be between", "e5=", "label",
                 "`e9`"):
        assert part in text, part


def test_comparison_link_edge_cases():
    keys = list(METHODS)
    too_many = ",".join(keys + keys[:1])
    settings, warnings = compare_from_params({"methods": too_many})
    assert settings == COMPARE_DEFAULTS and "methods" in warnings[0]
    settings, warnings = compare_from_params({"methods": ""})
    assert settings == COMPARE_DEFAULTS and "methods=" in warnings[0]
    # A knob of a method the comparison does not include is not silently dropped.
    absent = next(k for k in keys if k not in COMPARE_DEFAULTS.methods)
    settings, warnings = compare_from_params({f"{absent}.lr": "0.01"})
    assert settings == COMPARE_DEFAULTS and "not among" in warnings[0]
    for seeds in ("0", "2.5", "inf", "-1", "x"):
        settings, warnings = compare_from_params({"seeds": seeds})
        assert settings.n_seeds == COMPARE_DEFAULTS.n_seeds and _named(warnings, "seeds") == 1, seeds
    assert compare_from_params({}) == (None, [])
    assert compare_from_params({str(i): "1" for i in range(100)})[0] is None


def test_a_first_seed_near_the_top_is_a_warning_not_a_crash():
    # Issue 13: each part is valid alone, the last seed (first + seeds - 1) leaves the range.
    settings, warnings = compare_from_params({"seed": "2147483646"})
    assert settings is None and "2147483646" in warnings[0]


def test_comparison_settings_validate():
    entry = COMPARE_DEFAULTS.entries[0]
    for bad in [dict(entries=()), dict(entries=(entry,) * 9),
                dict(entries=(entry, COMPARE_DEFAULTS.entries[1].replace(seed=1))),
                dict(entries=(entry,), n_seeds=11), dict(entries=(entry,), band="x"),
                dict(entries=(entry, entry), baseline=2), dict(entries=(entry,), labels=("a,b",))]:
        with pytest.raises(ValueError):
            CompareSettings(**bad)
    assert CompareSettings((entry, entry)).label(1) == "2. Adam lr=0.01 (copy 2)"


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


def drawn(spec: dict) -> list:
    """The rows each mark of a Vega-Lite spec draws, in order: its view's own data, else its
    parent's (a layer with data of its own ignores the top level's)."""
    datasets = spec.get("datasets", {})

    def rows(view, inherited):
        data = view.get("data")
        own = datasets.get(data["name"]) if data and "name" in data else inherited
        out = [own] if "mark" in view else []
        for layer in view.get("layer", []):
            out += rows(layer, own)
        return out
    return rows(spec, None)


def without_data(spec):
    if isinstance(spec, list):
        return [without_data(s) for s in spec]
    if not isinstance(spec, dict):
        return spec
    return {k: without_data(v) for k, v in spec.items() if k not in ("data", "datasets")}


def test_fast_spec_draws_the_same_chart_as_altair():
    from ui.charts import band_chart, fast_spec, forest_chart, line_chart
    frame = long_frame([{"epoch": e, "a": 1 / e, "b": 2 / e} for e in range(1, 30)],
                       {"a": "A", "b": "B"})
    forest = pd.DataFrame([{"entry": f"{i}. A", "index": i, "mean": 0.1 * i, "low": 0.1 * i - .05,
                            "high": 0.1 * i + .05, "n": 2, "verdict": "better",
                            "class": "better", "config": "c"} for i in range(1, 8)])
    for builder, df, kwargs, x in [
            (line_chart, frame, dict(title="t", y_title="y", dashed=["B"], points=True), "epoch"),
            (band_chart, pd.DataFrame({"epoch": [1, 2], "series": ["s", "s"], "mean": [1.0, .5],
                                       "low": [.9, .4], "high": [1.1, .6], "n": [3, 3],
                                       "kind": ["validation", "train"], "config": ["c", "c"]}),
             dict(title="t", y_title="y", labels=["s"], log_y=True), "epoch"),
            # Issue 19: its zero line has data of its own; the template lost the entries' rows.
            (forest_chart, forest, dict(title="", x_title="d", order=list(forest["entry"])),
             "mean")]:
        slow = builder(df, **kwargs).to_dict()
        fast = fast_spec(builder, df, x=x, **kwargs)
        assert drawn(fast) == drawn(slow)
        assert without_data(fast) == without_data(slow)
    views = drawn(fast_spec(forest_chart, forest, x="mean", **kwargs))
    assert [len(v) for v in views] == [1, 7, 7], "the zero line, 7 intervals, 7 points"

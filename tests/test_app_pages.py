"""Every page under streamlit's AppTest: renders, trains a tiny run, Stop, sharing, bad links."""


import pytest
from streamlit.testing.v1 import AppTest

from core.config import EpochMetrics
from core.optim.registry import METHODS
from apptest_support import open_page, run_until

pytestmark = pytest.mark.timeout(180)


app = open_page




def charts(at: AppTest):
    return at.get("vega_lite_chart")


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def small_run(at: AppTest, prefix: str, epochs: int) -> None:
    at.number_input(key=f"{prefix}.epochs").set_value(epochs)
    at.text_input(key=f"{prefix}.hidden").set_value("16")
    at.number_input(key=f"{prefix}.batch_size").set_value(500)
    at.run()


@pytest.mark.parametrize("page", ["home", "train", "compare", "sensitivity"])
def test_page_renders_without_exception(page):
    at = app(page)
    assert not at.exception
    assert not at.error


def test_home_has_one_card_per_method():
    at = app("home")
    assert len(at.latex) == len(METHODS)
    # One "Train <method>" link per card (the page list above links each page once more).
    cards = [e for e in at.get("page_link") if e.proto.label.startswith("Train ")]
    assert len(cards) == len(METHODS)
    assert charts(at), "the MNIST-1D example signals"


def test_train_two_epochs_streams_metrics_charts_and_downloads():
    at = app("train")
    small_run(at, "train", 2)
    at.button(key="train.start").click().run()
    run_until(at, lambda a: a.success, "the run to finish")
    assert "Finished 2 epochs" in at.success[0].value
    values = {m.label: m.value for m in at.metric}
    assert values["Epoch"] == "2"
    assert float(values["Validation loss"]) > 0
    assert len(charts(at)) >= 2
    assert {b.label for b in at.get("download_button")} == {"Metrics (CSV)", "Config (JSON)"}
    # The URL now holds the configuration that was run.
    assert at.query_params["epochs"] in ("2", ["2"])


def test_method_diagnostics_are_charted():
    key = next(k for k in METHODS if k != next(iter(METHODS)))  # a method with diagnostics
    at = app("train", {"method": key, "epochs": "1", "hidden": "8", "batch_size": "500"})
    assert at.selectbox(key="train.method").value == key
    at.button(key="train.start").click().run()
    run_until(at, lambda a: a.success, "the run to finish")
    assert len(charts(at)) >= 3, "loss, accuracy and at least one diagnostics chart"


def test_stop_ends_a_long_run_and_keeps_its_epochs():
    at = app("train")
    small_run(at, "train", 2000)
    at.button(key="train.start").click().run()
    run_until(at, lambda a: a.metric and a.metric[0].value not in ("-", "0"), "a first epoch")
    at.button(key="train.stop").click().run()
    run_until(at, lambda a: any("Stopped after" in t for t in texts(a.info)), "the stopped state")
    assert at.button(key="train.stop").disabled
    assert not at.button(key="train.start").disabled


def test_changing_a_widget_keeps_the_finished_run_on_screen():
    at = app("train")
    small_run(at, "train", 1)
    at.button(key="train.start").click().run()
    run_until(at, lambda a: a.success, "the run to finish")
    at.number_input(key="train.seed").set_value(7).run()
    assert at.success and "Finished 1 epochs" in at.success[0].value
    assert len(charts(at)) >= 2


def test_shared_link_is_applied():
    key = list(METHODS)[-1]
    at = app("train", {"method": key, "lr": "0.0042", "epochs": "3", "seed": "11",
                       "hidden": "32,16", "split": "honest"})
    assert not at.warning
    assert at.selectbox(key="train.method").value == key
    assert at.number_input(key=f"train.hp.{key}.lr").value == pytest.approx(0.0042)
    assert at.number_input(key="train.epochs").value == 3
    assert at.number_input(key="train.seed").value == 11
    assert at.text_input(key="train.hidden").value == "32,16"
    assert at.radio(key="train.split").value == "honest"


def test_bad_url_parameters_warn_and_are_ignored():
    at = app("train", {"method": "adam", "lr": "banana", "epochs": "-4",
                       "bogus": "<script>alert(1)</script>", "hidden": "100,100"})
    warnings = " ".join(texts(at.warning))
    assert len(at.warning) == 3, warnings
    assert "lr=banana" in warnings and "epochs=-4" in warnings and "bogus" in warnings
    # The valid parameters still apply; the invalid ones kept their defaults.
    assert at.number_input(key="train.epochs").value >= 1
    assert not at.exception


def test_unknown_method_in_url_warns():
    at = app("train", {"method": "rm -rf"})
    assert at.warning and "unknown method" in at.warning[0].value
    assert at.selectbox(key="train.method").value in METHODS


def test_invalid_widget_value_shows_error_and_disables_start():
    at = app("train")
    at.text_input(key="train.hidden").set_value("ten,twenty").run()
    assert at.error and "hidden" in at.error[0].value
    assert at.button(key="train.start").disabled


def _fake_train(diverge: bool):
    def fake(config, data=None):
        yield EpochMetrics(1, 2.0, 2.1, 0.2, 0.01, (config.lr,))
        if not diverge:
            raise RuntimeError("the GPU caught fire")
        yield EpochMetrics(2, float("nan"), float("nan"), 0.1, 0.02, (config.lr,),
                           diverged=True, reason="loss became non-finite in epoch 2")
    return fake


@pytest.mark.parametrize("diverge", [True, False])
def test_divergence_and_failure_are_messages_not_exceptions(monkeypatch, diverge):
    import core.training.train
    monkeypatch.setattr(core.training.train, "train", _fake_train(diverge))
    at = app("train")
    at.button(key="train.start").click().run()
    run_until(at, lambda a: a.error, "the error message")
    message = at.error[0].value
    assert ("Diverged" in message) if diverge else ("the GPU caught fire" in message)
    assert at.metric[1].value == "2.1000", "the curve up to the divergence stays"
    assert len(charts(at)) >= 2


def test_compare_the_same_method_twice_and_switch_the_baseline():
    at = app("compare", {"e1": "adam:lr=0.01", "e2": "adam:lr=0.001,label=slow"})
    at.slider(key="compare.n_seeds").set_value(2)
    small_run(at, "compare", 2)
    assert [at.selectbox(key=f"compare.e{i}.method").value for i in (0, 1)] == ["adam", "adam"]
    assert at.selectbox(key="compare.baseline").value == 0
    at.button(key="compare.start").click().run()
    run_until(at, lambda a: a.success, "the comparison to finish")
    table = at.table[0].value
    assert list(table.index) == ["1. Adam lr=0.01", "2. slow"]
    assert list(table["loss verdict"])[0] == "baseline"
    for column in ("loss verdict", "accuracy verdict"):    # each metric its own verdict
        verdict = table.iloc[1][column]
        assert verdict.split(";")[0] in ("better", "worse") or verdict.startswith(
            ("not detected (could detect >= ", "significant but", "identical", "no seed"))
    # The honest split by default; the adjustment and what the metrics measure are said.
    assert any("Holm-adjusted across this comparison's 2 paired tests" in c.value
               and "test loss at the epoch of minimum validation loss" in c.value
               for c in at.caption)
    full = at.dataframe[0].value
    assert list(full["seeds done"]) == [2, 2]
    assert len(charts(at)) == 3, "forest plot, loss, accuracy"
    assert at.get("download_button")
    # Switching the baseline re-reads the same runs against the other entry.
    at.selectbox(key="compare.baseline").set_value(1).run()
    assert _query(at, "baseline") == "2"
    again = at.table[0].value
    verdicts = list(again["loss verdict"])
    assert verdicts[1] == "baseline" and verdicts[0] != "baseline"
    assert any(m.value.startswith("**Against the baseline, 2. slow**") for m in at.markdown)


def test_compare_add_and_remove_entries():
    at = app("compare")
    assert len(at.session_state["compare.slots"]) == 2
    for _ in range(6):
        at.button(key="compare.add").click().run()
    assert len(at.session_state["compare.slots"]) == 8 and at.button(key="compare.add").disabled
    assert _query(at, "e8").startswith(at.selectbox(key="compare.e1.method").value + ":")
    at.button(key="compare.e0.remove").click().run()
    assert len(at.session_state["compare.slots"]) == 7 and "e8" not in at.query_params
    assert not at.exception and not at.error


def _query(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def test_compare_link_prefills_entries_knobs_and_seeds():
    knob = METHODS["weight_trajectory"].hyperparam("beta")
    at = app("compare", {"e1": "wngd:lr=0.0042", "e2": "weight_trajectory:beta=0.3",
                         "e3": "adam", "baseline": "2", "seeds": "5", "seed": "11",
                         "epochs": "3", "hidden": "32,16", "split": "honest", "band": "ci95"})
    assert not at.warning and not at.error
    assert [at.selectbox(key=f"compare.e{i}.method").value for i in range(3)] == \
        ["wngd", "weight_trajectory", "adam"]
    assert at.number_input(key="compare.e0.hp.wngd.lr").value == pytest.approx(0.0042)
    assert at.number_input(key="compare.e1.hp.weight_trajectory.beta").value == \
        pytest.approx(0.3)
    assert at.selectbox(key="compare.baseline").value == 1
    assert at.slider(key="compare.n_seeds").value == 5
    assert at.number_input(key="compare.seed").value == 11
    assert at.number_input(key="compare.epochs").value == 3
    assert at.text_input(key="compare.hidden").value == "32,16"
    assert at.radio(key="compare.split").value == "honest"
    assert at.radio(key="compare.band").value == "ci95"
    # The URL now spells out every setting, the link's values included.
    assert _query(at, "seeds") == "5" and _query(at, "e1").startswith("wngd:lr=0.0042")
    assert _query(at, "e3") == f"adam:lr={METHODS['adam'].hyperparam('lr').default!r}"
    # Then the widgets rule: a change is not undone by the link it came from.
    at.slider(key="compare.n_seeds").set_value(2).run()
    assert at.slider(key="compare.n_seeds").value == 2 and _query(at, "seeds") == "2"


def test_an_old_compare_link_still_works():
    at = app("compare", {"methods": "adam,wngd", "adam.lr": "0.003", "seeds": "4"})
    assert not at.warning and not at.error
    assert [at.selectbox(key=f"compare.e{i}.method").value for i in range(2)] == ["adam", "wngd"]
    assert at.number_input(key="compare.e0.hp.adam.lr").value == pytest.approx(0.003)
    assert _query(at, "e1") == "adam:lr=0.003" and "methods" not in at.query_params


def test_a_compare_link_past_the_last_seed_warns_instead_of_crashing():
    at = app("compare", {"seed": "2147483646"})     # issue 13: seeds would pass 2^31 - 1
    assert not at.exception
    assert "2147483646" in at.warning[0].value


def test_compare_widget_changes_update_the_url():
    at = app("compare")
    assert _query(at, "e1").startswith(list(METHODS)[0]), "defaults are shared too"
    last = list(METHODS)[-1]
    at.selectbox(key="compare.e1.method").set_value(last).run()
    at.number_input(key=f"compare.e1.hp.{last}.lr").set_value(0.005).run()
    at.number_input(key="compare.seed").set_value(7)
    at.radio(key="compare.band").set_value("ci95").run()
    assert _query(at, "e2").startswith(f"{last}:lr=0.005")   # then its other knobs, if any
    assert _query(at, "seed") == "7" and _query(at, "band") == "ci95"
    # An invalid setting leaves the last valid link in place.
    at.text_input(key="compare.hidden").set_value("ten").run()
    assert at.error and _query(at, "hidden") == "100,100"


def test_hostile_compare_link_warns_and_keeps_defaults_for_its_bad_fields():
    first, second = list(METHODS)[:2]
    at = app("compare", {"methods": f"{first},no_such_method,../../etc/passwd,{second}",
                         f"{first}.lr": "nan", f"{second}.lr": "1e9", "seeds": "999",
                         "hidden": "/etc/passwd", "split": "../../x", "epochs": "4",
                         "e1": "../../etc:lr=1", "exec": "__import__('os').system('x')"})
    assert len(at.warning) == 1, texts(at.warning)
    warning = at.warning[0].value
    for part in ("e1=", "etc", "methods=", f"{first}.lr=nan", f"{second}.lr=1e9",
                 "seeds=999", "split=", "exec"):
        assert part in warning, part
    assert not at.exception and not at.error
    # The good parts apply; each bad one keeps its default.
    assert [at.selectbox(key=f"compare.e{i}.method").value for i in range(2)] == [first, second]
    assert at.number_input(key="compare.epochs").value == 4
    for i, key in enumerate((first, second)):
        assert at.number_input(key=f"compare.e{i}.hp.{key}.lr").value == \
            METHODS[key].hyperparam("lr").default
    assert at.slider(key="compare.n_seeds").value == 3
    assert at.text_input(key="compare.hidden").value == "100,100"
    assert at.radio(key="compare.split").value == "honest"    # Compare's default
    assert not at.button(key="compare.start").disabled


def test_train_overlay_keeps_colours_dashes_and_says_what_it_drops():
    import json as json_
    at = app("train")
    small_run(at, "train", 1)

    def one_run():
        at.button(key="train.start").click().run()
        run_until(at, lambda a: a.success, "the run to finish")

    one_run()
    one_run()
    at.multiselect(key="train.overlay").set_value([1]).run()
    spec = json_.loads(charts(at)[0].proto.spec)
    domain = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    # The legend names the curve and the run's number (train and validation differ in it);
    # the caption above the charts says which method and lr each number is.
    assert domain == ["#2 train loss", "#2 validation loss", "#1 validation loss"], domain
    current = [n for n in domain if n.startswith("#2 ")]
    assert any("#1" in c.value and "#2" in c.value and "lr=" in c.value for c in at.caption)
    assert domain[:len(current)] == current, "the current run keeps the first colours"
    # Point markers only on the current run: the earlier run's dashes stay visible.
    assert "filter" in json_.dumps(spec["layer"][1].get("transform", []))
    for _ in range(4):
        one_run()
    assert any("was dropped" in i.value and "#1 " in i.value for i in at.info)

"""The model choice on every page (AppTest), in links and on the command line: a CNN run from
a link, the URL round trip, old links opening the MLP, and bad model input named and ignored."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import open_page, run_until
from core.cli.main import main
from core.config import RunConfig
from core.models import MODELS
from ui.params import config_from_params, config_to_params, compare_from_params
from ui.sweep_params import sweep_from_params, sweep_to_params
from ui.params import compare_to_params, COMPARE_DEFAULTS
from ui.sweep_params import SWEEP_DEFAULTS

PAGES = {"train": "train", "compare": "compare", "sensitivity": "sens", "search": "search"}


app = open_page


def _query(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


@pytest.mark.timeout(180)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_offers_every_model_and_its_knobs(page):
    at = app(page)
    prefix = PAGES[page]
    box = at.selectbox(key=f"{prefix}.model")
    assert box.options == [MODELS[k].display_name for k in MODELS] and box.value == "mlp"
    assert at.text_input(key=f"{prefix}.hidden").value == "100,100"
    box.set_value("cnn").run()
    assert not at.exception
    assert at.number_input(key=f"{prefix}.channels").value == 25
    assert _query(at, "model") == "cnn" and _query(at, "channels") == "25"


@pytest.mark.timeout(240)
def test_a_cnn_link_trains_a_cnn_and_the_link_round_trips():
    at = app("train", {"method": "adam", "model": "cnn", "channels": "4", "epochs": "1",
                       "batch_size": "500"})
    assert not at.warning
    assert at.selectbox(key="train.model").value == "cnn"
    assert at.number_input(key="train.channels").value == 4
    assert _query(at, "model") == "cnn" and _query(at, "channels") == "4"
    at.button(key="train.start").click().run()
    # 8 steps of a 4-channel CNN may well stay at chance: done is "Finished", either way.
    run_until(at, lambda a: any("Finished 1 epochs" in e.value for e in [*a.success, *a.warning]),
              "the CNN run to finish")
    assert not at.error


@pytest.mark.timeout(180)
def test_bad_model_links_warn_once_and_change_nothing_else():
    at = app("train", {"model": "resnet", "epochs": "3"})
    assert len(at.warning) == 1 and "unknown model" in at.warning[0].value
    assert at.selectbox(key="train.model").value == "mlp"
    assert at.number_input(key="train.epochs").value == 3
    at = app("train", {"model": "cnn", "channels": "0"})
    assert len(at.warning) == 1 and "channels" in at.warning[0].value
    assert at.number_input(key="train.channels").value == 25
    at = app("train", {"model": "gru", "hidden": "10"})
    assert len(at.warning) == 1 and "model gru has no knob" in at.warning[0].value


def test_links_round_trip_the_model_and_old_links_are_the_mlp():
    cnn = RunConfig(method="adam", model="cnn", shape={"channels": 7}, epochs=3)
    assert config_from_params(config_to_params(cnn)) == (cnn, [])
    # A link from before models were a choice is the MLP, whatever the page had.
    old = {"method": "adam", "hidden": "32", "epochs": "3"}
    config, warnings = config_from_params(old, base=cnn)
    assert warnings == [] and config.model == "mlp" and config.hidden == (32,)
    settings = COMPARE_DEFAULTS
    gru = type(settings)(tuple(e.replace(model="gru") for e in settings.entries))
    assert compare_from_params(compare_to_params(gru))[0] == gru
    sweep = type(SWEEP_DEFAULTS)(tuple(e.replace(model="linear") for e in SWEEP_DEFAULTS.entries),
                                 SWEEP_DEFAULTS.axis)
    assert sweep_from_params(sweep_to_params(sweep))[0] == sweep


@pytest.mark.timeout(120)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_train_command_per_model(model, capsys):
    assert main(["train", "--model", model, "--epochs", "1", "--batch-size", "500",
                 "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["model"] == model and len(out["epochs"]) == 1
    assert RunConfig.from_dict(out["config"]).model == model


@pytest.mark.parametrize("argv,message", [
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--model", "cnn", "--channels", "0"], "channels=0"),
    (["train", "--model", "cnn", "--hidden", "10"], "--hidden does not apply to --model cnn"),
    (["compare", "--entry", "adam", "--model", "linear", "--hidden-size", "3"],
     "--hidden-size does not apply to --model linear"),
    (["sweep", "--method", "adam", "--model", "gru", "--hidden-size", "999"], "hidden_size=999"),
    (["search", "--method", "adam", "--model", "cnn", "--hidden", "3"],
     "--hidden does not apply to --model cnn"),
])
def test_bad_model_flags_exit_2_naming_them(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_models_command_writes_the_record(tmp_path, capsys):
    md, js = tmp_path / "models.md", tmp_path / "models.json"
    assert main(["models", "--models", "linear", "--seeds", "2", "--epochs", "1",
                 "--markdown", str(md), "--json", str(js)]) == 0
    record = json.loads(js.read_text())
    (row,) = record["models"]
    assert row["key"] == "linear" and row["parameters"] == 410 and row["reported"] == 0.32
    assert len(row["accuracies"]) == 2 and row["low"] <= row["mean"] <= row["high"]
    assert row["verdict"] in ("matches",) or row["verdict"].startswith("differs by")
    assert record["protocol"]["paper_epochs"] == 200 and record["environment"]["threads"] == 1
    text = md.read_text()
    assert "Not the paper's protocol: 1 epochs" in text and "| 32.0% |" in text


def test_the_verdict_says_matches_inside_the_interval_and_by_how_much_outside():
    from core.training.model_table import verdict
    assert verdict(0.94, 0.92, 0.95, 0.935) == "matches"
    assert verdict(0.94, 0.90, 0.92, 0.91) == "differs by -3.0 points"
    assert verdict(0.32, 0.33, 0.35, 0.34) == "differs by +2.0 points"
    assert verdict(None, 0.1, 0.2, 0.15) == "no figure to compare"
    assert verdict(0.5, None, None, None) == "diverged"

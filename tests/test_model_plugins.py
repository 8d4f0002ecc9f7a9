"""Plug-in models: loaded from an entry point or MNIST1D_LAB_MODELS like plug-in methods, broken
ones reported once while the lab starts with the rest, and the example (the paper's residual MLP)
trained solo, in a population and from the CLI."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import ROOT
from core.config import RunConfig
from core.models import MODELS, get_model, init_generator
from core.models.plugins import ENV_VAR, load_model_plugins
from core.training.population import population_to_end
from core.training.train import train
from examples.residual_mlp import RESIDUAL_MLP


def _load(value: str, entry_points=lambda group: []):
    return load_model_plugins(MODELS, environ={ENV_VAR: value}, entry_points=entry_points)


def test_env_var_loads_the_example():
    assert _load(" examples.residual_mlp:RESIDUAL_MLP ") == ([RESIDUAL_MLP], [])


def test_entry_point_loads_the_example(tmp_path, monkeypatch):
    info = tmp_path / "lab_resmlp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-resmlp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[mnist1d_lab.models]\nresidual_mlp = examples.residual_mlp:RESIDUAL_MLP\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_model_plugins(MODELS, environ={}) == ([RESIDUAL_MLP], [])


@pytest.fixture
def bad_module(tmp_path, monkeypatch):
    (tmp_path / "bad_models.py").write_text(textwrap.dedent("""
        import dataclasses
        from core.models import ShapeKnob
        from examples.residual_mlp import RESIDUAL_MLP as R
        CLASH = dataclasses.replace(R, key="cnn")
        DEFAULT = dataclasses.replace(R, key="r2", default=True)
        RESERVED = dataclasses.replace(R, key="r3", knobs=(ShapeKnob("epochs", 1, 1, 9),))
        TYPED = dataclasses.replace(R, key="r4", knobs=(ShapeKnob("hidden", 1, 1, 9),))
        METHOD_KNOB = dataclasses.replace(R, key="r5", knobs=(ShapeKnob("beta", 1, 1, 9),))
        NOT_A_SPEC = 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("entry,message", [
    ("no_such_module:X", "ModuleNotFoundError"),
    ("bad_models:NOT_A_SPEC", "expected a ModelSpec"),
    ("bad_models:CLASH", "'cnn' is already taken by CNN"),
    ("bad_models:DEFAULT", "cannot be the default model"),
    ("bad_models:RESERVED", "'epochs' is a run setting"),
    ("bad_models:TYPED", "'hidden' is a list in another model"),
    ("bad_models:METHOD_KNOB", "'beta' is a run setting's or a method knob's"),
])
def test_a_broken_plugin_is_left_out_with_one_message(bad_module, entry, message):
    specs, problems = _load(f"{entry},examples.residual_mlp:RESIDUAL_MLP")
    assert specs == [RESIDUAL_MLP]
    assert len(problems) == 1 and message in problems[0] and "plug-in model" in problems[0]


def test_the_example_is_the_papers_mlp_and_trains_as_a_population(monkeypatch, mnist1d):
    monkeypatch.setitem(MODELS, "residual_mlp", RESIDUAL_MLP)
    model = get_model("residual_mlp").make({}, init_generator(0))
    assert sum(p.numel() for p in model.parameters()) == 15_210
    x = torch.randn(4, 40)
    assert torch.equal(RESIDUAL_MLP.forward(list(model.parameters()), x), model(x))
    configs = [RunConfig(model="residual_mlp", seed=s, epochs=1, device="cpu") for s in (0, 1)]
    for config, history in zip(configs, population_to_end(configs, mnist1d, dtype=torch.float64)):
        (solo,) = train(config, mnist1d, dtype=torch.float64)
        assert history[0].train_loss == pytest.approx(solo.train_loss, rel=1e-12)
        assert set(solo.diagnostics) == set(history[0].diagnostics)


@pytest.mark.timeout(120)
def test_the_cli_trains_a_plugin_model():
    env = {**os.environ, ENV_VAR: "examples.residual_mlp:RESIDUAL_MLP", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "core", "train", "--model", "residual_mlp",
                          "--width", "16", "--epochs", "1", "--batch-size", "500",
                          "--device", "cpu", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=110)
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)["config"]
    assert config["model"] == "residual_mlp" and config["width"] == 16

"""Plug-in methods: loaded from an entry point or MNIST1D_LAB_METHODS, broken ones reported once
while the lab starts with the rest, and a method without a population form trained one member
after another with exactly its solo numbers."""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import ROOT
from core.config import RunConfig
from core.optim import METHODS
from core.optim.plugins import ENV_VAR, RESERVED_NAMES, load_plugins
from core.training.population import supports_population, train_population
from core.training.train import train
from examples.signum import SIGNUM, Signum



def _load(value: str, entry_points=lambda group: []):
    specs, problems = load_plugins(METHODS, environ={ENV_VAR: value}, entry_points=entry_points)
    return _unnamed(specs), problems


def _unnamed(specs):
    """The specs as the plug-in defined them (the loader wraps factory and population form so
    that their errors name the plug-in)."""
    return [dataclasses.replace(s, factory=s.factory.plugin,
                                population=s.population and s.population.plugin) for s in specs]


def _dist_info(root, entry: str) -> None:
    """A minimal installed distribution declaring ``entry`` in the lab's entry-point group."""
    info = root / "lab_signum-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-signum\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mnist1d_lab.methods]\nsignum = {entry}\n")


def test_env_var_loads_the_example():
    specs, problems = _load(" examples.signum:SIGNUM ")
    assert problems == [] and specs == [SIGNUM]


def test_entry_point_loads_the_example(tmp_path, monkeypatch):
    _dist_info(tmp_path, "examples.signum:SIGNUM")
    monkeypatch.syspath_prepend(str(tmp_path))
    specs, problems = load_plugins(METHODS, environ={})
    assert problems == [] and _unnamed(specs) == [SIGNUM]


@pytest.fixture
def bad_module(tmp_path, monkeypatch):
    (tmp_path / "bad_plugins.py").write_text(textwrap.dedent("""
        import dataclasses
        from core.optim import HyperParam
        from examples.signum import SIGNUM
        CLASH = dataclasses.replace(SIGNUM, key="adam")
        RESERVED = dataclasses.replace(SIGNUM, key="signum2", hyperparams=SIGNUM.hyperparams + (
            HyperParam("epochs", 1, 1, 9),))
        TYPED = dataclasses.replace(SIGNUM, key="signum3", hyperparams=SIGNUM.hyperparams + (
            HyperParam("n_samples", 1.5, 1, 9),))
        BASE = dataclasses.replace(SIGNUM, key="signum4", baseline=True)
        HALF = [dataclasses.replace(SIGNUM, key="signum5"), CLASH]
        NOT_A_SPEC = 42
        LABEL = dataclasses.replace(SIGNUM, key="signum6", hyperparams=SIGNUM.hyperparams + (
            HyperParam("label", 1, 1, 9),))
        RUN = dataclasses.replace(SIGNUM, key="signum7", hyperparams=SIGNUM.hyperparams + (
            HyperParam("run", 1, 1, 9),))
        def _raise(*args):
            raise TypeError("plug-in factory bug")
        FACTORY = dataclasses.replace(SIGNUM, key="signum8", factory=_raise)
        POPULATION = dataclasses.replace(SIGNUM, key="signum9", population=_raise)
        def _picky(params, hp, seed):   # refuses one value inside its knob's range
            if hp["lr"] == 0.5:
                raise RuntimeError("plug-in bug at lr 0.5")
            return SIGNUM.factory(params, hp, seed)
        PICKY = dataclasses.replace(SIGNUM, key="picky", factory=_picky)
    """))
    (tmp_path / "raises_plugin.py").write_text("raise RuntimeError('plug-in bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("entry,message", [
    ("no_such_module:X", "ModuleNotFoundError"),
    ("raises_plugin:X", "plug-in bug"),
    ("examples.signum:NOPE", "AttributeError"),
    ("bad_plugins:NOT_A_SPEC", "expected a MethodSpec"),
    ("nocolon", "expected module:NAME"),
    ("bad_plugins:CLASH", "'adam' is already taken by Adam"),
    ("bad_plugins:RESERVED", "'epochs' is a run setting"),
    ("bad_plugins:TYPED", "'n_samples' is an integer"),
    ("bad_plugins:BASE", "cannot be the baseline"),
    ("bad_plugins:HALF", "'adam' is already taken"),
    ("bad_plugins:LABEL", "'label' is a run setting"),
    ("bad_plugins:RUN", "'run' is a run setting"),
    ("bad_plugins:FACTORY", "its factory raised TypeError at the defaults: plug-in factory bug"),
    ("bad_plugins:POPULATION", "its population form raised TypeError at the defaults"),
])
def test_a_broken_plugin_is_reported_once_and_the_others_load(entry, message, bad_module):
    specs, problems = _load(f"{entry},examples.signum:SIGNUM")
    assert specs == [SIGNUM]   # a list with one bad spec loads none of it
    assert len(problems) == 1 and message in problems[0] and repr(entry) in problems[0]


def test_two_plugins_cannot_share_a_key(tmp_path, monkeypatch):
    _dist_info(tmp_path, "examples.signum:SIGNUM")
    monkeypatch.syspath_prepend(str(tmp_path))
    specs, problems = load_plugins(METHODS, environ={ENV_VAR: "examples.signum:SIGNUM"})
    assert _unnamed(specs) == [SIGNUM]
    # Entry points load first; the second source of the same key is the one left out.
    assert len(problems) == 1 and ENV_VAR in problems[0] and "already taken" in problems[0]


def test_reserved_names_cover_every_cli_flag():
    # A knob called like a CLI flag would break argparse for everyone: the loader refuses it.
    from core.cli.main import build_parser
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = {opt.lstrip("-").replace("-", "_")
             for sub in subparsers.choices.values() for action in sub._actions
             if not action.dest.startswith("hp_") for opt in action.option_strings}
    assert names - {"h"} <= RESERVED_NAMES


def _cli(env_extra: dict, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.timeout(300)
def test_the_cli_trains_a_plugin_from_either_source_and_survives_a_broken_one(tmp_path):
    args = ("train", "--method", "signum", "--lr", "3e-4", "--momentum", "0.8", "--epochs", "1",
            "--hidden", "16", "--device", "cpu", "--json")
    by_env = _cli({ENV_VAR: "no_such_module:X,examples.signum:SIGNUM"}, *args)
    assert by_env.returncode == 0, by_env.stderr[-2000:]
    assert by_env.stderr.count("left out") == 1   # reported once, at start
    assert "'no_such_module:X' left out: ModuleNotFoundError" in by_env.stderr
    run = json.loads(by_env.stdout)
    assert run["config"]["method"] == "signum" and run["config"]["hparams"]["momentum"] == 0.8
    _dist_info(tmp_path, "examples.signum:SIGNUM")
    by_entry = _cli({"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}, *args)
    assert by_entry.returncode == 0, by_entry.stderr[-2000:]
    same = [{**m, "elapsed": 0} for m in json.loads(by_entry.stdout)["epochs"]]
    assert same == [{**m, "elapsed": 0} for m in run["epochs"]]


@pytest.mark.timeout(300)
def test_a_plugin_that_raises_later_is_named_by_the_cli_without_a_traceback(bad_module,
                                                                            tmp_path):
    env = {ENV_VAR: "bad_plugins:PICKY", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    out = _cli(env, "train", "--method", "picky", "--lr", "0.5", "--epochs", "1", "--hidden",
               "16", "--device", "cpu")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "plug-in method 'picky'" in out.stderr and "plug-in bug at lr 0.5" in out.stderr
    assert "Traceback" not in out.stderr


def test_signum_follows_its_formula_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    opt = Signum([p], lr=0.1, momentum=0.9)
    g1, g2 = torch.tensor([0.3, -0.2, 0.0]), torch.tensor([-1.0, 0.01, 0.2])
    expected, m = p.detach().clone(), torch.zeros(3, dtype=torch.float64)
    for g in (g1, g2):
        g = g.double()
        p.grad = g.clone()
        opt.step()
        m = 0.9 * m + 0.1 * g
        expected = expected - 0.1 * torch.sign(m)
        assert torch.allclose(p.detach(), expected, rtol=0, atol=1e-15)
    assert torch.allclose(opt.state[p]["momentum_buffer"], m, atol=1e-15)
    for bad in ({"lr": -1}, {"momentum": 1.0}, {"momentum": float("nan")}):
        with pytest.raises(ValueError, match="Invalid"):
            Signum([p], **bad)


def test_a_method_without_a_population_form_trains_members_one_after_another(
        mnist1d, monkeypatch):
    alone = dataclasses.replace(SIGNUM, key="signum_alone", population=None, one_after_another=True)
    monkeypatch.setitem(METHODS, alone.key, alone)
    assert not supports_population(alone.key) and not alone.trains_together
    configs = [RunConfig(method=alone.key, lr=lr, epochs=2, seed=s, device="cpu",
                         split="honest") for s, lr in ((1, 1e-3), (2, 3e-3), (3, 1e-2))]

    def stop(metrics):   # member 0 leaves after epoch 1; the others must not notice
        return [0]

    together = list(train_population(configs, mnist1d, stop=stop))
    for k, config in enumerate(configs):
        solo = [dataclasses.replace(m, elapsed=0.0) for m in train(config, mnist1d)]
        member = [dataclasses.replace(e[k], elapsed=0.0) for e in together if e[k] is not None]
        assert member == solo[:1] if k == 0 else member == solo   # bit for bit


def test_signum_resumes_exactly_from_its_state_dict_and_copies():
    import copy
    import pickle
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(16, 4), torch.randn(16, 3)

    def steps(opt, params, n):
        for _ in range(n):
            params.grad = None
            loss = ((x @ params.t() - y) ** 2).mean()
            loss.backward()
            opt.step()

    w = model.weight
    opt = Signum([w], lr=0.01, momentum=0.8)
    steps(opt, w, 3)
    saved, start = copy.deepcopy(opt.state_dict()), w.detach().clone()   # state_dict shares
    steps(opt, w, 4)
    for clone in (lambda: copy.deepcopy(saved), lambda: pickle.loads(pickle.dumps(saved))):
        w2 = torch.nn.Parameter(start.clone())
        again = Signum([w2], lr=0.5)
        again.load_state_dict(clone())
        steps(again, w2, 4)
        assert torch.equal(w2, w)


@pytest.mark.timeout(240)
def test_a_plugin_that_raises_at_start_is_an_error_on_the_page_not_a_crash(monkeypatch):
    from streamlit.testing.v1 import AppTest
    from core.optim.plugins import _named

    def broken(params, hp, seed):
        raise TypeError("plug-in factory bug")

    spec = _named(dataclasses.replace(SIGNUM, key="broken_signum", factory=broken), "a test")
    monkeypatch.setitem(METHODS, spec.key, spec)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.switch_page("pages/train.py")
    at.run()
    at.selectbox(key="train.method").set_value(spec.key).run()
    at.button(key="train.start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("plug-in method 'broken_signum'" in e.value and "plug-in factory bug" in e.value
               for e in at.error)

"""Every method the registry holds, built in or plug-in, gets the whole lab: it trains, it
searches, and its population form (if any) trains each member exactly as its solo run.

The example plug-in (examples/signum.py) takes part through the plug-in loader itself.
"""

import ast
import dataclasses
import graphlib
import math
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from core.config import RunConfig
from core.optim import HyperParam, MethodSpec
from core.optim.plugins import load_plugins
from core.optim.registry import BASELINE, BUILT_IN, METHODS, get_method
from core.search.study import SearchConfig, run_search
from core.training.population import population_to_end, supports_population
from core.training.sweep import SweepConfig, run_sweep
from core.training.train import train

EXAMPLE = "examples.signum:SIGNUM"
PLUGINS, PROBLEMS = load_plugins(METHODS, environ={"MNIST1D_LAB_METHODS": EXAMPLE},
                                 entry_points=lambda group: [])
EVERY = {**METHODS, **{spec.key: spec for spec in PLUGINS}}


@pytest.fixture
def registered(monkeypatch):
    """The example plug-in in the registry for one test, as the loader would put it there."""
    for spec in PLUGINS:
        monkeypatch.setitem(METHODS, spec.key, spec)


def test_the_example_plugin_loads():
    assert PROBLEMS == [] and [s.key for s in PLUGINS] == ["signum"]


@pytest.mark.parametrize("key", sorted(EVERY))
def test_every_method_has_a_population_form_or_says_it_has_none(key, registered):
    spec = EVERY[key]
    assert spec.population is not None or spec.one_after_another, (
        f"{key}: give MethodSpec a population form, or one_after_another=True")
    assert supports_population(key) == (spec.population is not None)


def test_exactly_one_baseline_and_it_is_the_default_config():
    assert [key for key, spec in METHODS.items() if spec.baseline] == [BASELINE]
    assert RunConfig().method == BASELINE and RunConfig().spec is METHODS[BASELINE]


@pytest.mark.parametrize("key", sorted(EVERY))
def test_every_method_trains_and_is_deterministic(key, mnist1d, registered):
    config = RunConfig(method=key, epochs=2, seed=3, device="cpu")
    first = [dataclasses.replace(m, elapsed=0.0) for m in train(config, mnist1d)]
    again = [dataclasses.replace(m, elapsed=0.0) for m in train(config, mnist1d)]
    assert first == again and [m.epoch for m in first] == [1, 2]
    assert not first[-1].diverged and math.isfinite(first[-1].val_loss)
    # It learned something: the loss fell from its first epoch (chance is ln 10 = 2.30).
    assert first[-1].train_loss < first[0].train_loss < math.log(10) + 0.2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", sorted(EVERY))
def test_every_method_searches(key, registered):
    results = list(run_search(SearchConfig(key, trials=2, epochs=1, device="cpu"), batch=2))
    spec = get_method(key)
    searched = {hp.name for hp in spec.hyperparams if hp.search is not None}
    assert len(results) == 2 and all(r.state == "COMPLETE" for r in results)
    for r in results:
        assert set(r.params) == searched
        assert all(spec.hyperparam(n).search[0] <= v <= spec.hyperparam(n).search[1]
                   for n, v in r.params.items())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", sorted(EVERY))
def test_every_method_sweeps(key, mnist1d, registered):
    # tests/test_sweep.py checks each sweep member against its solo run for the built-ins.
    config = SweepConfig.build([key], points=3, n_seeds=1, epochs=1, device="cpu")
    runs = [r for event in run_sweep(config, mnist1d) for r in event.finished]
    assert sorted(r.point for r in runs) == [(v,) for v in config.grid(0)]
    assert all(math.isfinite(r.values["best_val_loss"]) for r in runs)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", sorted(k for k, s in EVERY.items() if s.population))
def test_every_population_form_trains_each_member_as_its_solo_run(key, mnist1d, registered):
    # Members differ in every searched knob; float64 makes the comparison tight.
    spec = EVERY[key]
    configs = []
    for i, f in enumerate((0.0, 0.5)):
        knobs = {hp.name: hp.at(f) for hp in spec.hyperparams if hp.search is not None}
        lr = knobs.pop("lr")
        configs.append(RunConfig(method=key, lr=lr, hparams=knobs, epochs=2, seed=5 + i,
                                 device="cpu", split="honest"))
    members = population_to_end(configs, mnist1d, dtype=torch.float64)
    for config, history in zip(configs, members):
        solo = list(train(config, mnist1d, dtype=torch.float64))
        assert len(solo) == len(history)
        for a, b in zip(solo, history):
            for name in ("train_loss", "val_loss", "val_acc", "test_loss"):
                x, y = getattr(a, name), getattr(b, name)
                assert (x is None) == (y is None) and (
                    x is None or y == pytest.approx(x, rel=1e-9, abs=1e-9)), (key, name)
            assert b.lrs == pytest.approx(a.lrs, rel=1e-9)
            assert b.diagnostics == pytest.approx(a.diagnostics, rel=1e-9, abs=1e-9)


def _spec(**changes) -> MethodSpec:
    return dataclasses.replace(METHODS[BASELINE], **changes)


@pytest.mark.parametrize("changes,message", [
    ({"key": "Has Space"}, "lowercase identifier"),
    ({"key": "a.b"}, "lowercase identifier"),
    ({"factory": None}, "factory must be callable"),
    ({"hyperparams": (HyperParam("beta", 0.1, 0.0, 1.0),)}, "needs an 'lr'"),
    ({"hyperparams": (METHODS[BASELINE].hyperparams[0],) * 2}, "repeat"),
    ({"one_after_another": True}, "contradict"),
    ({"population": 3}, "population must be callable"),
])
def test_an_invalid_spec_is_refused_with_its_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        _spec(**changes)


def test_an_invalid_knob_is_refused():
    with pytest.raises(ValueError, match="lowercase identifier"):
        HyperParam("Learning-Rate", 0.1, 0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        HyperParam("x", float("nan"), 0.0, 1.0)


def _core_imports() -> dict[str, set[str]]:
    """Module -> the core modules it imports (at top level or inside functions)."""
    graph = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t.startswith("core") and t != name}
        graph[name] = deps
    return {m: {d for d in deps if d in graph} for m, deps in graph.items()}


def test_core_imports_flow_one_way_and_each_module_imports_first_in_a_fresh_interpreter():
    graph = _core_imports()
    # A package imports its own modules (its __init__ re-exports); that is not a cycle.
    edges = {m: {d for d in deps if not m == d.rpartition(".")[0]} for m, deps in graph.items()}
    order = list(graphlib.TopologicalSorter(edges).static_order())   # CycleError if any
    assert "core.optim.registry" in order and "core.cli.main" in order
    # Reverse dependency order: each module is the first import of its own interpreter's run,
    # dependents first, so a cycle through any entry point would fail here.
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    for loaded in [m for m in sys.modules if m == 'core' or m.startswith('core.')]:\n"
            "        del sys.modules[loaded]\n"
            "    importlib.import_module(name)\n")
    modules = [m for m in reversed(order) if not m.endswith("__main__")]
    result = subprocess.run([sys.executable, "-c", code, *modules], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]

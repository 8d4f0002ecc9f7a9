import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from core.config import EpochMetrics, RunConfig
from core.data import MNIST1D
from core.models import MLP, init_generator
from core.optim import METHODS
from core.training.train import resolve_device, train


def test_mlp_default_size_and_paired_init():
    assert sum(p.numel() for p in MLP().parameters()) == 15_210
    a, b, c = (MLP(generator=init_generator(s)) for s in (3, 3, 4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.net[0].weight, c.net[0].weight)
    assert sum(p.numel() for p in MLP(hidden=(32,)).parameters()) == 40 * 32 + 32 + 32 * 10 + 10


def test_runconfig_defaults_and_resolution():
    c = RunConfig(method="adam", lr=1e-2, epochs=3, seed=0)
    assert (c.batch_size, c.hidden, c.split, c.device) == (100, (100, 100), "writeup", "auto")
    m = RunConfig(method="meta_curvature", hparams={"alpha": 0.5})
    assert dict(m.hparams) == {"alpha": 0.5, "update_freq": 10, "n_samples": 1}
    assert m.lr == METHODS["meta_curvature"].hyperparam("lr").default
    assert RunConfig.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    hash(m)


@pytest.mark.parametrize("changes,message", [
    ({"method": "lbfgs"}, "unknown method"),
    ({"lr": -1}, "lr=-1"),
    ({"lr": float("nan")}, "finite"),
    ({"epochs": 0}, "epochs=0"),
    ({"epochs": 2.5}, "whole number"),
    ({"batch_size": 0}, "batch_size"),
    ({"seed": -3}, "seed=-3"),
    ({"hidden": (100, 0)}, "hidden=0"),
    ({"hidden": "100"}, "hidden"),
    ({"split": "test"}, "unknown split"),
    ({"device": "tpu"}, "unknown device"),
    ({"hparams": {"beta": 1.0}}, "no hyperparameter"),
    ({"method": "weight_trajectory", "hparams": {"beta": -1}}, "beta=-1"),
    ({"hparams": {"lr": 0.1}}, "lr=..."),
])
def test_runconfig_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**changes)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown config field"):
        RunConfig.from_dict({"method": "adam", "path": "/etc/passwd"})


def _numbers(history):
    return [dataclasses.replace(m, elapsed=0.0) for m in history]


@pytest.mark.parametrize("key", sorted(METHODS))
def test_every_method_is_deterministic_and_complete(key, mnist1d):
    config = RunConfig(method=key, epochs=2, seed=3)
    first, second = list(train(config, mnist1d)), list(train(config, mnist1d))
    assert _numbers(first) == _numbers(second)
    assert [m.epoch for m in first] == [1, 2]
    assert all(isinstance(m, EpochMetrics) and not m.diverged for m in first)
    assert all(np.isfinite([m.train_loss, m.val_loss, m.val_acc]).all() for m in first)
    assert first[-1].lrs and 0 <= first[-1].val_acc <= 1


def test_same_seed_same_start_for_every_method(mnist1d):
    # Paired comparisons: with lr 0 nothing moves, so every method reports the initial model.
    losses = {key: next(train(RunConfig(method=key, lr=1e-6, epochs=1, seed=11), mnist1d)).val_loss
              for key in ("adam", "gnw_adam")}
    assert losses["adam"] == pytest.approx(losses["gnw_adam"], abs=1e-3)


def test_seed_changes_the_run(mnist1d):
    a = next(train(RunConfig(epochs=1, seed=0), mnist1d))
    b = next(train(RunConfig(epochs=1, seed=1), mnist1d))
    assert a.train_loss != b.train_loss


def test_diagnostics_per_method(mnist1d):
    def last(key, **hp):
        return list(train(RunConfig(method=key, epochs=1, seed=0, hparams=hp), mnist1d))[-1]
    wt = last("weight_trajectory", beta=0.5)
    assert {f"trajectory_factor/layer{i}.{w}" for i in (1, 2, 3) for w in ("weight", "bias")} \
        == set(wt.diagnostics)
    assert all(0 < v <= 1 for v in wt.diagnostics.values())
    mc = last("meta_curvature", alpha=0.1)
    # The group keeps the scheduled lr; the curvature-scaled one is the diagnostic (issue 10).
    assert mc.lrs[0] == METHODS["meta_curvature"].hyperparam("lr").default
    assert mc.diagnostics["lr"] == pytest.approx(
        mc.lrs[0] / (1 + 0.1 * max(mc.diagnostics["hessian_trace"], 0)))
    gnw = last("gnw_adam")
    assert gnw.diagnostics["effective_lr"] == pytest.approx(
        gnw.lrs[0] / (1 + gnw.diagnostics["grad_norm"]))
    assert set(last("wngd").diagnostics) >= {"weight_norm/layer1.weight"}
    assert set(last("hessian_lr").diagnostics) == {"precond_mean", "precond_max"}


def test_divergence_is_reported_not_raised(mnist1d):
    # Signals of 1e38 overflow float32 logits: the loss is non-finite from the first batch.
    huge = MNIST1D(mnist1d.x * 1e38, mnist1d.y, mnist1d.x_test, mnist1d.y_test, mnist1d.t)
    history = list(train(RunConfig(epochs=5, seed=0), huge))
    assert len(history) == 1
    assert history[-1].diverged and "non-finite" in history[-1].reason
    assert history[-1].to_dict()["train_loss"] is None  # JSON-safe


def test_closing_the_generator_stops_the_run(mnist1d):
    run = train(RunConfig(epochs=50, seed=0), mnist1d)
    next(run)
    run.close()
    with pytest.raises(StopIteration):
        next(run)


def test_honest_split_reports_test_only_at_the_end(mnist1d):
    history = list(train(RunConfig(epochs=2, split="honest"), mnist1d))
    assert history[0].test_loss is None
    assert history[-1].test_loss is not None and 0 <= history[-1].test_acc <= 1
    assert all(m.test_loss is None for m in train(RunConfig(epochs=2), mnist1d))


def test_test_every_epoch_reports_the_test_set_and_changes_nothing_else(mnist1d):
    config = RunConfig(epochs=3, split="honest", seed=2)
    default = list(train(config, mnist1d))
    every = list(train(config, mnist1d, test_every_epoch=True))
    assert all(m.test_loss is not None and m.test_acc is not None for m in every)
    assert _numbers(default[:-1]) == [dataclasses.replace(m, test_loss=None, test_acc=None)
                                      for m in _numbers(every[:-1])]
    # The last epoch's report is the default's exactly: evaluating touches no weight or stream.
    assert _numbers(default)[-1] == _numbers(every)[-1]
    # Epoch k's test loss is the one a run of k epochs ends with (what retraining would read).
    assert list(train(config.replace(epochs=2), mnist1d))[-1].test_loss == every[1].test_loss
    # The write-up split has no separate test set: nothing to report.
    assert all(m.test_loss is None
               for m in train(RunConfig(epochs=2), mnist1d, test_every_epoch=True))


@pytest.mark.parametrize("present,auto", [(["cpu"], "cpu"), (["cpu", "mps"], "mps"),
                                          (["cpu", "cuda", "mps"], "cuda")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(present, auto, monkeypatch):
    import core.training.epochs as epochs
    monkeypatch.setattr(epochs, "available_devices", lambda: present)
    assert resolve_device("auto") == torch.device(auto)
    assert resolve_device("cpu") == torch.device("cpu")
    absent = next(d for d in ("cuda", "mps") if d not in present) if len(present) < 3 else None
    if absent:
        with pytest.raises(ValueError, match=f"{absent!r} is not available"):
            resolve_device(absent)


def test_should_stop_ends_the_run_without_the_partial_epoch(mnist1d):
    config = RunConfig(epochs=3, seed=0, batch_size=500, device="cpu")
    n = 4000 // 500
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) > n + 3   # mid-way through epoch 2

    history = list(train(config, mnist1d, should_stop=should_stop))
    assert [m.epoch for m in history] == [1] and len(polls) == n + 4
    # Polling changes nothing: epoch 1 is the plain run's epoch 1, bit for bit.
    plain = next(train(config, mnist1d))
    assert dataclasses.replace(history[0], elapsed=0) == dataclasses.replace(plain, elapsed=0)


def test_core_never_imports_streamlit():
    # Every module of core, subpackages included, imported in a fresh interpreter.
    code = ("import sys, pkgutil, importlib, core;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(core.__path__, 'core.')"
            " if not m.name.endswith('__main__')];"
            "sys.exit('streamlit' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("key", ["adam", "weight_trajectory"])
def test_step_hooks_registered_globally_still_run_once_per_batch(key, mnist1d):
    # train() calls the optimizer's step without torch.optim's hook runner when nothing is
    # registered; a global hook must bring the runner back, once per batch (not twice for a
    # wrapper and its base).
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from core.data import make_split
    config = RunConfig(method=key, epochs=1, batch_size=250)
    calls = []
    handle = register_optimizer_step_post_hook(lambda *_: calls.append(1))
    try:
        list(train(config, mnist1d))
    finally:
        handle.remove()
    n = len(make_split(mnist1d, config.split).y_train)
    assert len(calls) == -(-n // 250)
    list(train(config, mnist1d))
    assert len(calls) == -(-n // 250)   # removed: not called again

"""The baselines from torch.optim and libraries (issue 22, section 3): each lab method is the
library's class used directly, step for step; a checkpoint resumes bit for bit in a fresh
process; a hyperparameter outside the spec's range is refused, naming it, before training, and
every value inside it is one the library accepts."""

import json
import math
import subprocess
import sys

import pytest
import pytorch_optimizer
import schedulefree
import torch

from conftest import ROOT
from core.config import RunConfig
from core.optim import METHODS, MuonWithAdamW, evaluating
from core.optim.muon import hidden_matrices

# Key -> the library's class used directly, at its own defaults (the spec's knobs carry them).
DIRECT = {
    "nadam": lambda ps: [torch.optim.NAdam(ps)],
    "radam": lambda ps: [torch.optim.RAdam(ps)],
    "adagrad": lambda ps: [torch.optim.Adagrad(ps)],
    "rmsprop": lambda ps: [torch.optim.RMSprop(ps)],
    "adafactor": lambda ps: [torch.optim.Adafactor(ps)],
    "muon": lambda ps: [torch.optim.Muon([p for p, m in zip(ps, hidden_matrices(ps)) if m]),
                        torch.optim.AdamW([p for p, m in zip(ps, hidden_matrices(ps)) if not m])],
    "lion": lambda ps: [pytorch_optimizer.Lion(ps, lr=1e-3)],   # the lab's default lr (README)
    "prodigy": lambda ps: [pytorch_optimizer.Prodigy(ps)],
    "soap": lambda ps: [pytorch_optimizer.SOAP(ps)],
    "adopt": lambda ps: [pytorch_optimizer.ADOPT(ps)],
    "adamw_schedulefree": lambda ps: [schedulefree.AdamWScheduleFree(ps)],
    "sgd_schedulefree": lambda ps: [schedulefree.SGDScheduleFree(ps)],
}
NEW = sorted(DIRECT)

# Key -> non-default knobs, and the library's class given the same values by hand.
NUDGED = {
    "nadam": ({"lr": 3e-3, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01,
               "momentum_decay": 0.01},
              lambda ps: [torch.optim.NAdam(ps, lr=3e-3, betas=(0.8, 0.99), weight_decay=0.01,
                                            momentum_decay=0.01)]),
    "radam": ({"lr": 3e-3, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01},
              lambda ps: [torch.optim.RAdam(ps, lr=3e-3, betas=(0.8, 0.99), weight_decay=0.01)]),
    "adagrad": ({"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01},
                lambda ps: [torch.optim.Adagrad(ps, lr=0.05, lr_decay=0.01, weight_decay=0.01)]),
    "rmsprop": ({"lr": 3e-3, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.01},
                lambda ps: [torch.optim.RMSprop(ps, lr=3e-3, alpha=0.9, momentum=0.5,
                                                weight_decay=0.01)]),
    "adafactor": ({"lr": 3e-3, "beta2_decay": -0.6, "d": 2.0, "weight_decay": 0.01},
                  lambda ps: [torch.optim.Adafactor(ps, lr=3e-3, beta2_decay=-0.6, d=2.0,
                                                    weight_decay=0.01)]),
    "muon": ({"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01, "adamw_lr": 3e-3,
              "adamw_weight_decay": 0.1},
             lambda ps: [torch.optim.Muon([p for p, m in zip(ps, hidden_matrices(ps)) if m],
                                          lr=0.02, momentum=0.9, weight_decay=0.01),
                         torch.optim.AdamW([p for p, m in zip(ps, hidden_matrices(ps)) if not m],
                                           lr=3e-3, weight_decay=0.1)]),
    "lion": ({"lr": 3e-4, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.5},
             lambda ps: [pytorch_optimizer.Lion(ps, lr=3e-4, betas=(0.8, 0.9), weight_decay=0.5)]),
    "prodigy": ({"lr": 0.5, "beta1": 0.8, "beta2": 0.99, "d_coef": 2.0, "weight_decay": 0.01},
                lambda ps: [pytorch_optimizer.Prodigy(ps, lr=0.5, betas=(0.8, 0.99), d_coef=2.0,
                                                      weight_decay=0.01)]),
    "soap": ({"lr": 1e-3, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1,
              "precondition_frequency": 3},
             lambda ps: [pytorch_optimizer.SOAP(ps, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1,
                                                precondition_frequency=3)]),
    "adopt": ({"lr": 3e-3, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01},
              lambda ps: [pytorch_optimizer.ADOPT(ps, lr=3e-3, betas=(0.8, 0.99),
                                                  weight_decay=0.01)]),
    "adamw_schedulefree": (
        {"lr": 1e-2, "beta1": 0.95, "beta2": 0.99, "weight_decay": 0.01, "warmup_steps": 3,
         "r": 0.5, "weight_lr_power": 1.0},
        lambda ps: [schedulefree.AdamWScheduleFree(ps, lr=1e-2, betas=(0.95, 0.99),
                                                   weight_decay=0.01, warmup_steps=3, r=0.5,
                                                   weight_lr_power=1.0)]),
    "sgd_schedulefree": (
        {"lr": 0.5, "momentum": 0.8, "weight_decay": 0.01, "warmup_steps": 3, "r": 0.5,
         "weight_lr_power": 1.0},
        lambda ps: [schedulefree.SGDScheduleFree(ps, lr=0.5, momentum=0.8, weight_decay=0.01,
                                                 warmup_steps=3, r=0.5, weight_lr_power=1.0)]),
}


def test_every_new_method_is_registered_and_conformance_covers_it():
    assert set(NEW) <= set(METHODS) and set(NUDGED) == set(DIRECT)


def _mlp_params(seed=0, dtype=torch.float64):
    """An MLP's tensors in order (40-32-32-10): the middle matrix is Muon's."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(32, 40), (32,), (32, 32), (32,), (10, 32), (10,)]
    return [(torch.randn(*s, generator=g, dtype=torch.float64) * 0.3).to(dtype).requires_grad_()
            for s in shapes]


def _grads(params, t):
    """A fixed, step-dependent gradient field (a nonlinear loss on a fixed batch)."""
    g = torch.Generator().manual_seed(100 + t)
    x = torch.randn(16, 40, generator=g, dtype=torch.float64).to(params[0].dtype)
    y = torch.randint(0, 10, (16,), generator=g)
    h = x
    for k in range(0, len(params), 2):
        h = torch.nn.functional.linear(h, params[k], params[k + 1])
        if k < len(params) - 2:
            h = torch.relu(h)
    return torch.autograd.grad(torch.nn.functional.cross_entropy(h, y), params)


def _run(optimizers, params, steps, start=0):
    for opt in optimizers:
        getattr(opt, "train", lambda: None)()
    for t in range(start, start + steps):
        for p, g in zip(params, _grads(params, t)):
            p.grad = g.clone()
        for opt in optimizers:
            opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("nudged", [False, True], ids=["defaults", "nudged"])
@pytest.mark.parametrize("key", NEW)
def test_the_lab_method_is_the_library_class_step_for_step(key, nudged):
    hp, direct = NUDGED[key] if nudged else ({}, DIRECT[key])
    lab_params, ref_params = _mlp_params(), _mlp_params()
    lab = METHODS[key].build(lab_params, hp, seed=0)
    ours = _run([lab], lab_params, 12)
    theirs = _run(direct(ref_params), ref_params, 12)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), key
    assert not all(torch.equal(a, b) for a, b in zip(ours, _mlp_params()))   # it moved


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    params = _mlp_params()
    opt = METHODS["muon"].build(params, {}, seed=0)
    assert isinstance(opt, MuonWithAdamW) and len(opt.param_groups) == 2
    muon, adamw = opt.param_groups
    assert [p.shape for p in muon["params"]] == [(32, 32)] and "ns_steps" in muon
    assert [tuple(p.shape) for p in adamw["params"]] == [(32, 40), (32,), (32,), (10, 32), (10,)]
    # One hidden layer: no hidden matrix, AdamW alone.
    alone = METHODS["muon"].build([torch.zeros(8, 4, requires_grad=True),
                                   torch.zeros(8, requires_grad=True),
                                   torch.zeros(2, 8, requires_grad=True)], {}, seed=0)
    assert len(alone.param_groups) == 1 and "betas" in alone.param_groups[0]


def test_the_schedule_free_loop_evaluates_at_x_as_the_library_says(mnist1d):
    # The lab's val loss is the model evaluated after optimizer.eval(): the library's own loop.
    from core.training.train import batch_generator, build_model, train
    import torch.nn.functional as F
    config = RunConfig(method="adamw_schedulefree", epochs=1, seed=2, device="cpu",
                       split="honest")
    lab = list(train(config, mnist1d))[0]
    from core.data import make_split
    split = make_split(mnist1d, "honest")
    x, y = torch.as_tensor(split.x_train, dtype=torch.float32), torch.as_tensor(split.y_train)
    model = build_model(config, torch.device("cpu"))
    opt = schedulefree.AdamWScheduleFree(model.parameters(), lr=config.lr)
    opt.train()
    perm = torch.randperm(len(y), generator=batch_generator(config))
    xs, ys = x[perm], y[perm]
    for i in range(0, len(y), 100):
        # the model spec's fast path, the kernels the lab's loop runs (the same bits)
        loss = F.cross_entropy(config.model_spec.forward(list(model.parameters()), xs[i:i + 100]),
                               ys[i:i + 100])
        loss.backward()
        opt.step()
        opt.zero_grad()
    xv = torch.as_tensor(split.x_val, dtype=torch.float32)
    yv = torch.as_tensor(split.y_val)
    with torch.no_grad():
        at_y = float(F.cross_entropy(model(xv), yv))
        opt.eval()
        at_x = float(F.cross_entropy(model(xv), yv))
    assert lab.val_loss == pytest.approx(at_x, rel=1e-6) and at_x != pytest.approx(at_y, rel=1e-4)


def test_evaluating_is_a_no_op_for_other_optimizers_and_restores_schedule_free():
    p = torch.nn.Parameter(torch.ones(3))
    with evaluating(torch.optim.Adam([p])):
        pass
    opt = schedulefree.SGDScheduleFree([p], lr=0.1)
    opt.train()
    p.grad = torch.ones(3)
    opt.step()
    opt.step()
    y = p.detach().clone()
    with evaluating(opt):
        assert not torch.equal(p, y) and not opt.param_groups[0]["train_mode"]
    assert torch.allclose(p, y, atol=1e-7) and opt.param_groups[0]["train_mode"]


RESUME = r"""
import json, sys, torch
torch.set_num_threads(1)   # as the tests run (conftest): the same sums, the same bits
sys.path.insert(0, {root!r})
from core.optim import METHODS
from test_baselines import _mlp_params, _run
phase, path = sys.argv[1], sys.argv[2]
out = {{}}
for key in {keys!r}:
    params = _mlp_params(dtype=torch.float32)
    opt = METHODS[key].build(params, {{}}, seed=0)
    if phase == "save":
        _run([opt], params, 5)
        torch.save({{"params": [p.detach() for p in params], "optim": opt.state_dict()}},
                   f"{{path}}/{{key}}.pt")
    else:
        saved = torch.load(f"{{path}}/{{key}}.pt", weights_only=False)
        with torch.no_grad():
            for p, s in zip(params, saved["params"]):
                p.copy_(s)
        opt.load_state_dict(saved["optim"])
        out[key] = [p.tolist() for p in _run([opt], params, 5, start=5)]
if out:
    json.dump(out, open(f"{{path}}/after.json", "w"))
"""


@pytest.mark.timeout(600)
def test_a_checkpoint_resumes_bit_for_bit_in_a_fresh_process(tmp_path):
    # float32, as the lab trains: torch's load_state_dict casts every state tensor but "step" to
    # the parameter's dtype, so NAdam's float32 mu_product becomes float64 next to float64
    # weights and torch.optim.NAdam itself then resumes only to rounding.
    script = RESUME.format(root=str(ROOT), keys=NEW)
    env_path = str(ROOT / "tests")
    for phase in ("save", "load"):
        done = subprocess.run([sys.executable, "-c", script, phase, str(tmp_path)], cwd=env_path,
                              capture_output=True, text=True, timeout=500)
        assert done.returncode == 0, done.stderr[-3000:]
    resumed = json.loads((tmp_path / "after.json").read_text())
    for key in NEW:
        params = _mlp_params(dtype=torch.float32)
        straight = _run([METHODS[key].build(params, {}, seed=0)], params, 10)
        assert [p.tolist() for p in straight] == resumed[key], key


@pytest.mark.parametrize("key", NEW)
def test_a_value_outside_a_knob_s_range_is_refused_naming_it_before_training(key):
    spec = METHODS[key]
    for hp in spec.hyperparams:
        for bad in (hp.low - max(1.0, abs(hp.low)), hp.high + max(1.0, abs(hp.high)),
                    math.nan):
            given = {"lr": bad} if hp.name == "lr" else {"hparams": {hp.name: bad}}
            with pytest.raises(ValueError, match=hp.name):
                RunConfig(method=key, **given)


@pytest.mark.parametrize("key", NEW)
def test_every_value_the_spec_allows_the_library_accepts(key):
    # Corners of each knob's range, one knob at a time: the library builds and steps.
    spec = METHODS[key]
    for hp in spec.hyperparams:
        for value in (hp.low, hp.high):
            params = _mlp_params()
            opt = spec.build(params, {hp.name: value}, seed=0)
            _run([opt], params, 2)


def test_the_cli_refuses_a_library_knob_out_of_range_with_exit_2():
    done = subprocess.run([sys.executable, "-m", "core", "train", "--method",
                           "adamw_schedulefree", "--beta1", "1.5", "--epochs", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2 and "beta1" in done.stderr


def _wrapped_over_baselines():
    from core.optim.adagrad import ADAGRAD
    from core.optim.adopt import ADOPT
    from core.optim.hessian_lr import hessian_lr_over
    from core.optim.lion import LION
    from core.optim.meta_curvature import meta_curvature_over
    from core.optim.nadam import NADAM
    from core.optim.radam import RADAM
    from core.optim.rmsprop import RMSPROP
    from core.optim.spec import lr_param
    from core.optim.weight_trajectory import weight_trajectory_over
    # Every wrapper over every elementwise baseline but MetaCurvatureLR over RMSprop (both name
    # a knob alpha). HessianLR feeds ~unit gradients: Adam-sized lrs.
    from core.optim.adamw_schedulefree import ADAMW_SCHEDULEFREE
    from core.optim.sgd_schedulefree import SGD_SCHEDULEFREE
    specs = []
    for wrap in (weight_trajectory_over, hessian_lr_over, meta_curvature_over):
        for base in (NADAM, RADAM, ADAGRAD, RMSPROP, LION, ADOPT, ADAMW_SCHEDULEFREE,
                     SGD_SCHEDULEFREE):
            if wrap is meta_curvature_over and base is RMSPROP:
                continue
            specs.append(wrap(base, lr_param(1e-3) if wrap is hessian_lr_over else None))
    return specs


@pytest.mark.timeout(300)
@pytest.mark.parametrize("spec", _wrapped_over_baselines(), ids=lambda s: s.key)
def test_wrappers_over_the_baselines_train_each_member_as_its_solo_run(spec, mnist1d,
                                                                       monkeypatch):
    from core.training.population import population_to_end
    from core.training.train import train
    monkeypatch.setitem(METHODS, spec.key, spec)
    assert spec.trains_together
    nudged = {"update_freq": 3, "alpha": 0.05} if "update_freq" in spec.defaults() else {}
    nudged.update({"beta": 0.5} if "beta" in spec.defaults() else {})
    lr = spec.hyperparam("lr").default
    configs = [RunConfig(method=spec.key, lr=lr * f, hparams=nudged, epochs=2, seed=3 + i,
                         device="cpu", split="honest", hidden=(32, 32))
               for i, f in enumerate((1.0, 1.7))]
    members = population_to_end(configs, mnist1d, dtype=torch.float64)
    for config, history in zip(configs, members):
        solo = list(train(config, mnist1d, dtype=torch.float64))
        for a, b in zip(solo, history, strict=True):
            for name in ("train_loss", "val_loss"):
                assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9, abs=1e-9)
            assert (a.test_loss is None) == (b.test_loss is None) and (
                a.test_loss is None or b.test_loss == pytest.approx(a.test_loss, rel=1e-9))
            assert b.lrs == pytest.approx(a.lrs, rel=1e-12)
            assert b.diagnostics == pytest.approx(a.diagnostics, rel=1e-9, abs=1e-9)

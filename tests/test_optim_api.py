"""Constructor checks, exact resume through state_dict, and wrappers passing their base through."""

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook

from core.models import MLP, init_generator
from core.optim import (METHODS, GNWAdam, HessianLRAdaptation, MetaCurvatureLR,
                        WeightTrajectoryLR, WNGD, backward)
from optim_helpers import make_params, quartic_loss


def adam():
    return torch.optim.Adam(make_params(), lr=1e-3)


BAD = [
    (lambda v: WNGD(make_params(), lr=v), [-1.0, math.nan, math.inf]),
    (lambda v: WNGD(make_params(), lr=0.1, eps=v), [-1e-8, math.nan]),
    (lambda v: GNWAdam(make_params(), lr=v), [-0.5, math.nan, math.inf]),
    (lambda v: GNWAdam(make_params(), eps=v), [-1e-9, math.inf]),
    (lambda v: GNWAdam(make_params(), betas=(v, 0.999)), [1.0, -0.1, math.nan]),
    (lambda v: GNWAdam(make_params(), betas=(0.9, v)), [1.5, -0.2]),
    (lambda v: GNWAdam(make_params(), weight_decay=v), [-0.1]),
    (lambda v: WeightTrajectoryLR(adam(), beta=v), [-0.25, math.nan, math.inf]),
    (lambda v: MetaCurvatureLR(adam(), alpha=v), [-3.0, math.nan, math.inf]),
    (lambda v: MetaCurvatureLR(adam(), update_freq=v), [0, -2, 2.5]),
    (lambda v: MetaCurvatureLR(adam(), n_samples=v), [0, -1]),
    (lambda v: HessianLRAdaptation(adam(), rho=v), [1.0, -0.01, 1.7, math.nan]),
    (lambda v: HessianLRAdaptation(adam(), eps=v), [-1.0, math.inf]),
]


@pytest.mark.parametrize("build,value", [(b, v) for b, vs in BAD for v in vs])
def test_bad_hyperparameter_raises_naming_the_value(build, value):
    with pytest.raises(ValueError) as info:
        build(value)
    assert str(value) in str(info.value)


def test_wrappers_reject_a_non_optimizer():
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        WeightTrajectoryLR(make_params(), beta=0.1)


def _batches(mnist1d):
    x = torch.as_tensor(mnist1d.x, dtype=torch.float32)
    y = torch.as_tensor(mnist1d.y)
    return [(x[i:i + 50], y[i:i + 50]) for i in range(0, 500, 50)]


def _step(model, opt, xb, yb):
    opt.zero_grad(set_to_none=True)
    backward(F.cross_entropy(model(xb), yb), opt, model.parameters())
    opt.step()


def _non_default_hparams(spec):
    """Defaults, nudged so that every method actually does something (update_freq 3, beta > 0)."""
    hp = spec.defaults()
    if "update_freq" in hp:
        hp.update(update_freq=3, alpha=0.05)
    if "beta" in hp:
        hp["beta"] = 0.5
    return hp


@pytest.mark.parametrize("key", sorted(METHODS))
def test_state_dict_resumes_exactly(key, mnist1d):
    spec = METHODS[key]
    hp = _non_default_hparams(spec)
    batches = _batches(mnist1d)

    straight = MLP(generator=init_generator(0))
    opt = spec.build(straight.parameters(), hp, seed=7)
    for xb, yb in batches:
        _step(straight, opt, xb, yb)

    first = MLP(generator=init_generator(0))
    opt1 = spec.build(first.parameters(), hp, seed=7)
    for xb, yb in batches[:5]:
        _step(first, opt1, xb, yb)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optim": opt1.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)

    # A fresh process would build everything anew, with a different probe seed even.
    resumed = MLP(generator=init_generator(99))
    resumed.load_state_dict(saved["model"])
    opt2 = spec.build(resumed.parameters(), spec.defaults(), seed=12345)
    opt2.load_state_dict(saved["optim"])
    for xb, yb in batches[5:]:
        _step(resumed, opt2, xb, yb)

    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("wrap", [
    lambda b: WeightTrajectoryLR(b, 0.3),
    lambda b: HessianLRAdaptation(b, 0.9),
    lambda b: MetaCurvatureLR(b, 0.1),
], ids=["weight_trajectory", "hessian_lr", "meta_curvature"])
def test_wrapper_passes_groups_and_state_through(wrap):
    params = make_params()
    base = torch.optim.Adam(params, lr=0.01)
    opt = wrap(base)
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.param_groups is base.param_groups
    assert opt.state is base.state
    for t in range(2):
        opt.zero_grad()
        backward(sum((p ** 4).sum() for p in params), opt, params)
        opt.step()
    # The base's per-parameter state holds Adam's keys only; the wrapper keeps its own apart.
    assert all(set(s) == {"step", "exp_avg", "exp_avg_sq"} for s in base.state.values())
    # A scheduler on the wrapper drives the base's lr.
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    before = base.param_groups[0]["lr"]
    opt.step()
    sched.step()
    assert base.param_groups[0]["lr"] == pytest.approx(before * 0.5)


def test_weight_trajectory_snapshots_params_added_later():
    a, b = make_params()
    opt = WeightTrajectoryLR(torch.optim.SGD([a], lr=0.1), beta=1.0)
    opt.add_param_group({"params": [b]})
    assert torch.equal(opt.wrapper_state[b]["initial"], b.detach())
    assert len(opt.param_groups) == 2


def test_registry_builds_every_method_and_defaults_are_valid():
    for spec in METHODS.values():
        opt = spec.build(make_params(), {}, seed=0)
        assert isinstance(opt, torch.optim.Optimizer)
        for hp in spec.hyperparams:
            assert hp.check(hp.default) == hp.default
        with pytest.raises(ValueError, match="no hyperparameter"):
            spec.resolve({"not_a_knob": 1})
    assert set(METHODS) == {"adam", "weight_trajectory", "wngd", "meta_curvature", "hessian_lr",
                            "gnw_adam", "sgd", "adamw", "nadam", "radam", "adagrad", "rmsprop",
                            "adafactor", "muon", "lion", "prodigy", "soap", "adopt",
                            "adamw_schedulefree", "sgd_schedulefree"}


def test_registry_rejects_out_of_range_values():
    spec = METHODS["hessian_lr"]
    with pytest.raises(ValueError, match="rho=1.5"):
        spec.resolve({"rho": 1.5})
    with pytest.raises(ValueError, match="whole number"):
        METHODS["meta_curvature"].resolve({"update_freq": 2.5})


def test_gnw_adam_runs_step_hooks_once():
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # any plain Adam hooks Adam.step
    params = make_params()
    opt = GNWAdam(params, lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    quartic_loss(params, 0).backward()
    opt.step()
    assert calls == ["pre", "post"]


WRAPPERS = [lambda b: WeightTrajectoryLR(b, 0.3), lambda b: HessianLRAdaptation(b, 0.9),
            lambda b: MetaCurvatureLR(b, 0.1)]
WRAPPER_IDS = ["weight_trajectory", "hessian_lr", "meta_curvature"]


@pytest.mark.parametrize("wrap", WRAPPERS, ids=WRAPPER_IDS)
def test_wrapper_step_runs_each_hook_once(wrap):
    # The base's step skips torch.optim's hook runner (the wrapper's already ran); hooks on the
    # base itself, the wrapper's, and global ones must still each run once per step.
    params = make_params()
    base = torch.optim.Adam(params, lr=0.01)
    opt = wrap(base)
    calls = []
    opt.register_step_pre_hook(lambda *_: calls.append("wrapper pre"))
    opt.register_step_post_hook(lambda *_: calls.append("wrapper post"))
    handle = register_optimizer_step_post_hook(lambda *_: calls.append("global post"))
    try:
        backward(quartic_loss(params, 0), opt, params)
        opt.step()
        assert calls == ["wrapper pre", "wrapper post", "global post"]
        calls.clear()
        base.register_step_pre_hook(lambda *_: calls.append("base pre"))
        opt.zero_grad()
        backward(quartic_loss(params, 1), opt, params)
        opt.step()
        assert calls == ["wrapper pre", "base pre", "global post", "wrapper post", "global post"]
    finally:
        handle.remove()


@pytest.mark.parametrize("wrap", WRAPPERS, ids=WRAPPER_IDS)
def test_wrapper_reloaded_in_place_resumes_exactly(wrap):
    # The wrappers keep lists of their per-parameter tensors between steps; loading a state_dict
    # into the same instance replaces those tensors, and the next steps must use the loaded ones.
    params = make_params()
    opt = wrap(torch.optim.Adam(params, lr=0.01))

    def steps(ts):
        out = []
        for t in ts:
            opt.zero_grad()
            backward(quartic_loss(params, t), opt, params)
            opt.step()
            out.append([p.detach().clone() for p in params])
        return out

    steps(range(3))
    # Adam's state_dict holds its live tensors: a deep copy is the snapshot.
    saved = {"optim": copy.deepcopy(opt.state_dict()), "params": [p.detach().clone() for p in params]}
    first = steps(range(3, 6))
    with torch.no_grad():
        for p, v in zip(params, saved["params"]):
            p.copy_(v)
    opt.load_state_dict(saved["optim"])
    again = steps(range(3, 6))
    for a, b in zip(first, again):
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_weight_trajectory_scales_agree_read_or_on_device():
    from core.optim.weight_trajectory import step_scales
    distances = [torch.tensor(0.0), torch.tensor(0.37), torch.tensor(12.5)]
    beta = 0.8
    want = [1 / (1 + beta * d) for d in (0.0, 0.37, 12.5)]
    read = step_scales(distances, beta, read=True)
    kept = step_scales(distances, beta, read=False)
    assert read == pytest.approx(want, rel=1e-7) and read[0] == 1.0
    assert [float(w) for w in kept] == pytest.approx(want, rel=1e-6) and float(kept[0]) == 1.0


@pytest.mark.parametrize("module, build", [
    ("core.optim.weight_trajectory", lambda params: WeightTrajectoryLR(
        torch.optim.Adam(params, lr=0.05), beta=0.7)),
    ("core.optim.gnw_adam", lambda params: GNWAdam(params, lr=0.05)),
], ids=["weight_trajectory", "gnw_adam"])
def test_accelerator_branch_gives_the_cpu_numbers(module, build, monkeypatch):
    # On an accelerator these steps keep their per-tensor numbers as tensors instead of reading
    # them as floats. No GPU here: force that branch on CPU and compare it with the read one.
    import importlib
    from optim_helpers import run_optimizer

    def run(read: bool):
        if not read:
            monkeypatch.setattr(importlib.import_module(module), "reads_are_free", lambda t: False)
        params = make_params()
        history = run_optimizer(build(params), params, 40)
        monkeypatch.undo()
        return history

    read, kept = run(True), run(False)
    moved = max(float((a - b.detach()).abs().max()) for a, b in zip(read[-1], make_params()))
    assert moved > 0.1
    for a, b in zip(read, kept):
        for x, y in zip(a, b):
            assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)

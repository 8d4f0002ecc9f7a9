"""Edge cases an independent conformance suite found in the optimizer library (issue 20, "The
optimizer library" 1-7): empty groups, a NaN estimate's checkpoint, refused calls that must
change nothing, a compiled step's diagnostics, a failed base step, population forms a spec
claims, and WeightTrajectoryLR's scale for a huge beta * distance."""

import copy
import math

import pytest
import torch

from core.optim import (METHODS, WNGD, HessianLRAdaptation, MetaCurvatureLR, WeightTrajectoryLR,
                        backward)
from core.optim.hessian_lr import HESSIAN_LR, hessian_lr_over
from core.optim.meta_curvature import meta_curvature_over
from core.optim.plugins import probe
from core.optim.weight_trajectory import weight_trajectory_over
from optim_helpers import make_params, quartic_loss

WRAPPERS = {"weight_trajectory": lambda base: WeightTrajectoryLR(base, beta=0.5),
            "meta_curvature": lambda base: MetaCurvatureLR(base, alpha=0.1, update_freq=2),
            "hessian_lr": lambda base: HessianLRAdaptation(base)}
WRAPPER_METHODS = (weight_trajectory_over, meta_curvature_over, hessian_lr_over)


def _step(opt, params, t=0):
    opt.zero_grad()
    backward(quartic_loss(params, t), opt, params)
    opt.step()


# ---- 1. empty param groups, as torch accepts them ----------------------------------------------

@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_a_wrapper_over_an_empty_group_builds_steps_and_saves(name):
    opt = WRAPPERS[name](torch.optim.Adam([{"params": []}]))
    opt.step()   # nothing to step, as for torch's Adam
    again = WRAPPERS[name](torch.optim.Adam([{"params": []}]))
    again.load_state_dict(opt.state_dict())
    # a group added later trains as usual
    params = make_params()
    opt.add_param_group({"params": params})
    before = [p.detach().clone() for p in params]
    _step(opt, params)
    assert all(not torch.equal(a, p) for a, p in zip(before, params))


def test_wngd_over_an_empty_group_steps():
    opt = WNGD([{"params": []}])
    opt.step()
    assert opt.weight_norms.numel() == 0


# ---- 2. a NaN estimate keeps a checkpoint loadable --------------------------------------------

def test_a_nan_estimate_keeps_the_factor_and_the_checkpoint_loads():
    params = make_params()
    opt = MetaCurvatureLR(torch.optim.SGD(params, lr=0.1), alpha=0.5, update_freq=1)
    _step(opt, params)
    factor = opt.curvature_factor
    assert 0.0 < factor < 1.0
    opt.zero_grad()
    backward(quartic_loss(params, 1) * float("nan"), opt, params)
    opt.step()
    assert math.isnan(opt.last_trace) and opt.curvature_factor == factor
    fresh = MetaCurvatureLR(torch.optim.SGD(make_params(), lr=0.1), alpha=0.5, update_freq=1)
    fresh.load_state_dict(opt.state_dict())   # its own checkpoint, NaN trace and all
    assert fresh.curvature_factor == factor and math.isnan(fresh.last_trace)


# ---- 3. a refused add_param_group changes nothing ---------------------------------------------

@pytest.mark.parametrize("build, group, error", [
    (lambda p: WNGD(p), {"lr": "big"}, ValueError),
    (lambda p: WNGD(p), {"eps": -1.0}, ValueError),
    (lambda p: HessianLRAdaptation(torch.optim.SGD(p, lr=0.1)), "complex", ValueError),
], ids=["wngd-lr", "wngd-eps", "hessian_lr-complex"])
def test_a_refused_param_group_is_not_added(build, group, error):
    params = make_params()
    opt = build(params)
    extra = (torch.zeros(2, dtype=torch.complex128, requires_grad=True) if group == "complex"
             else torch.zeros(2, dtype=torch.float64, requires_grad=True))
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(error):
        opt.add_param_group({"params": [extra], **({} if group == "complex" else group)})
    assert len(opt.param_groups) == 1 and opt.state_dict()["param_groups"] == \
        before["param_groups"]
    if hasattr(opt, "wrapper_state"):
        assert extra not in opt.wrapper_state
    _step(opt, params)   # and it still steps


# ---- 4. a compiled step keeps every diagnostic ------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("key", sorted(k for k in METHODS if METHODS[k].key in
                                       {"weight_trajectory", "wngd", "meta_curvature",
                                        "hessian_lr", "gnw_adam"}))
def test_a_compiled_step_gives_the_eager_weights_and_diagnostics(key):
    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        x, y = torch.randn(8, 4), torch.randn(8, 3)
        opt = METHODS[key].build(list(model.parameters()), {}, 0)
        step = torch.compile(opt.step, backend="eager") if compiled else opt.step
        for _ in range(3):
            opt.zero_grad()
            backward(((model(x) - y) ** 2).sum(), opt)
            step()
        runs.append((opt.diagnostics(), [p.detach().clone() for p in model.parameters()]))
    (eager, eager_w), (compiled, compiled_w) = runs
    assert compiled == eager and all(torch.equal(a, b) for a, b in zip(eager_w, compiled_w))
    assert all(v != [] for v in compiled.values())


# ---- 5. a failed step changes nothing ---------------------------------------------------------

class Refused(RuntimeError):
    pass


def _refuse(*args):
    raise Refused("the base refused this step")


@pytest.mark.parametrize("name", sorted(WRAPPERS))
@pytest.mark.parametrize("at_step", [0, 1, 2])
def test_a_step_whose_base_raises_leaves_the_wrapper_as_it_was(name, at_step):
    params = make_params()
    opt = WRAPPERS[name](torch.optim.Adam(params, lr=0.01))
    twin_params = make_params()
    twin = WRAPPERS[name](torch.optim.Adam(twin_params, lr=0.01))
    for t in range(at_step):
        _step(opt, params, t)
        _step(twin, twin_params, t)
    saved = copy.deepcopy(opt.state_dict())
    opt.zero_grad()
    backward(quartic_loss(params, at_step), opt, params)
    grads = [p.grad.detach().clone() for p in params]
    handle = opt.base.register_step_pre_hook(_refuse)
    with pytest.raises(Refused):
        opt.step()
    handle.remove()
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads)), "the raw gradients"
    after = opt.state_dict()
    assert after["wrapper"].keys() == saved["wrapper"].keys()
    for key, value in saved["wrapper"].items():
        got = after["wrapper"][key]
        assert torch.equal(got, value) if torch.is_tensor(value) else (
            got == value or (isinstance(value, float) and math.isnan(value) and math.isnan(got))
        ), key
    assert after["wrapper_state"].keys() == saved["wrapper_state"].keys()
    for i, state in saved["wrapper_state"].items():
        assert all(torch.equal(after["wrapper_state"][i][k], v) for k, v in state.items())
    # the step retried then is the step the twin takes: nothing was spent or advanced
    opt.step()
    _step(twin, twin_params, at_step)
    assert all(torch.equal(a, b) for a, b in zip(params, twin_params))
    _step(opt, params, at_step + 1)
    _step(twin, twin_params, at_step + 1)
    assert all(torch.equal(a, b) for a, b in zip(params, twin_params))


# ---- 6. a spec never claims a population form it cannot build ---------------------------------

def _every_spec():
    """The registry's methods and every wrapper over every one of them (wrappers included)."""
    specs = dict(METHODS)
    for wrap in WRAPPER_METHODS:
        for base in METHODS.values():
            try:
                spec = wrap(base)
            except ValueError:   # a knob of the same name: no such method can be made
                continue
            specs.setdefault(spec.key, spec)
    return specs


@pytest.mark.parametrize("key", sorted(_every_spec()))
def test_every_claimed_population_form_builds_and_steps(key):
    spec = _every_spec()[key]
    assert spec.trains_together != spec.one_after_another
    probe(spec)   # builds and steps the optimizer, and the population form if it claims one


def test_a_wrapper_over_a_wrapper_trains_one_member_after_another():
    spec = weight_trajectory_over(HESSIAN_LR)
    assert not spec.trains_together and spec.one_after_another


# ---- 7. a huge beta * distance shrinks the step, never drops it --------------------------------

@pytest.mark.parametrize("beta", [1e15, 1e17, 1e30])
def test_weight_trajectory_scales_the_step_by_s_even_when_s_is_tiny(beta):
    p = torch.nn.Parameter(torch.tensor([3.0, -4.0], dtype=torch.float64))   # ||p - p0|| = 5
    opt = WeightTrajectoryLR(torch.optim.SGD([p], lr=1.0), beta=beta)
    with torch.no_grad():
        p.add_(torch.tensor([3.0, 4.0], dtype=torch.float64))   # moved away: d = 5
    before = p.detach().clone()
    p.grad = torch.tensor([1.0, 1.0], dtype=torch.float64) * 1e20   # a huge base step
    opt.step()
    s = 1.0 / (1.0 + beta * 5.0)
    expected = before - s * p.grad
    assert torch.allclose(p.detach(), expected, rtol=1e-12, atol=0)
    assert not torch.equal(p.detach(), before), "the step is scaled, not lost"
    assert float(opt.factors[0]) == pytest.approx(s, rel=1e-12)

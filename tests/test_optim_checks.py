"""What the optimizers refuse, and how: bad checkpoints, sparse and complex input, bad seeds, a
compiled model; and the state_dict's torch format with its hooks (issues 10 and 13)."""

import copy
import math

import pytest
import torch

from core.optim import (GNWAdam, HessianLRAdaptation, MetaCurvatureLR, WeightTrajectoryLR, WNGD,
                        backward)
from optim_helpers import OPTIMIZERS, make_params, quartic_loss

NAMES = sorted(OPTIMIZERS)
# The lab's own optimizers; the registry's baselines (Adam, AdamW, SGD, and the library classes
# the lab subclasses only to copy or resume them exactly) are their libraries' business.
LIBRARIES = ("torch.", "pytorch_optimizer", "schedulefree")


def _ours(optimizer) -> bool:
    cls = type(optimizer)
    return cls.__module__.startswith("core.") and not any(
        c.__module__.startswith(LIBRARIES) and c is not torch.optim.Optimizer
        for c in cls.__mro__[1:])


OURS = [n for n in NAMES if _ours(OPTIMIZERS[n](make_params()))]


def trained(name, steps=3):
    params = make_params()
    opt = OPTIMIZERS[name](params)
    for t in range(steps):
        opt.zero_grad()
        backward(quartic_loss(params, t), opt, params)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_torch_format_and_runs_the_hooks(name):
    params, opt = trained(name)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "tagged": True})
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append(("load pre", sd["tagged"])))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load post"))
    saved = opt.state_dict()
    assert {"state", "param_groups", "tagged"} <= set(saved)
    assert saved["param_groups"][0]["params"] == [0, 1]
    opt.load_state_dict(saved)
    assert calls == ["pre", ("load pre", True), "load post"]


@pytest.mark.parametrize("name", [n for n in NAMES if "/" in n])
def test_wrappers_still_load_the_older_layout(name):
    params, opt = trained(name)
    saved = copy.deepcopy(opt.state_dict())
    own = dict(saved["wrapper"])
    if isinstance(opt, MetaCurvatureLR):   # the scaled lr lived in the group then
        factor = own.pop("curvature_factor")
        own["initial_lrs"] = [g["lr"] for g in saved["param_groups"]]
        for g in saved["param_groups"]:
            g["lr"] = g["lr"] * factor
    older = {"base": {"state": saved["state"], "param_groups": saved["param_groups"]},
             "wrapper_state": saved["wrapper_state"], "wrapper": own}
    params2 = [p.detach().clone().requires_grad_() for p in params]
    opt2 = OPTIMIZERS[name](params2)
    opt2.load_state_dict(older)
    for t in range(3, 5):
        for o, ps in ((opt, params), (opt2, params2)):
            o.zero_grad()
            backward(quartic_loss(ps, t), o, ps)
            o.step()
        assert all(torch.allclose(p, q, rtol=1e-14, atol=0) for p, q in zip(params, params2))


@pytest.mark.parametrize("name", OURS)
def test_load_refuses_another_class(name):
    _, opt = trained(name)
    other = "wngd" if name != "wngd" else "adam"
    foreign = trained(other)[1].state_dict()
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match="saved by|another optimizer|does not use"):
        opt.load_state_dict(foreign)
    assert repr(opt.state_dict()) == repr(before)


@pytest.mark.parametrize("name", [n for n in OURS if n != "wngd"])   # WNGD keeps no state
def test_load_refuses_wrong_shapes(name):
    _, opt = trained(name)
    saved = copy.deepcopy(opt.state_dict())
    per_param = saved.get("wrapper_state") or saved["state"]
    entry = per_param[0] if per_param.get(0) else per_param[next(iter(per_param))]
    key = next(k for k, v in entry.items() if torch.is_tensor(v) and v.dim() > 0)
    entry[key] = torch.zeros(7, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"'{key}' for parameter .* has shape \\(7,\\)"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize("name, key, value", [
    ("meta_curvature/adam", "update_freq", 0), ("meta_curvature/adam", "alpha", -1.0),
    ("meta_curvature/adam", "curvature_factor", 3.0),
    ("weight_trajectory/adam", "beta", math.nan), ("hessian_lr/adam", "rho", -5.0),
    ("hessian_lr/adam", "eps", math.inf)])
def test_load_checks_values_as_the_constructor_does(name, key, value):
    params, opt = trained(name)
    saved = copy.deepcopy(opt.state_dict())
    saved["wrapper"][key] = value
    with pytest.raises(ValueError, match=f"Invalid {key}"):
        opt.load_state_dict(saved)
    assert getattr(opt, key) != value


@pytest.mark.parametrize("name", OURS)
def test_sparse_gradients_are_refused_with_one_message(name):
    params = make_params()
    opt = OPTIMIZERS[name](params)
    for p in params:
        p.grad = torch.ones_like(p).to_sparse()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()


def test_hessian_lr_refuses_complex_parameters():
    z = torch.randn(3, dtype=torch.complex128, requires_grad=True)
    with pytest.raises(ValueError, match="complex"):
        HessianLRAdaptation(torch.optim.Adam([z]))
    opt = HessianLRAdaptation(torch.optim.Adam(make_params()))
    with pytest.raises(ValueError, match="complex"):
        opt.add_param_group({"params": [z]})


@pytest.mark.parametrize("seed", [-1, True, torch.tensor(3), 2 ** 64, 1.5, "7"])
def test_meta_curvature_refuses_bad_seeds_naming_it(seed):
    with pytest.raises(ValueError, match="Invalid seed"):
        MetaCurvatureLR(torch.optim.Adam(make_params()), seed=seed)


def test_wngd_weight_decay_is_the_coupled_l2_form():
    params = make_params()
    wd, lr, eps = 0.3, 0.05, 1e-8
    opt = WNGD(params, lr=lr, eps=eps, weight_decay=wd)
    before = [p.detach().clone() for p in params]
    quartic_loss(params, 0).backward()
    grads = [p.grad.clone() for p in params]
    opt.step()
    for b, g, p in zip(before, grads, params):
        assert torch.allclose(p, b - lr * (g + wd * b) / (b.norm() + eps), rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match="weight_decay"):
        WNGD(make_params(), weight_decay=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "weight_decay": -2})


class _Proxy(torch.optim.Optimizer):
    """What accelerate's AcceleratedOptimizer and Lightning's LightningOptimizer look like to
    backward(): the real optimizer as ``.optimizer``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def step(self, closure=None):
        return self.optimizer.step(closure)


def test_backward_sees_through_a_framework_proxy():
    params = make_params()
    proxy = _Proxy(MetaCurvatureLR(torch.optim.Adam(params, lr=0.01), alpha=0.1))
    backward(quartic_loss(params, 0), proxy)
    proxy.step()
    assert math.isfinite(proxy.optimizer.last_trace)


def test_meta_curvature_names_torch_compile_as_the_cause():
    model = torch.nn.Linear(4, 2)
    compiled = torch.compile(model, backend="aot_eager")
    opt = MetaCurvatureLR(torch.optim.Adam(model.parameters(), lr=0.01), alpha=0.1)
    backward(torch.tanh(compiled(torch.randn(3, 4))).pow(2).sum(), opt)
    with pytest.raises(RuntimeError, match="torch.compile"):
        opt.step()


def test_meta_curvature_counts_steps_under_a_compiled_step():
    params = make_params()
    opt = MetaCurvatureLR(torch.optim.SGD(params, lr=0.01), alpha=0.1, update_freq=3)
    step = torch.compile(opt.step, backend="eager")
    estimates = []
    for t in range(6):
        estimates.append(opt.needs_create_graph)
        opt.zero_grad()
        backward(quartic_loss(params, t), opt, params)
        step()
    assert opt.step_count == 6
    assert estimates == [True, False, False, True, False, False]


@pytest.mark.parametrize("cls, attribute", [(WNGD, "weight_norms"), (GNWAdam, "grad_norm")])
def test_plain_optimizers_keep_their_diagnostics_through_a_copy(cls, attribute):
    params = make_params()
    opt = cls(params, lr=0.01)
    quartic_loss(params, 0).backward()
    opt.step()
    clone = copy.deepcopy(opt)
    assert torch.equal(torch.as_tensor(getattr(clone, attribute)),
                       torch.as_tensor(getattr(opt, attribute)))
    assert WeightTrajectoryLR  # the wrappers' own attributes: test_copies_continue_identically

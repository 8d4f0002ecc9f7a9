"""Each optimizer against its formula written out by hand, over many steps, in float64."""

import math

import pytest
import torch

from core.optim import (GNWAdam, HessianLRAdaptation, MetaCurvatureLR, WeightTrajectoryLR, WNGD,
                        backward, hutchinson_trace)
from optim_helpers import adam_reference, grads_at, make_params, quartic_loss, run_optimizer

STEPS = 60


def assert_histories_close(got, want, rtol=1e-10, atol=1e-12):
    assert len(got) == len(want)
    for t, (g, w) in enumerate(zip(got, want)):
        for i, (a, b) in enumerate(zip(g, w)):
            assert torch.allclose(a, b, rtol=rtol, atol=atol), f"step {t + 1}, tensor {i}: {a} vs {b}"


def test_wngd_matches_formula():
    params = make_params()
    lr, eps = 0.05, 1e-3
    got = run_optimizer(WNGD(params, lr=lr, eps=eps), params, STEPS)
    ps = [p.detach().clone() for p in make_params()]
    want = []
    for t in range(STEPS):
        gs = grads_at(ps, t)
        ps = [p - lr * g / (torch.linalg.vector_norm(p) + eps) for p, g in zip(ps, gs)]
        want.append([p.clone() for p in ps])
    assert_histories_close(got, want)


def test_gnw_adam_matches_adam_with_lr_over_one_plus_global_norm():
    params = make_params()
    lr = 0.02

    def lr_for(t, i, ps, gs):
        norm = math.sqrt(sum(float((g ** 2).sum()) for g in gs))
        return lr / (1 + norm)

    got = run_optimizer(GNWAdam(params, lr=lr), params, STEPS)
    assert_histories_close(got, adam_reference(make_params(), STEPS, lr_for))


def test_gnw_adam_global_norm_spans_all_groups():
    a, b = make_params()
    opt = GNWAdam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    quartic_loss([a, b], 0).backward()
    expected = math.sqrt(float((a.grad ** 2).sum() + (b.grad ** 2).sum()))
    opt.step()
    assert float(opt.grad_norm) == pytest.approx(expected, rel=1e-12)
    assert opt.effective_lrs() == pytest.approx([0.1 / (1 + expected), 0.5 / (1 + expected)])
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]  # the base lrs are restored


def test_weight_trajectory_matches_adam_with_per_tensor_scaled_lr():
    params = make_params()
    init = [p.detach().clone() for p in params]
    lr, beta = 0.05, 0.7

    def lr_for(t, i, ps, gs):
        return lr / (1 + beta * float(torch.linalg.vector_norm(ps[i] - init[i])))

    opt = WeightTrajectoryLR(torch.optim.Adam(params, lr=lr), beta=beta)
    got = run_optimizer(opt, params, STEPS)
    assert_histories_close(got, adam_reference(make_params(), STEPS, lr_for))
    # The exposed factors are those of the last step.
    last_before = adam_reference(make_params(), STEPS - 1, lr_for)[-1]
    want = [1 / (1 + beta * float(torch.linalg.vector_norm(p - p0))) for p, p0 in zip(last_before, init)]
    assert opt.factors.tolist() == pytest.approx(want, rel=1e-10)


def test_weight_trajectory_on_sgd_momentum_matches_formula():
    params = make_params()
    init = [p.detach().clone() for p in params]
    lr, mu, beta = 0.01, 0.9, 2.0
    got = run_optimizer(WeightTrajectoryLR(torch.optim.SGD(params, lr=lr, momentum=mu), beta),
                        params, STEPS)
    ps = [p.detach().clone() for p in make_params()]
    bufs = [None, None]
    want = []
    for t in range(STEPS):
        gs = grads_at(ps, t)
        for i in range(2):
            s = 1 / (1 + beta * torch.linalg.vector_norm(ps[i] - init[i]))
            bufs[i] = gs[i].clone() if bufs[i] is None else mu * bufs[i] + gs[i]
            ps[i] = ps[i] - lr * s * bufs[i]
        want.append([p.clone() for p in ps])
    assert_histories_close(got, want)


def test_weight_trajectory_on_adamw_scales_decay_too():
    params = make_params()
    init = [p.detach().clone() for p in params]
    lr, wd, beta = 0.03, 0.1, 0.5
    opt = WeightTrajectoryLR(torch.optim.AdamW(params, lr=lr, weight_decay=wd), beta)
    got = run_optimizer(opt, params, 20)
    # AdamW at lr*s: p <- p (1 - lr s wd) - lr s m_hat / (sqrt(v_hat) + eps)
    ps = [p.detach().clone() for p in make_params()]
    m = [torch.zeros_like(p) for p in ps]
    v = [torch.zeros_like(p) for p in ps]
    want = []
    for t in range(20):
        gs = grads_at(ps, t)
        for i in range(2):
            s = 1 / (1 + beta * torch.linalg.vector_norm(ps[i] - init[i]))
            m[i] = 0.9 * m[i] + 0.1 * gs[i]
            v[i] = 0.999 * v[i] + 0.001 * gs[i] ** 2
            update = (m[i] / (1 - 0.9 ** (t + 1))) / ((v[i] / (1 - 0.999 ** (t + 1))).sqrt() + 1e-8)
            ps[i] = ps[i] * (1 - lr * s * wd) - lr * s * update
        want.append([p.clone() for p in ps])
    assert_histories_close(got, want)


def test_hessian_lr_matches_formula_on_sgd():
    params = make_params()
    lr, rho, eps = 0.01, 0.8, 1e-6
    got = run_optimizer(HessianLRAdaptation(torch.optim.SGD(params, lr=lr), rho=rho, eps=eps),
                        params, STEPS)
    ps = [p.detach().clone() for p in make_params()]
    h = [torch.zeros_like(p) for p in ps]
    prev = None
    want = []
    for t in range(STEPS):
        gs = grads_at(ps, t)
        if prev is None:
            seen = gs
        else:
            seen = []
            for i in range(2):
                h[i] = rho * h[i] + (1 - rho) * (gs[i] - prev[i]) ** 2
                seen.append(gs[i] / (h[i].sqrt() + eps))
        prev = gs
        ps = [p - lr * g for p, g in zip(ps, seen)]
        want.append([p.clone() for p in ps])
    assert_histories_close(got, want)


def test_hessian_lr_leaves_raw_gradient_in_grad():
    params = make_params()
    opt = HessianLRAdaptation(torch.optim.SGD(params, lr=0.01), rho=0.5)
    for t in range(3):
        opt.zero_grad()
        quartic_loss(params, t).backward()
        raw = [p.grad.clone() for p in params]
        opt.step()
        assert all(torch.equal(p.grad, r) for p, r in zip(params, raw))


def quartic_diagonal(a):
    """f(x) = sum(a x^4) / 12 has the diagonal Hessian a x^2, so its trace is sum(a x^2)."""
    return lambda x: (a * x ** 4).sum() / 12


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(50, generator=g, dtype=torch.float64) + 0.5
    x = torch.randn(50, generator=g, dtype=torch.float64).requires_grad_()
    grad = torch.autograd.grad(quartic_diagonal(a)(x), [x], create_graph=True)
    trace = hutchinson_trace(list(grad), [x], n_samples=3, generator=torch.Generator().manual_seed(0))
    assert float(trace) == pytest.approx(float((a * x.detach() ** 2).sum()), rel=1e-12)


def test_hutchinson_probes_are_rademacher_not_all_ones():
    # randint(0, 1) would give only zeros (probe -1 everywhere), hiding off-diagonal terms.
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    values = set()
    for _ in range(40):
        # f = x0 x1 has Hessian [[0, 1], [1, 0]]: v^T H v = 2 v0 v1, whose mean (the trace) is 0.
        grad = torch.autograd.grad(x[0] * x[1], [x], create_graph=True)
        values.add(float(hutchinson_trace(list(grad), [x], 1, gen)))
    assert values == {-2.0, 2.0}


@pytest.mark.parametrize("a_sign", [1.0, -1.0])
def test_meta_curvature_sets_lr_from_exact_trace(a_sign):
    g = torch.Generator().manual_seed(1)
    a = a_sign * (torch.rand(20, generator=g, dtype=torch.float64) + 0.5)
    x = torch.randn(20, generator=g, dtype=torch.float64).requires_grad_()
    f = quartic_diagonal(a)
    lr0, alpha, freq = 0.05, 0.3, 3
    opt = MetaCurvatureLR(torch.optim.SGD([x], lr=lr0), alpha=alpha, update_freq=freq)
    schedule, lrs = [], []
    for step in range(1, 8):
        needs = opt.needs_create_graph
        schedule.append(needs)
        trace_here = float((a * x.detach() ** 2).sum())
        opt.zero_grad()
        grads = torch.autograd.grad(f(x), [x], create_graph=needs)
        x.grad = grads[0]
        opt.step()
        if needs:
            assert opt.last_trace == pytest.approx(trace_here, rel=1e-12)
            expected_lr = lr0 / (1 + alpha * max(trace_here, 0.0))
        lrs.append(opt.effective_lrs()[0])
        assert lrs[-1] == pytest.approx(expected_lr, rel=1e-12)
        assert opt.param_groups[0]["lr"] == lr0   # the group keeps the lr a scheduler set
    assert schedule == [True, False, False, True, False, False, True]
    if a_sign < 0:
        assert all(lr == lr0 for lr in lrs)  # a negative trace never raises the lr


def test_meta_curvature_without_graph_raises_clearly():
    params = make_params()
    opt = MetaCurvatureLR(torch.optim.Adam(params, lr=1e-3), alpha=0.1)
    quartic_loss(params, 0).backward()
    with pytest.raises(RuntimeError, match="create_graph=True"):
        opt.step()


@pytest.mark.parametrize("make_wrapper", [
    lambda base: WeightTrajectoryLR(base, beta=0.0),
    lambda base: MetaCurvatureLR(base, alpha=0.0, update_freq=7),
], ids=["weight_trajectory_beta0", "meta_curvature_alpha0"])
def test_switched_off_wrapper_equals_adam_step_for_step(make_wrapper, mnist1d):
    from core.models import MLP, init_generator
    import torch.nn.functional as F
    x = torch.as_tensor(mnist1d.x, dtype=torch.float32)
    y = torch.as_tensor(mnist1d.y)
    models = [MLP(generator=init_generator(5)) for _ in range(2)]
    plain = torch.optim.Adam(models[0].parameters(), lr=1e-2)
    wrapped = make_wrapper(torch.optim.Adam(models[1].parameters(), lr=1e-2))
    for step in range(100):
        rows = slice((step * 100) % 4000, (step * 100) % 4000 + 100)
        for model, opt in ((models[0], plain), (models[1], wrapped)):
            opt.zero_grad()
            backward(F.cross_entropy(model(x[rows]), y[rows]), opt, model.parameters())
            opt.step()
        for p, q in zip(models[0].parameters(), models[1].parameters()):
            assert torch.equal(p, q), f"differs at step {step + 1}"


@pytest.mark.parametrize("make_wrapper", [
    lambda base: HessianLRAdaptation(base, rho=0.7, eps=1e-6),
    lambda base: WeightTrajectoryLR(base, beta=0.5),
], ids=["hessian_lr", "weight_trajectory"])
def test_flat_buffers_equal_the_per_tensor_path_bit_for_bit(make_wrapper, monkeypatch):
    # These wrappers keep their per-parameter tensors as views of flat buffers when the params
    # allow it; mixed dtypes fall back to one tensor at a time. Both must give the same numbers.
    from core.optim import _flat

    def run(flat: bool):
        if not flat:
            monkeypatch.setattr(_flat.FlatLayout, "fits", staticmethod(lambda tensors: False))
        params = make_params()
        opt = make_wrapper(torch.optim.Adam(params, lr=0.01))
        history = run_optimizer(opt, params, STEPS)
        monkeypatch.undo()
        return history, opt

    (flat, flat_opt), (per_tensor, per_tensor_opt) = run(True), run(False)
    fast = flat_opt._plan.flat if hasattr(flat_opt, "_plan") else flat_opt._cached.flat
    assert fast is not None, "fast path not taken"
    for a, b in zip(flat, per_tensor):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    # What a checkpoint stores is the same too (for HessianLR, prev_grad is the last raw gradient).
    saved, want = flat_opt.state_dict()["wrapper_state"], per_tensor_opt.state_dict()["wrapper_state"]
    for i in want:
        assert saved[i].keys() == want[i].keys()
        assert all(torch.equal(saved[i][k], want[i][k]) for k in want[i])

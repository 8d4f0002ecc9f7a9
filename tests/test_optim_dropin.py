"""Every optimizer used as torch.optim.Adam is used: under the LR schedulers, a GradScaler,
gradient accumulation, frozen and unused parameters, deep copies and pickles, and a checkpoint
loaded in a fresh process (issue 10's acceptance list)."""

import copy
import io
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.optim import lr_scheduler

from core.optim import MetaCurvatureLR, backward
from optim_helpers import OPTIMIZERS, make_params, quartic_loss

NAMES = sorted(OPTIMIZERS)
ROOT = Path(__file__).resolve().parent.parent


def one_step(opt, params, t, scale=1.0, set_to_none=True):
    opt.zero_grad(set_to_none=set_to_none)
    backward(quartic_loss(params, t) * scale, opt, params)
    opt.step()


def snapshot(params):
    return [p.detach().clone() for p in params]


def assert_same(a, b):
    assert all(torch.equal(x, y) for x, y in zip(a, b))


SCHEDULERS = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5),
    "linear_warmup": lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
    "plateau": lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=0),
    "lambda": lambda o: lr_scheduler.LambdaLR(o, lambda t: 1.0 / (1 + t)),
}


def _advance(scheduler):
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(1.0)   # a flat metric: every step is a plateau
    else:
        scheduler.step()


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", NAMES)
def test_scheduler_sets_the_lr_each_step_uses(name, sched):
    # The lrs a scheduler gives torch.optim.Adam, set by hand on an unscheduled twin, must give
    # the scheduled optimizer's numbers bit for bit.
    steps = 6
    reference = torch.optim.Adam(make_params(), lr=OPTIMIZERS[name](make_params()).param_groups[0]["lr"])
    ref_sched, lrs = SCHEDULERS[sched](reference), []
    for _ in range(steps):
        lrs.append(reference.param_groups[0]["lr"])
        reference.step()
        _advance(ref_sched)
    assert len(set(lrs)) > 1

    params, twin = make_params(), make_params()
    opt, by_hand = OPTIMIZERS[name](params), OPTIMIZERS[name](twin)
    scheduler = SCHEDULERS[sched](opt)
    for t, lr in enumerate(lrs):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
        for group in by_hand.param_groups:
            group["lr"] = opt.param_groups[0]["lr"]
        one_step(opt, params, t)
        one_step(by_hand, twin, t)
        _advance(scheduler)
        assert_same(params, twin)


@pytest.mark.parametrize("base", [lambda ps: torch.optim.SGD(ps, lr=0.1),
                                  lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.0)])
def test_meta_curvature_scales_the_scheduled_lr(base):
    # Each step moves by (scheduled lr) x (curvature factor) x g: a warm-up is not overridden.
    params = make_params()
    opt = MetaCurvatureLR(base(params), alpha=0.05, update_freq=3)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=4)
    for t in range(8):
        scheduled = opt.param_groups[0]["lr"]
        before = snapshot(params)
        opt.zero_grad()
        backward(quartic_loss(params, t), opt, params)
        grads = [p.grad.detach().clone() for p in params]
        opt.step()
        factor = opt.curvature_factor
        assert 0 < factor < 1 and opt.effective_lrs()[0] == scheduled * factor
        for b, p, g in zip(before, params, grads):
            assert torch.allclose(b - p, scheduled * factor * g, rtol=1e-12, atol=0)
        warmup.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def _scaler_run(name, inject_inf_at=None, scale=2.0 ** 16):
    params = make_params()
    opt = OPTIMIZERS[name](params)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=1000)
    out = []
    for t in range(5):
        opt.zero_grad()
        backward(scaler.scale(quartic_loss(params, t)), opt, params)
        if t == inject_inf_at:
            before = (snapshot(params), copy.deepcopy(opt.state_dict()))
            with torch.no_grad():
                params[0].grad[0, 0] = float("inf")
        scaler.step(opt)
        scaler.update()
        if t == inject_inf_at:
            assert_same(params, before[0])
            assert_state_dicts_equal(opt.state_dict(), before[1])
        out.append(snapshot(params))
    return out


def assert_state_dicts_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_state_dicts_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_state_dicts_equal(x, y)
    elif torch.is_tensor(a):
        assert torch.equal(a, b)
    else:
        assert a == b or (a != a and b != b)   # NaN before a first estimate


@pytest.mark.parametrize("name", NAMES)
def test_grad_scaler_gives_the_unscaled_numbers(name):
    # A power-of-two loss scale is exact in floating point, so the scaled run is the plain one.
    plain = []
    params = make_params()
    opt = OPTIMIZERS[name](params)
    for t in range(5):
        one_step(opt, params, t)
        plain.append(snapshot(params))
    for a, b in zip(plain, _scaler_run(name)):
        assert_same(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_grad_scaler_skips_an_inf_step_untouched(name):
    _scaler_run(name, inject_inf_at=2)


@pytest.mark.parametrize("name", NAMES)
def test_accumulated_micro_batches_equal_the_full_batch(name):
    params, twin = make_params(), make_params()
    full, accumulated = OPTIMIZERS[name](params), OPTIMIZERS[name](twin)
    for t in range(5):
        full.zero_grad()
        backward(quartic_loss(params, t) + quartic_loss(params, t + 3), full, params)
        full.step()
        accumulated.zero_grad()
        for micro in (t, t + 3):
            backward(quartic_loss(twin, micro), accumulated, twin)
        accumulated.step()
        for p, q in zip(params, twin):
            assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)
    if isinstance(full, MetaCurvatureLR):
        assert accumulated.last_trace == pytest.approx(full.last_trace, rel=1e-12)


@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_frozen_and_unused_parameters_train(name, set_to_none):
    params = make_params()
    frozen = torch.ones(2, dtype=torch.float64)            # requires_grad=False
    unused = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = OPTIMIZERS[name](params + [frozen, unused])
    start = snapshot(params)
    for t in range(4):
        opt.zero_grad(set_to_none=set_to_none)
        backward(quartic_loss(params, t), opt)
        opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(start, params))
    assert torch.equal(frozen, torch.ones(2, dtype=torch.float64))
    assert torch.equal(unused.detach(), torch.ones(3, dtype=torch.float64))


def _torch_save_round_trip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("how", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o)),
                                 _torch_save_round_trip], ids=["deepcopy", "pickle", "torch.save"])
@pytest.mark.parametrize("name", NAMES)
def test_copies_continue_identically(name, how):
    params = make_params()
    opt = OPTIMIZERS[name](params)
    for t in range(3):
        one_step(opt, params, t)
    params2, opt2 = how((params, opt))   # together, as a model and its optimizer are saved
    assert opt2.param_groups[0]["params"][0] is params2[0]
    diag = getattr(opt, "diagnostics", None)
    if diag is not None:
        # approx takes no nested lists: compare key by key (one list per key at most)
        got, want = opt2.diagnostics(), diag()
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], nan_ok=True), key
    for t in range(3, 6):
        one_step(opt, params, t)
        one_step(opt2, params2, t)
        assert_same(params, params2)


FRESH_PROCESS = """
import sys, torch
sys.path[:0] = [{root!r}, {tests!r}]
from optim_helpers import OPTIMIZERS, make_params, quartic_loss
from core.optim import backward
saved = torch.load({path!r}, weights_only=False)
out = {{}}
for name, (values, state) in saved.items():
    params = [v.requires_grad_() for v in values]
    opt = OPTIMIZERS[name](params)
    opt.load_state_dict(state)
    for t in range(3, 6):
        opt.zero_grad()
        backward(quartic_loss(params, t), opt, params)
        opt.step()
    out[name] = [p.detach() for p in params]
torch.save(out, {path!r})
"""


@pytest.mark.timeout(120)
def test_state_dict_continues_bit_for_bit_in_a_fresh_process(tmp_path):
    saved, want = {}, {}
    for name in NAMES:
        params = make_params()
        opt = OPTIMIZERS[name](params)
        for t in range(3):
            one_step(opt, params, t)
        # Adam's state_dict holds its live tensors: a deep copy is the snapshot.
        saved[name] = ([p.detach().clone() for p in params], copy.deepcopy(opt.state_dict()))
        for t in range(3, 6):
            one_step(opt, params, t)
        want[name] = snapshot(params)
    path = tmp_path / "checkpoint.pt"
    torch.save(saved, path)
    script = FRESH_PROCESS.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(path))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=110)
    got = torch.load(path, weights_only=False)
    for name in NAMES:
        assert all(torch.equal(x, y) for x, y in zip(got[name], want[name])), name

"""Small deterministic problems for the optimizer tests, in float64 so formulas match tightly."""

import torch

from core.optim import backward


def make_params(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, generator=g, dtype=torch.float64).requires_grad_(),
            torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()]


def quartic_loss(params, step: int):
    """A non-quadratic loss whose gradient changes every step (so moments and h are exercised)."""
    total = 0.0
    for k, p in enumerate(params):
        shift = 0.1 * (step % 7) - 0.3 * k
        total = total + ((p - shift) ** 4).sum() / 4 + (p * (k + 1)).sum() * 0.05
    return total


def grads_at(params, step: int):
    """Gradient of quartic_loss at the given (plain tensor) params, computed by autograd."""
    leaves = [p.detach().clone().requires_grad_() for p in params]
    return list(torch.autograd.grad(quartic_loss(leaves, step), leaves))


def run_optimizer(optimizer, params, steps: int):
    """Step ``optimizer`` on quartic_loss; returns the parameter values after every step."""
    history = []
    for t in range(steps):
        optimizer.zero_grad(set_to_none=True)
        backward(quartic_loss(params, t), optimizer, params)
        optimizer.step()
        history.append([p.detach().clone() for p in params])
    return history


def adam_reference(params, steps, lr_for, betas=(0.9, 0.999), eps=1e-8, grad_fn=grads_at):
    """Adam written out by hand; ``lr_for(t, i, params, grads)`` gives tensor i's lr at step t."""
    b1, b2 = betas
    ps = [p.detach().clone() for p in params]
    m = [torch.zeros_like(p) for p in ps]
    v = [torch.zeros_like(p) for p in ps]
    history = []
    for t in range(steps):
        gs = grad_fn(ps, t)
        lrs = [lr_for(t, i, ps, gs) for i in range(len(ps))]
        for i in range(len(ps)):
            m[i] = b1 * m[i] + (1 - b1) * gs[i]
            v[i] = b2 * v[i] + (1 - b2) * gs[i] ** 2
            m_hat = m[i] / (1 - b1 ** (t + 1))
            v_hat = v[i] / (1 - b2 ** (t + 1))
            ps[i] = ps[i] - lrs[i] * m_hat / (v_hat.sqrt() + eps)
        history.append([p.clone() for p in ps])
    return history


def _every_method():
    from core.optim import METHODS
    # Nudged so that every method does something (estimates often, damps visibly).
    nudged = {"meta_curvature": dict(update_freq=2, alpha=0.05), "weight_trajectory": dict(beta=0.5)}
    return {key: (lambda params, key=key: METHODS[key].build(params, nudged.get(key, {}), seed=3))
            for key in sorted(METHODS)}


def _wrapped_bases():
    from core.optim import HessianLRAdaptation, MetaCurvatureLR, WeightTrajectoryLR
    bases = {"adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
             "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
             "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9)}
    wrappers = {"weight_trajectory": lambda b: WeightTrajectoryLR(b, beta=0.5),
                "hessian_lr": lambda b: HessianLRAdaptation(b, rho=0.8),
                "meta_curvature": lambda b: MetaCurvatureLR(b, alpha=0.05, update_freq=2)}
    return {f"{w}/{b}": (lambda ps, w=w, b=b: wrappers[w](bases[b](ps)))
            for w in wrappers for b in bases}


# Every registered method as the lab builds it, and every wrapper over Adam, AdamW and SGD with
# momentum: name -> factory(params).
OPTIMIZERS = {**_every_method(), **_wrapped_bases()}

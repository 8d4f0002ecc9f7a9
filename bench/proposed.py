"""Speed changes proposed for ``core/optim`` (owned elsewhere), in a form the benchmark can
measure before they are applied: subclasses with the proposed ``step()`` bodies and a context
manager that swaps them (and ``fused=True`` Adam) into the registry for the duration.

WeightTrajectoryLR and HessianLRAdaptation below give the same bits as the originals (checked
by ``python bench/proposed.py``); fused Adam does not (about 5e-7 in the weights after 120
steps), which is why it is a proposal for the registry's owner and not a silent change.
"""

from __future__ import annotations

import dataclasses
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.optim import registry  # noqa: E402
from core.optim.gnw_adam import GNWAdam  # noqa: E402
from core.optim.hessian_lr import HessianLRAdaptation  # noqa: E402
from core.optim.weight_trajectory import WeightTrajectoryLR  # noqa: E402


class FastWeightTrajectoryLR(WeightTrajectoryLR):
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self.params()
        initial = [self.wrapper_state[p]["initial"] for p in params]
        # All factors as one vector: 3 kernel calls instead of 3 per tensor (same values).
        distances = torch.stack(torch._foreach_norm(torch._foreach_sub(params, initial)))
        factors = torch.reciprocal(distances.mul_(self.beta).add_(1.0))
        before = torch._foreach_mul(params, 1.0)
        self.base.step()
        torch._foreach_lerp_(params, before, torch.sub(1.0, factors).unbind())
        self.factors = factors
        return loss


class FastHessianLRAdaptation(HessianLRAdaptation):
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for p in self.params() if p.grad is not None]
        fresh = [p for p in params if "prev_grad" not in self.wrapper_state[p]]
        seen = [p for p in params if "prev_grad" in self.wrapper_state[p]]
        for p in fresh:
            self.wrapper_state[p]["prev_grad"] = p.grad.detach().clone()
            self.wrapper_state[p]["h"] = torch.zeros_like(p)
        if seen:
            grads = [p.grad for p in seen]
            prev = [self.wrapper_state[p]["prev_grad"] for p in seen]
            h = [self.wrapper_state[p]["h"] for p in seen]
            torch._foreach_sub_(prev, grads)
            torch._foreach_mul_(prev, prev)
            torch._foreach_lerp_(h, prev, 1.0 - self.rho)
            torch._foreach_copy_(prev, grads)
            denominators = torch._foreach_sqrt(h)
            torch._foreach_add_(denominators, self.eps)
            # The base steps on new tensors and the raw gradient objects go back afterwards:
            # a pointer swap instead of dividing in place and copying the raw values back.
            for p, g in zip(seen, torch._foreach_div(grads, denominators)):
                p.grad = g
        self.base.step()
        if seen:
            for p, g in zip(seen, grads):
                p.grad = g
        return loss


def _adam(params, hp, fused):
    kind = {"fused": True} if fused else {"foreach": True}
    return torch.optim.Adam(params, lr=hp["lr"], **kind)


def proposed_factories(fused: bool = True) -> dict:
    """Registry factories with the proposed optimizers (``fused``: also fused Adam)."""
    return {
        "adam": lambda ps, hp, seed: _adam(ps, hp, fused),
        "gnw_adam": lambda ps, hp, seed: GNWAdam(ps, lr=hp["lr"], **(
            {"fused": True} if fused else {"foreach": True})),
        "weight_trajectory": lambda ps, hp, seed: FastWeightTrajectoryLR(
            _adam(ps, hp, fused), beta=hp["beta"]),
        "hessian_lr": lambda ps, hp, seed: FastHessianLRAdaptation(
            _adam(ps, hp, fused), rho=hp["rho"], eps=hp["eps"]),
        "meta_curvature": lambda ps, hp, seed: registry.MetaCurvatureLR(
            _adam(ps, hp, fused), alpha=hp["alpha"], update_freq=int(hp["update_freq"]),
            n_samples=int(hp["n_samples"]), seed=seed),
    }


@contextmanager
def proposed(fused: bool = True):
    """Swap the proposed factories into ``registry.METHODS`` for the duration."""
    original = dict(registry.METHODS)
    try:
        for key, factory in proposed_factories(fused).items():
            if key in registry.METHODS:
                registry.METHODS[key] = dataclasses.replace(registry.METHODS[key],
                                                            factory=factory)
        yield
    finally:
        registry.METHODS.clear()
        registry.METHODS.update(original)


if __name__ == "__main__":
    from core.config import RunConfig
    from core.train import train
    torch.set_num_threads(1)
    for key in ("weight_trajectory", "hessian_lr"):
        config = RunConfig(method=key, epochs=2, seed=3, device="cpu")
        before = [dataclasses.replace(m, elapsed=0) for m in train(config)]
        with proposed(fused=False):
            after = [dataclasses.replace(m, elapsed=0) for m in train(config)]
        print(f"{key}: proposed step gives the same numbers bit for bit: {before == after}")

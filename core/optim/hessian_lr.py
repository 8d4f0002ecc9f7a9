"""HessianLRAdaptation: precondition gradients by a running gradient-difference curvature proxy (write-up 003)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative, unit_interval
from ._step import base_step
from .wrapper import OptimizerWrapper


class HessianLRAdaptation(OptimizerWrapper):
    r"""Divide each gradient element by a running estimate of its curvature before the base step.

    Per element, with :math:`g_{prev}` the previous raw gradient and :math:`h_0 = 0`:

    .. math::
        d_t = g_t - g_{t-1}, \qquad
        h_t = \rho \, h_{t-1} + (1 - \rho) \, d_t^2, \qquad
        \tilde g_t = \frac{g_t}{\sqrt{h_t} + \epsilon}

    On the first step of a parameter the base sees :math:`g_1` unchanged. The raw gradient is
    remembered as the next :math:`g_{prev}`, and ``p.grad`` holds the raw gradient again after
    ``step()`` (so clipping or logging by the caller sees what backward produced).

    Args:
        base: the optimizer to wrap.
        rho: decay of the running average, ``0 <= rho < 1``.
        eps: added to :math:`\sqrt{h}`, ``>= 0``.
    """

    _wrapper_attributes = ("rho", "eps")

    def __init__(self, base: Optimizer, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__(base)
        self.rho = unit_interval("rho", rho)
        self.eps = non_negative("eps", eps)
        self._cached: tuple[list, list, list, list] = ([], [], [], [])

    def _public_hyperparameters(self):
        return ("rho", "eps")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for p in self.params() if p.grad is not None]
        seen, prev, h = self._states(params)
        if seen:
            grads = [p.grad for p in seen]
            # prev <- g - prev is d; square it and fold into h, then keep raw g as the next prev.
            torch._foreach_sub_(prev, grads)
            torch._foreach_mul_(prev, prev)
            torch._foreach_lerp_(h, prev, 1.0 - self.rho)
            torch._foreach_copy_(prev, grads)
            denominators = torch._foreach_sqrt(h)
            torch._foreach_add_(denominators, self.eps)
            # The base steps on new tensors; the raw gradient objects go back afterwards (a
            # pointer swap instead of dividing in place and copying the raw values back).
            for p, g in zip(seen, torch._foreach_div(grads, denominators)):
                p.grad = g
        base_step(self.base)
        if seen:
            for p, g in zip(seen, grads):
                p.grad = g
        return loss

    def _states(self, params: list[torch.Tensor]):
        """(params seen on an earlier step, their prev_grad, their h), in order; a param seen for
        the first time gets its state here and joins the next step. The lists are kept while the
        set of params with a gradient stays the same (dict lookups by tensor cost ~1 us each)."""
        cached = self._cached
        if len(cached[0]) == len(params) and all(a is b for a, b in zip(cached[0], params)):
            return cached[1:]
        state = self.wrapper_state
        seen = [p for p in params if "prev_grad" in state[p]]
        for p in params:
            if "prev_grad" not in state[p]:
                state[p]["prev_grad"] = p.grad.detach().clone()
                state[p]["h"] = torch.zeros_like(p)
        result = (seen, [state[p]["prev_grad"] for p in seen], [state[p]["h"] for p in seen])
        # Cache only once every param has state: until then the next step's split differs.
        self._cached = (params, *result) if len(seen) == len(params) else ([], [], [], [])
        return result

    def _after_load(self) -> None:
        self._cached = ([], [], [], [])   # the loaded state is made of new tensors

    def diagnostics(self) -> dict[str, float]:
        """Summary of sqrt(h) over all elements: the preconditioner's scale."""
        h = [s["h"] for s in self.wrapper_state.values() if "h" in s]
        if not h:
            return {"precond_mean": 0.0, "precond_max": 0.0}
        root = torch.cat([t.flatten() for t in h]).sqrt()
        return {"precond_mean": float(root.mean()), "precond_max": float(root.max())}

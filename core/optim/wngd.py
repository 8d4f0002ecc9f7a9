"""WNGD: gradient descent with each tensor's step divided by its own weight norm (write-up 001)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative


class WNGD(Optimizer):
    r"""Weight-Norm-Normalized Gradient Descent.

    For every parameter tensor separately, with the norm taken before the step:

    .. math::
        p \leftarrow p - lr \, \frac{g}{\lVert p \rVert_2 + \epsilon}

    Args:
        params: parameters or param groups.
        lr: learning rate, ``>= 0``.
        eps: added to the norm so that a zero tensor still moves, ``>= 0``.

    ``weight_norms`` holds the norms used by the latest step (one tensor, ``param_groups`` order).
    """

    def __init__(self, params, lr: float = 0.1, eps: float = 1e-8) -> None:
        defaults = dict(lr=non_negative("learning rate", lr), eps=non_negative("eps", eps))
        super().__init__(params, defaults)
        self._norms: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        all_norms = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            norms = torch._foreach_norm(params)
            all_norms.extend(norms)
            denominators = torch._foreach_add(norms, group["eps"])
            # One fused p - lr * g / d per tensor, no temporaries the size of the gradients.
            torch._foreach_addcdiv_(params, [p.grad for p in params], denominators,
                                    value=-group["lr"])
        if all_norms:
            self._norms = all_norms   # stacked when read, not every step
        return loss

    @property
    def weight_norms(self) -> torch.Tensor:
        return torch.stack(self._norms) if self._norms else torch.zeros(0)

    def diagnostics(self) -> dict[str, list[float]]:
        return {"weight_norm": self.weight_norms.tolist()}

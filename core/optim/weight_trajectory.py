"""WeightTrajectoryLR: damp each tensor's learning rate by how far it has moved (write-up 000)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative
from .wrapper import OptimizerWrapper


class WeightTrajectoryLR(OptimizerWrapper):
    r"""Scale every parameter tensor's step by its distance from its initial value.

    At construction every parameter ``p`` is snapshotted as :math:`p_0`. At each step, before the
    base optimizer moves, for each tensor separately (each weight matrix and each bias vector):

    .. math::
        s_p = \frac{1}{1 + \beta \, \lVert p - p_0 \rVert_2}

    and ``p`` receives the update the base would make with learning rate :math:`lr \cdot s_p`.
    The wrapper runs the base step and then shrinks the move:
    :math:`p \leftarrow p_{old} + s_p (p_{base} - p_{old})`. That equals the base step at
    :math:`lr \cdot s_p` for every optimizer whose update is linear in lr given its state (SGD with
    or without momentum, Adam, AdamW, RMSprop, Adagrad); the base's own state (moments) evolves
    exactly as it would at the unscaled lr, since none of those states depend on lr.
    With :math:`\beta = 0`, :math:`s_p = 1` and the step is the base's, bit for bit.

    Args:
        base: the optimizer to wrap (its param_groups and state are shared, not copied).
        beta: strength of the damping, ``>= 0``.

    ``factors`` holds the latest :math:`s_p` per parameter, in ``param_groups`` order, as one
    tensor (no host sync per step).
    """

    _wrapper_attributes = ("beta", "factors")

    def __init__(self, base: Optimizer, beta: float = 0.1) -> None:
        super().__init__(base)
        self.beta = non_negative("beta", beta)
        self._on_new_params(self.params())
        self.factors = torch.ones(len(self.params()))
        self._scratch: list[torch.Tensor] = []

    def _public_hyperparameters(self):
        return ("beta",)

    def _on_new_params(self, params) -> None:
        for p in params:
            self.wrapper_state[p]["initial"] = p.detach().clone()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Params without a gradient are left where they are by the base, so lerp leaves them too.
        params = self.params()
        initial = [self.wrapper_state[p]["initial"] for p in params]
        # All factors as one vector: 3 kernel calls instead of 3 per tensor (same values).
        distances = torch.stack(torch._foreach_norm(torch._foreach_sub(params, initial)))
        factors = torch.reciprocal(distances.mul_(self.beta).add_(1.0))
        # A scratch copy reused across steps (not state: nothing in it outlives the step).
        if [b.shape for b in self._scratch] != [p.shape for p in params]:
            self._scratch = [torch.empty_like(p) for p in params]
        before = self._scratch
        torch._foreach_copy_(before, params)
        self.base.step()
        # lerp(p_base, p_old, 1 - s) = p_old + s (p_base - p_old); weight 0 leaves p_base exact.
        torch._foreach_lerp_(params, before, torch.sub(1.0, factors).unbind())
        self.factors = factors
        return loss

    def diagnostics(self) -> dict[str, list[float]]:
        return {"trajectory_factor": self.factors.tolist()}

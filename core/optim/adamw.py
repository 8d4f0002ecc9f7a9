"""AdamW, a baseline users expect: Adam with decoupled weight decay (``torch.optim.AdamW``)."""

import torch

from ._population import member_view
from .adam import PopulationAdam
from .spec import HyperParam, MethodSpec, lr_param


class PopulationAdamW(PopulationAdam):
    """``torch.optim.AdamW`` per member: Adam's moments and step, and before it each member's
    weights multiplied by :math:`1 - lr_i \\lambda_i` (decay scaled by the step's own lr, so a
    wrapper that scales the step scales the decay too, as it does in the solo run)."""

    _member_tensors = PopulationAdam._member_tensors + ("weight_decay",)

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)

    def _decay(self, p, size):
        p.mul_(member_view(1.0 - size * self.weight_decay.to(self.dtype), p))


ADAMW = MethodSpec(
    key="adamw", display_name="AdamW",
    description="Adam with decoupled weight decay (torch.optim.AdamW, default betas and eps): "
                "the weights shrink by lr * weight_decay every step, apart from the gradient.",
    formula=r"\theta_t=(1-lr\,\lambda)\,\theta_{t-1}-lr\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}",
    factory=lambda params, hp, seed: torch.optim.AdamW(
        params, lr=hp["lr"], weight_decay=hp["weight_decay"], fused=True),
    hyperparams=(lr_param(1e-2), HyperParam(
        "weight_decay", 1e-2, 0.0, 1.0, log=True, search=(1e-4, 0.3),
        help="Decoupled weight decay: each step multiplies the weights by 1 - lr * weight_decay.")),
    population=lambda hparams, seeds, params: PopulationAdamW(hparams, params),
)

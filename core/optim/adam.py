"""Adam, the baseline: ``torch.optim.Adam`` as the lab builds it, and its population form."""

from typing import Mapping

import torch

from ._population import PopulationBase, member_view
from .spec import MethodSpec, lr_param


def build_adam(params, hp: Mapping[str, float], **options) -> torch.optim.Adam:
    # fused: one kernel per step instead of ~10 foreach calls (~140 us less per step on CPU).
    # Not bit-identical to foreach (weights ~5e-7 apart after 120 steps); runs stay reproducible.
    return torch.optim.Adam(params, lr=hp["lr"], fused=True, **options)


class PopulationAdam(PopulationBase):
    """``torch.optim.Adam`` per member (default betas and eps, as ``build_adam``): per-member lr
    and moments. Betas and eps are the same for every member, Python floats as in the solo
    optimizer, so the moment updates are single fused calls over all tensors; only the step size
    is a per-member vector."""

    _member_tensor_lists = ("exp_avg", "exp_avg_sq", "_scratch")
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        # Reused every step: fresh multi-MB temporaries cost page faults on CPU.
        self._scratch = [torch.empty_like(p) for p in params]
        # The fused kernel's step counters (float32, as torch.optim.Adam keeps them).
        self._step_counts = [torch.zeros((), dtype=torch.float32, device=self.device)
                             for _ in params]

    def _directions(self, grads) -> list[torch.Tensor]:
        """Moments updated and the unit step :math:`-\\hat m / (\\sqrt{\\hat v} + \\epsilon)`
        written, by PyTorch's fused Adam kernel run at lr = 1 on zeroed scratch tensors: one
        pass over memory (nine foreach passes did the same at twice the cost)."""
        directions = self._scratch
        torch._foreach_zero_(directions)
        torch._foreach_add_(self._step_counts, 1)
        torch._fused_adam_(directions, grads, self.exp_avg, self.exp_avg_sq, [],
                           self._step_counts, amsgrad=False, lr=1.0, beta1=self.beta1,
                           beta2=self.beta2, weight_decay=0.0, eps=self.eps, maximize=False)
        return directions

    def _decay(self, p: torch.Tensor, size: torch.Tensor) -> None:
        """Decoupled weight decay before the step (AdamW's); Adam has none."""

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        for j, (p, d) in enumerate(zip(params, self._directions(grads))):
            size = self.step_sizes(lr, factors, j)
            self._decay(p, size)
            p.addcmul_(d, member_view(size, d))


ADAM = MethodSpec(
    key="adam", display_name="Adam",
    description="The baseline: torch.optim.Adam with default betas and eps.",
    formula=r"m_t=\beta_1 m_{t-1}+(1-\beta_1)g_t,\; v_t=\beta_2 v_{t-1}+(1-\beta_2)g_t^2,\;"
            r"\theta_t=\theta_{t-1}-lr\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}",
    factory=lambda params, hp, seed: build_adam(params, hp),
    hyperparams=(lr_param(1e-2),),
    baseline=True,
    population=lambda hparams, seeds, params: PopulationAdam(hparams, params),
)

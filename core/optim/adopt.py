"""ADOPT (Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with the
Optimal Rate", NeurIPS 2024), from ``pytorch-optimizer`` (kozistr, Apache-2.0):
``pytorch_optimizer.ADOPT`` wrapped as it is, with its default clipping ``step ** 0.25``.

Search ranges: the paper uses Adam's learning rates (1e-3 on its image tasks) and betas
(0.9, 0.9999) throughout, so lr explores Adam's (1e-4, 1e-1) and beta1 (0.8, 0.99).
"""

import torch

from ._knobs import COUPLED, adam_betas, weight_decay_param
from ._moments import PopulationMoments
from ._population import member_view
from .spec import MethodSpec, lr_param


def quarter_power(step: int) -> float:
    """ADOPT's clipping bound, the library's default ``step ** 0.25``, as a named function so
    that the optimizer pickles (the library's default is a lambda)."""
    return step ** 0.25


def build_adopt(params, hp) -> torch.optim.Optimizer:
    from . import _library   # imported when first built (see there)
    return _library.ADOPT(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                   weight_decay=hp["weight_decay"], clip_lambda=quarter_power)


class PopulationADOPT(PopulationMoments):
    r"""``pytorch_optimizer.ADOPT`` per member. Step 1 only fills :math:`v = g^2`; then

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1)\,\mathrm{clip}\!\left(\frac{g}{\max(\sqrt v,
        \epsilon)}, t^{1/4}\right),\quad p \leftarrow p - lr\, m,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2

    with coupled weight decay (:math:`g \leftarrow g + \lambda p`, the library's default)."""

    eps = 1e-6

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.steps += 1
        b1, b2 = self.beta1.to(self.dtype), self.beta2.to(self.dtype)
        clip = quarter_power(self.steps)
        for j, (p, g, m, v) in enumerate(zip(params, grads, self.exp_avg, self.exp_avg_sq)):
            g = self.coupled_decay(p, g)
            if self.steps == 1:
                v.addcmul_(g, g)
                continue
            normed = (g / v.sqrt().clamp_min(self.eps)).clamp_(-clip, clip)
            m.lerp_(normed, member_view(1.0 - b1, m))
            p.sub_(m * member_view(self.step_sizes(lr, factors, j), p))
            v.mul_(member_view(b2, v)).addcmul_(g * g, member_view(1.0 - b2, v))


ADOPT = MethodSpec(
    key="adopt", display_name="ADOPT",
    description="Adam with the current gradient left out of its own normalisation: the step "
                "divides by the previous second moment and is clipped, which converges for any "
                "beta2 (Taniguchi et al. 2024). pytorch_optimizer.ADOPT (pytorch-optimizer, "
                "Apache-2.0).",
    formula=r"m_t=\beta_1 m_{t-1}+(1-\beta_1)\,\mathrm{clip}(g_t/\max(\sqrt{v_{t-1}},\epsilon),"
            r"t^{1/4}),\;\theta_t=\theta_{t-1}-lr\,m_t,\;v_t=\beta_2 v_{t-1}+(1-\beta_2)g_t^2",
    factory=lambda params, hp, seed: build_adopt(params, hp),
    hyperparams=(
        lr_param(1e-3),
        *adam_betas(beta2=0.9999),
        weight_decay_param(0.0, COUPLED),
    ),
    population=lambda hparams, seeds, params: PopulationADOPT(hparams, params),
)

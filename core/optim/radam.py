"""RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond", ICLR
2020): ``torch.optim.RAdam`` with its defaults, and its population form.

Search ranges: the paper tunes lr over Adam's grid and reports RAdam insensitive to it; lr
explores Adam's (1e-4, 1e-1) and beta1 (0.8, 0.99).
"""

import math

import torch

from ._knobs import COUPLED, adam_betas, weight_decay_param
from ._moments import PopulationMoments
from ._population import member_view
from .spec import MethodSpec, lr_param


class PopulationRAdam(PopulationMoments):
    r"""``torch.optim.RAdam`` per member: with :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, the step is
    :math:`lr\, \hat m\, r_t \sqrt{1-\beta_2^t}/(\sqrt v + \epsilon)` when :math:`\rho_t > 5`
    (:math:`r_t` the variance rectification) and :math:`lr\,\hat m` before, per member, with L2
    weight decay added to the gradient (torch's default)."""

    eps = 1e-8

    def _rectification(self):
        """Per member: the rectification times sqrt(1 - beta2^t), or NaN where rho_t <= 5."""
        t, out = self.steps, []
        for b2 in self.beta2.tolist():
            correction2 = 1 - b2 ** t
            rho_inf = 2 / (1 - b2) - 1
            rho_t = rho_inf - 2 * t * (b2 ** t) / correction2
            out.append(math.nan if rho_t <= 5.0 else math.sqrt(correction2) * (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5)
        return self._hyper(out)

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.steps += 1
        rect = self._rectification()
        rectified = ~torch.isnan(rect)
        rect = torch.nan_to_num(rect).to(self.dtype)
        correction1 = (1.0 - self.beta1 ** self.steps).to(self.dtype)
        for j, (p, g, m, v) in enumerate(zip(params, grads, self.exp_avg, self.exp_avg_sq)):
            g = self.coupled_decay(p, g)
            self.update_moments(m, v, g)
            m_hat = m / member_view(correction1, m)
            adaptive = member_view(rect, v) / (v.sqrt() + self.eps)
            scale = torch.where(member_view(rectified, p), adaptive, 1.0)
            p.sub_(m_hat * member_view(self.step_sizes(lr, factors, j), p) * scale)


RADAM = MethodSpec(
    key="radam", display_name="RAdam",
    description="Adam with its adaptive step switched on only once the second moment's variance "
                "is tractable, and rectified until then: a built-in warm-up "
                "(torch.optim.RAdam, defaults).",
    formula=r"\theta_t=\theta_{t-1}-lr\,\hat m_t\cdot\begin{cases}r_t\sqrt{1-\beta_2^t}/"
            r"(\sqrt{v_t}+\epsilon)&\rho_t>5\\1&\text{else}\end{cases}",
    factory=lambda params, hp, seed: torch.optim.RAdam(
        params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), weight_decay=hp["weight_decay"]),
    hyperparams=(
        lr_param(1e-3),
        *adam_betas(),
        weight_decay_param(0.0, COUPLED),
    ),
    population=lambda hparams, seeds, params: PopulationRAdam(hparams, params),
)

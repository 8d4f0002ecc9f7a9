"""Adagrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning and
Stochastic Optimization", JMLR 12): ``torch.optim.Adagrad`` with its defaults, and its
population form.

Search ranges: torch's default lr 1e-2 is the usual one; Adagrad's steps shrink as squared
gradients accumulate, so lr explores (1e-3, 1.0), a decade above Adam's range; lr_decay, torch's
own extra (0 by default), explores (0, 0.01) per step.
"""

import torch

from ._population import PopulationBase, member_view
from ._knobs import COUPLED, weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param


class PopulationAdagrad(PopulationBase):
    r"""``torch.optim.Adagrad`` per member: :math:`s \leftarrow s + g^2`,
    :math:`p \leftarrow p - \frac{lr}{1 + (t-1)\eta}\, g / (\sqrt s + \epsilon)` (:math:`\eta` =
    lr_decay), with L2 weight decay added to the gradient."""

    _member_tensors = PopulationBase._member_tensors + ("lr_decay", "weight_decay")
    _member_tensor_lists = ("sums",)
    eps = 1e-10

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.lr_decay = self._hyper(h["lr_decay"] for h in hparams)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)
        self.sums = [torch.zeros_like(p) for p in params]
        self.steps = 0

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.steps += 1
        lr = lr / (1.0 + (self.steps - 1) * self.lr_decay)
        decay = self.weight_decay.to(self.dtype)
        for j, (p, g, s) in enumerate(zip(params, grads, self.sums)):
            g = g + member_view(decay, p) * p
            s.addcmul_(g, g)
            p.sub_(g / (s.sqrt() + self.eps) * member_view(self.step_sizes(lr, factors, j), p))


ADAGRAD = MethodSpec(
    key="adagrad", display_name="Adagrad",
    description="Per-coordinate steps divided by the root of the sum of all past squared "
                "gradients: large for rare directions, ever smaller for frequent ones "
                "(torch.optim.Adagrad, defaults).",
    formula=r"s_t=s_{t-1}+g_t^2,\quad\theta_t=\theta_{t-1}-\frac{lr}{1+(t-1)\eta}\,"
            r"\frac{g_t}{\sqrt{s_t}+\epsilon}",
    factory=lambda params, hp, seed: torch.optim.Adagrad(
        params, lr=hp["lr"], lr_decay=hp["lr_decay"], weight_decay=hp["weight_decay"]),
    hyperparams=(
        lr_param(1e-2, search=(1e-3, 1.0)),
        HyperParam("lr_decay", 0.0, 0.0, 1.0, search=(0.0, 0.01),
                   help="The lr is divided by 1 + (step - 1) * lr_decay."),
        weight_decay_param(0.0, COUPLED),
    ),
    population=lambda hparams, seeds, params: PopulationAdagrad(hparams, params),
)

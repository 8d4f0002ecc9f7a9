"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv:2302.06675),
from ``pytorch-optimizer`` (kozistr, Apache-2.0): ``pytorch_optimizer.Lion``, wrapped as it is.

Search ranges: the paper (section 3.2 and table 12) uses an lr 3-10x smaller than AdamW's and a
weight decay 3-10x larger, with betas (0.9, 0.99); the lr range is Adam's (1e-4, 1e-1) divided
by 10, and beta1 explores the values the paper's ablation (figure 12) tries, 0.5 to 0.99.
"""

import torch

from ._population import PopulationBase, member_view
from ._knobs import DECOUPLED, beta_param, weight_decay_param
from .spec import HyperParam, MethodSpec


def build_lion(params, hp) -> torch.optim.Optimizer:
    from . import _library   # imported when first built (see there)
    return _library.Lion(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                  weight_decay=hp["weight_decay"])


class PopulationLion(PopulationBase):
    r"""``pytorch_optimizer.Lion`` per member (decoupled decay scaled by the lr, its default):

    .. math::
        p \leftarrow (1 - lr\,\lambda)\,p - lr\,\operatorname{sign}(\beta_1 m + (1-\beta_1) g),
        \qquad m \leftarrow \beta_2 m + (1 - \beta_2) g
    """

    _member_tensors = PopulationBase._member_tensors + ("beta1", "beta2", "weight_decay")
    _member_tensor_lists = ("exp_avg",)

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.beta1 = self._hyper(h["beta1"] for h in hparams)
        self.beta2 = self._hyper(h["beta2"] for h in hparams)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)
        self.exp_avg = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        one_minus_b1 = (1.0 - self.beta1).to(self.dtype)
        one_minus_b2 = (1.0 - self.beta2).to(self.dtype)
        decay = self.weight_decay.to(self.dtype)
        for j, (p, g, m) in enumerate(zip(params, grads, self.exp_avg)):
            size = self.step_sizes(lr, factors, j)
            p.mul_(member_view(1.0 - size * decay, p))
            p.sub_(torch.lerp(m, g, member_view(one_minus_b1, m)).sign_() * member_view(size, p))
            m.lerp_(g, member_view(one_minus_b2, m))


LION = MethodSpec(
    key="lion", display_name="Lion",
    description="The sign of an interpolated momentum, so every coordinate moves by exactly lr; "
                "found by program search (Chen et al. 2023). pytorch_optimizer.Lion "
                "(pytorch-optimizer, Apache-2.0).",
    formula=r"p\leftarrow(1-lr\lambda)p-lr\,\mathrm{sign}(\beta_1 m+(1-\beta_1)g),\quad "
            r"m\leftarrow\beta_2 m+(1-\beta_2)g",
    factory=lambda params, hp, seed: build_lion(params, hp),
    hyperparams=(
        # The library's default 1e-4 (sized for large transformers) learned 35-36 % in the
        # default run (seeds 0, 1); 1e-3 learned 57-61 % (README, "Defaults").
        HyperParam("lr", 1e-3, 1e-6, 1.0, log=True, search=(1e-5, 1e-2),
                   help="Learning rate: every coordinate moves by lr (times the decay)."),
        beta_param("beta1", 0.9, "Interpolation between momentum and gradient for the step's "
                   "sign.", search=(0.5, 0.99), high=0.999),
        beta_param("beta2", 0.99, "Decay of the momentum that is carried to the next step.",
                   high=0.999),
        weight_decay_param(0.0, DECOUPLED),
    ),
    population=lambda hparams, seeds, params: PopulationLion(hparams, params),
)

"""RMSprop (Hinton, Srivastava & Swersky 2012, Coursera "Neural Networks for Machine Learning",
lecture 6e): ``torch.optim.RMSprop`` with its defaults, and its population form.

Search ranges: without bias correction the first step moves every coordinate by
lr / sqrt(1 - alpha) (10 lr at alpha 0.99), so lr explores (1e-5, 1e-2): the lecture's 1e-3 in
the middle and torch's default 1e-2 at the top (at 0.1 the first step moves each weight by ~1 and
the run is chaotic). Momentum explores (0, 0.9), the values torch's docs and the lecture use;
alpha (0.9, 0.999) around the lecture's 0.9 and torch's 0.99.
"""

import torch

from ._population import PopulationBase, member_view
from ._knobs import COUPLED, weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param


class PopulationRMSprop(PopulationBase):
    r"""``torch.optim.RMSprop`` per member (not centered):
    :math:`v \leftarrow \alpha v + (1-\alpha) g^2`, :math:`b \leftarrow \mu b + g/(\sqrt v +
    \epsilon)`, :math:`p \leftarrow p - lr\, b`. The buffer starts at zero, so :math:`\mu = 0`
    is torch's momentum-free step exactly; L2 weight decay is added to the gradient."""

    _member_tensors = PopulationBase._member_tensors + ("alpha", "momentum", "weight_decay")
    _member_tensor_lists = ("square_avg", "buffers")
    eps = 1e-8

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.alpha = self._hyper(h["alpha"] for h in hparams)
        self.momentum = self._hyper(h["momentum"] for h in hparams)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)
        self.square_avg = [torch.zeros_like(p) for p in params]
        self.buffers = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        alpha, momentum = self.alpha.to(self.dtype), self.momentum.to(self.dtype)
        decay = self.weight_decay.to(self.dtype)
        for j, (p, g, v, b) in enumerate(zip(params, grads, self.square_avg, self.buffers)):
            g = g + member_view(decay, p) * p
            # Products in torch's order ((1 - alpha) g) g, lr (g / avg): the same roundings.
            v.mul_(member_view(alpha, v)).addcmul_(g * member_view(1.0 - alpha, g), g)
            b.mul_(member_view(momentum, b)).add_(g / (v.sqrt() + self.eps))
            p.sub_(member_view(self.step_sizes(lr, factors, j), p) * b)


RMSPROP = MethodSpec(
    key="rmsprop", display_name="RMSprop",
    description="Steps divided by the root of a running mean of squared gradients, without "
                "Adam's momentum on the gradient or bias correction (torch.optim.RMSprop, "
                "defaults: not centered, no momentum).",
    formula=r"v_t=\alpha v_{t-1}+(1-\alpha)g_t^2,\; b_t=\mu b_{t-1}+\frac{g_t}{\sqrt{v_t}+"
            r"\epsilon},\;\theta_t=\theta_{t-1}-lr\,b_t",
    factory=lambda params, hp, seed: torch.optim.RMSprop(
        params, lr=hp["lr"], alpha=hp["alpha"], momentum=hp["momentum"],
        weight_decay=hp["weight_decay"]),
    hyperparams=(
        lr_param(1e-2, search=(1e-5, 1e-2)),
        HyperParam("alpha", 0.99, 0.0, 0.9999, search=(0.9, 0.999),
                   help="Decay of the running mean of squared gradients."),
        HyperParam("momentum", 0.0, 0.0, 0.999, search=(0.0, 0.9),
                   help="Heavy-ball momentum on the normalised step (0: none)."),
        weight_decay_param(0.0, COUPLED),
    ),
    population=lambda hparams, seeds, params: PopulationRMSprop(hparams, params),
)

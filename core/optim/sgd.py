"""SGD with momentum, a baseline users expect (``torch.optim.SGD``, heavy-ball momentum)."""

import torch

from ._population import PopulationBase, member_view
from .spec import HyperParam, MethodSpec, lr_param


class PopulationSGD(PopulationBase):
    """``torch.optim.SGD(lr, momentum)`` per member: :math:`b \\leftarrow \\mu b + g`,
    :math:`p \\leftarrow p - lr\\, b`. The buffer starts at zero, so the first step's
    :math:`\\mu \\cdot 0 + g` is exactly torch's ``b = g``, and :math:`\\mu = 0` gives plain SGD."""

    _member_tensors = PopulationBase._member_tensors + ("momentum",)
    _member_tensor_lists = ("buffers",)

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.momentum = self._hyper(h["momentum"] for h in hparams)
        self.buffers = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        momentum = self.momentum.to(self.dtype)
        for j, (p, g, b) in enumerate(zip(params, grads, self.buffers)):
            b.mul_(member_view(momentum, b)).add_(g)
            p.sub_(b * member_view(self.step_sizes(lr, factors, j), b))


SGD_MOMENTUM = MethodSpec(
    key="sgd", display_name="SGD with momentum",
    description="Stochastic gradient descent with heavy-ball momentum (torch.optim.SGD): the "
                "step follows a decaying sum of past gradients.",
    formula=r"b_t=\mu\,b_{t-1}+g_t,\quad \theta_t=\theta_{t-1}-lr\,b_t",
    factory=lambda params, hp, seed: torch.optim.SGD(params, lr=hp["lr"],
                                                     momentum=hp["momentum"]),
    hyperparams=(lr_param(0.05, high=10.0, search=(1e-3, 1.0)), HyperParam(
        "momentum", 0.9, 0.0, 0.999, search=(0.0, 0.99),
        help="Heavy-ball momentum: the share of the previous step carried into this one.")),
    population=lambda hparams, seeds, params: PopulationSGD(hparams, params),
)

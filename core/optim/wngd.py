"""WNGD: gradient descent with each tensor's step divided by its own weight norm (write-up 001)."""

import torch
from ._checks import non_negative
from ._state import LabOptimizer, refuse_sparse


class WNGD(LabOptimizer):
    r"""Weight-Norm-Normalized Gradient Descent.

    For every parameter tensor separately, with the norm taken before the step:

    .. math::
        p \leftarrow p - lr \, \frac{g + \lambda p}{\lVert p \rVert_2 + \epsilon}

    Weight decay :math:`\lambda` is the L2 (coupled) form, as in ``torch.optim.SGD``: added to
    the gradient, so it is normalized with it.

    Args:
        params: parameters or param groups.
        lr: learning rate, ``>= 0``.
        eps: added to the norm so that a zero tensor still moves, ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0`` (0: the formula without it, bit for bit).

    ``weight_norms`` holds the norms used by the latest step (one tensor, ``param_groups`` order).
    """

    _pickled_attributes = ("_norms",)

    def __init__(self, params, lr: float = 0.1, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        defaults = dict(lr=non_negative("learning rate", lr), eps=non_negative("eps", eps),
                        weight_decay=non_negative("weight_decay", weight_decay))
        super().__init__(params, defaults)
        self._norms: list[torch.Tensor] = []

    def add_param_group(self, param_group) -> None:
        """torch's, with every hyperparameter checked first: a refused group is not added."""
        for key, name in (("lr", "learning rate"), ("eps", "eps"), ("weight_decay", "weight_decay")):
            if key in param_group:
                non_negative(name, param_group[key])
        super().add_param_group(param_group)

    # Kept out of torch.compile: Dynamo drops attribute writes on an optimizer, and the
    # weight norms of the step are one.
    @torch.compiler.disable
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
            grads = [p.grad for p in params]
            refuse_sparse(self, grads)
            norms = torch._foreach_norm(params)
            all_norms.extend(norms)
            denominators = torch._foreach_add(norms, group["eps"])
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            # One fused p - lr * g / d per tensor, no temporaries the size of the gradients.
            torch._foreach_addcdiv_(params, grads, denominators, value=-group["lr"])
        if all_norms:
            self._norms = all_norms   # stacked when read, not every step
        return loss

    @property
    def weight_norms(self) -> torch.Tensor:
        return torch.stack(self._norms) if self._norms else torch.zeros(0)

    def diagnostics(self) -> dict[str, list[float]]:
        return {"weight_norm": self.weight_norms.tolist()}


# --- Registry entry and population form (P runs at once; core/optim/_population.py) ---------

from ._population import PopulationBase, member_norms, member_view  # noqa: E402
from .spec import HyperParam, MethodSpec, lr_param  # noqa: E402


class PopulationWNGD(PopulationBase):
    """WNGD per member: p <- p - lr_i g / (||p_i|| + eps_i), per member and per tensor."""

    _member_tensors = PopulationBase._member_tensors + ("eps", "weight_norms")

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.eps = self._hyper(h["eps"] for h in hparams)
        self.weight_norms = torch.zeros(len(hparams), len(params), dtype=self.dtype,
                                        device=self.device)

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.weight_norms = member_norms(params)
        eps = self.eps.to(self.dtype)
        for j, (p, g) in enumerate(zip(params, grads)):
            denom = self.weight_norms[:, j] + eps
            p.sub_(g / member_view(denom, p) * member_view(self.step_sizes(lr, factors, j), p))

    def diagnostics(self):
        return [{"weight_norm": row} for row in self.weight_norms.tolist()]


WNGD_METHOD = MethodSpec(
    key="wngd", display_name="WNGD",
    description="Plain gradient descent whose step for each tensor is divided by that tensor's "
                "norm, a scale-invariant update with no momentum.",
    formula=r"p \leftarrow p - lr\,\frac{g}{\lVert p\rVert_2+\epsilon}",
    factory=lambda params, hp, seed: WNGD(params, lr=hp["lr"], eps=hp["eps"]),
    hyperparams=(lr_param(1.0, high=10.0, search=(1e-3, 1.0)), HyperParam(
        "eps", 1e-8, 0.0, 1.0, log=True,
        help="Added to ||p|| so that a zero tensor still moves.")),
    writeup="001",
    population=lambda hparams, seeds, params: PopulationWNGD(hparams, params),
)

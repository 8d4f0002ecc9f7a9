"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as a lab plug-in.

A whole method in one file outside ``core/``: the optimizer, its population form and its
``MethodSpec``. Load it without editing the lab, either way:

    MNIST1D_LAB_METHODS=examples.lion:LION streamlit run app.py
    MNIST1D_LAB_METHODS=examples.lion:LION python -m core train --method lion --epochs 5

or from an installed package that declares it in its pyproject.toml:

    [project.entry-points."mnist1d_lab.methods"]
    lion = "examples.lion:LION"
"""

import torch
from torch.optim import Optimizer

from core.optim import HyperParam, MethodSpec, PopulationBase, member_view


def _check(name: str, value, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            low <= value and (high is None or value < high)):
        bound = f"{low} <= {name}" + (f" < {high}" if high is not None else "")
        raise ValueError(f"Invalid {name}: {value!r} (expected {bound})")
    return float(value)


class Lion(Optimizer):
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    Per parameter, with :math:`m_0 = 0`:

    .. math::
        c_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        p_t = (1 - lr\,\lambda)\, p_{t-1} - lr\, \operatorname{sign}(c_t), \qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    Args:
        params: parameters or param groups.
        lr: learning rate, ``>= 0`` (Lion's steps have size lr in every coordinate: use 3-10x
            smaller than Adam's).
        betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``.
        weight_decay: :math:`\lambda`, ``>= 0``.

    ``state[p]["exp_avg"]`` is :math:`m`; ``state_dict`` is torch's own format.
    """

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        betas = tuple(betas)
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (expected two values)")
        defaults = dict(lr=_check("learning rate", lr, 0.0),
                        betas=(_check("beta1", betas[0], 0.0, 1.0),
                               _check("beta2", betas[1], 0.0, 1.0)),
                        weight_decay=_check("weight_decay", weight_decay, 0.0))
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                p.mul_(1.0 - group["lr"] * group["weight_decay"])
                p.add_(torch.lerp(m, p.grad, 1.0 - beta1).sign_(), alpha=-group["lr"])
                m.lerp_(p.grad, 1.0 - beta2)
        return loss


class PopulationLion(PopulationBase):
    """Lion per member: the same elementwise rule with per-member hyperparameters."""

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
            p.sub_(torch.lerp(m, g, member_view(one_minus_b1, m)).sign_()
                   * member_view(size, p))
            m.lerp_(g, member_view(one_minus_b2, m))


LION = MethodSpec(
    key="lion", display_name="Lion (plug-in example)",
    description="The sign of an interpolated momentum, so every coordinate moves by exactly lr; "
                "found by program search (Chen et al. 2023). Loaded from examples/lion.py.",
    formula=r"p\leftarrow(1-lr\lambda)p-lr\,\mathrm{sign}(\beta_1 m+(1-\beta_1)g),\quad "
            r"m\leftarrow\beta_2 m+(1-\beta_2)g",
    factory=lambda params, hp, seed: Lion(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                          weight_decay=hp["weight_decay"]),
    hyperparams=(
        HyperParam("lr", 1e-3, 1e-6, 1.0, log=True, search=(1e-5, 1e-2),
                   help="Learning rate: every coordinate moves by lr (times the decay)."),
        HyperParam("beta1", 0.9, 0.0, 0.999, search=(0.5, 0.99),
                   help="Interpolation between momentum and gradient for the step's sign."),
        HyperParam("beta2", 0.99, 0.0, 0.999,
                   help="Decay of the momentum that is carried to the next step."),
        HyperParam("weight_decay", 0.0, 0.0, 10.0,
                   help="Decoupled weight decay: weights shrink by lr * weight_decay a step."),
    ),
    population=lambda hparams, seeds, params: PopulationLion(hparams, params),
)

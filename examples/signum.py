"""Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
ICML 2018) as a lab plug-in: SGD that steps along the sign of its momentum.

A whole method in one file outside ``core/``: the optimizer, its population form and its
``MethodSpec``. Load it without editing the lab, either way:

    MNIST1D_LAB_METHODS=examples.signum:SIGNUM streamlit run app.py
    MNIST1D_LAB_METHODS=examples.signum:SIGNUM python -m core train --method signum --epochs 5

or from an installed package that declares it in its pyproject.toml:

    [project.entry-points."mnist1d_lab.methods"]
    signum = "examples.signum:SIGNUM"
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


class Signum(Optimizer):
    r"""Signum: the sign of an exponential moving average of the gradients.

    Per parameter, with :math:`m_0 = 0`:

    .. math::
        m_t = \beta m_{t-1} + (1 - \beta) g_t, \qquad
        p_t = p_{t-1} - lr\, \operatorname{sign}(m_t)

    Args:
        params: parameters or param groups.
        lr: learning rate, ``>= 0`` (every coordinate moves by lr: use Adam-sized values).
        momentum: :math:`\beta` in ``[0, 1)`` (0 is signSGD).

    ``state[p]["momentum_buffer"]`` is :math:`m`; ``state_dict`` is torch's own format.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9):
        defaults = dict(lr=_check("learning rate", lr, 0.0),
                        momentum=_check("momentum", momentum, 0.0, 1.0))
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                m.lerp_(p.grad, 1.0 - group["momentum"])
                p.add_(m.sign(), alpha=-group["lr"])
        return loss


class PopulationSignum(PopulationBase):
    """Signum per member: the same elementwise rule with per-member lr and momentum."""

    _member_tensors = PopulationBase._member_tensors + ("momentum",)
    _member_tensor_lists = ("buffers",)

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.momentum = self._hyper(h["momentum"] for h in hparams)
        self.buffers = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        weight = (1.0 - self.momentum).to(self.dtype)
        for j, (p, g, m) in enumerate(zip(params, grads, self.buffers)):
            m.lerp_(g, member_view(weight, m))
            p.sub_(m.sign() * member_view(self.step_sizes(lr, factors, j), p))


SIGNUM = MethodSpec(
    key="signum", display_name="Signum (plug-in example)",
    description="SGD along the sign of its momentum, so every coordinate moves by exactly lr "
                "(Bernstein et al. 2018). Loaded from examples/signum.py.",
    formula=r"m\leftarrow\beta m+(1-\beta)g,\quad p\leftarrow p-lr\,\mathrm{sign}(m)",
    factory=lambda params, hp, seed: Signum(params, lr=hp["lr"], momentum=hp["momentum"]),
    hyperparams=(
        HyperParam("lr", 1e-3, 1e-6, 1.0, log=True, search=(1e-5, 1e-2),
                   help="Learning rate: every coordinate moves by lr."),
        HyperParam("momentum", 0.9, 0.0, 0.999, search=(0.0, 0.99),
                   help="Decay of the momentum whose sign is the step (0: signSGD)."),
    ),
    population=lambda hparams, seeds, params: PopulationSignum(hparams, params),
)

"""NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam", ICLR workshop):
``torch.optim.NAdam`` with its defaults, and its population form.

Search ranges: torch's default lr 2e-3 (the paper's) sits inside Adam's (1e-4, 1e-1); beta1
explores (0.8, 0.99) around the paper's 0.975 and torch's 0.9.
"""

import torch

from ._knobs import COUPLED, adam_betas, weight_decay_param
from ._moments import PopulationMoments
from ._population import member_view
from .spec import HyperParam, MethodSpec, lr_param


class NAdam(torch.optim.NAdam):
    """``torch.optim.NAdam``, whose checkpoints also resume bit for bit next to float64 weights:
    torch's ``load_state_dict`` casts every state tensor but ``step`` to the weights' dtype, so
    the float32 ``mu_product`` came back float64 and the resumed run drifted by rounding."""

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        for state in self.state.values():
            if "mu_product" in state:
                state["mu_product"] = state["mu_product"].to(scalar)


class PopulationNAdam(PopulationMoments):
    r"""``torch.optim.NAdam`` per member: with :math:`\mu_t = \beta_1(1 - 0.96^{t\psi}/2)`
    (:math:`\psi` = momentum_decay) and :math:`\Pi_t = \prod_{s \le t} \mu_s`,

    .. math::
        p \leftarrow p - lr\left(\frac{1-\mu_t}{1-\Pi_t} g + \frac{\mu_{t+1}}{1-\Pi_{t+1}}
        m\right) / \left(\sqrt{v / (1-\beta_2^t)} + \epsilon\right)

    with L2 weight decay added to the gradient (torch's default). :math:`\Pi_t` is kept as
    torch keeps it, a float32 scalar, so the coefficients are the solo run's."""

    _member_lists = PopulationMoments._member_lists + ("momentum_decay", "mu_products")
    eps = 1e-8

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.momentum_decay = [float(h["momentum_decay"]) for h in hparams]
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        self.mu_products = [torch.ones((), dtype=scalar) for _ in hparams]

    def _coefficients(self):
        """Per member, the gradient's and the momentum's coefficients (lr left out)."""
        t = float(self.steps)
        on_grad, on_momentum = [], []
        for b1, decay, product in zip(self.beta1.tolist(), self.momentum_decay, self.mu_products):
            mu = b1 * (1.0 - 0.5 * (0.96 ** (t * decay)))
            mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * decay)))
            product.mul_(mu)
            on_grad.append((1.0 - mu) / (1.0 - product.item()))
            on_momentum.append(mu_next / (1.0 - product.item() * mu_next))
        return self._hyper(on_grad), self._hyper(on_momentum)

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.steps += 1
        on_grad, on_momentum = self._coefficients()
        correction = (1.0 - self.beta2 ** self.steps).to(self.dtype)
        for j, (p, g, m, v) in enumerate(zip(params, grads, self.exp_avg, self.exp_avg_sq)):
            g = self.coupled_decay(p, g)
            self.update_moments(m, v, g)
            denom = (v / member_view(correction, v)).sqrt_().add_(self.eps)
            size = self.step_sizes(lr, factors, j)
            step = (g * member_view(on_grad.to(self.dtype), g)
                    + m * member_view(on_momentum.to(self.dtype), m))
            p.sub_(step.div_(denom) * member_view(size, p))


NADAM = MethodSpec(
    key="nadam", display_name="NAdam",
    description="Adam with Nesterov momentum: the step looks ahead along the momentum, with a "
                "momentum that warms up over the first steps (torch.optim.NAdam, defaults).",
    formula=r"\theta_t=\theta_{t-1}-lr\,\frac{\frac{1-\mu_t}{1-\Pi_t}g_t+"
            r"\frac{\mu_{t+1}}{1-\Pi_{t+1}}m_t}{\sqrt{\hat v_t}+\epsilon}",
    factory=lambda params, hp, seed: NAdam(
        params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), weight_decay=hp["weight_decay"],
        momentum_decay=hp["momentum_decay"]),
    hyperparams=(
        lr_param(2e-3),
        *adam_betas(),
        weight_decay_param(0.0, COUPLED),
        HyperParam("momentum_decay", 4e-3, 0.0, 1.0,
                   help="psi: how fast the momentum warms up to beta1 (torch's 0.004)."),
    ),
    population=lambda hparams, seeds, params: PopulationNAdam(hparams, params),
)

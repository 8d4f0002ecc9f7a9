"""Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
Cost", ICML 2018): ``torch.optim.Adafactor`` with its defaults.

Its second moment of a matrix is factored into row and column means, so the update of an
element depends on its whole row and column: no elementwise population form, members train one
after another. Search ranges: torch's default lr 1e-2 is the paper's relative step's scale;
lr explores (1e-4, 1e-1) as Adam's; beta2_decay (the paper's -c in beta2_t = 1 - t^-c, c = 0.8)
explores (-1.0, -0.5), the interval the paper's analysis covers.
"""

import torch

from ._knobs import DECOUPLED, weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param

ADAFACTOR = MethodSpec(
    key="adafactor", display_name="Adafactor",
    description="Adam-like steps with a factored second moment (row and column means of each "
                "matrix), an increasing beta2 and update clipping (torch.optim.Adafactor, "
                "defaults). Members of a population train one after another.",
    formula=r"\hat\beta_{2,t}=1-t^{c},\;V_t\approx R_t C_t/\mathbf 1^\top R_t,\;"
            r"\theta_t=\theta_{t-1}-\rho_t\,\frac{U_t}{\max(1,\mathrm{RMS}(U_t)/d)},\;"
            r"U_t=g_t/\sqrt{V_t}",
    factory=lambda params, hp, seed: torch.optim.Adafactor(
        params, lr=hp["lr"], beta2_decay=hp["beta2_decay"], d=hp["d"],
        weight_decay=hp["weight_decay"]),
    hyperparams=(
        lr_param(1e-2),
        HyperParam("beta2_decay", -0.8, -1.0, 0.0, search=(-1.0, -0.5),
                   help="c in beta2_t = 1 - t^c: how fast the second moment's memory grows."),
        HyperParam("d", 1.0, 1.0, 100.0,
                   help="Clipping threshold on the update's RMS (>= 1)."),
        weight_decay_param(0.0, DECOUPLED),
    ),
    one_after_another=True,
)

"""Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner", ICML 2024), from ``pytorch-optimizer`` (kozistr, Apache-2.0):
``pytorch_optimizer.Prodigy`` wrapped as it is.

Prodigy estimates the distance to the solution, d, from all the parameters together and steps
with lr * d: its lr is a multiplier (1.0, the library's and the paper's default), not a step
size. That estimate couples every element, so members train one after another. Search ranges:
the paper recommends leaving lr at 1 and d_coef, the estimate's scale, in (0.1, 10); lr explores
(0.1, 10) on a log scale for a search that insists on tuning it.
"""

import torch

from ._knobs import DECOUPLED, adam_betas, weight_decay_param
from .spec import HyperParam, MethodSpec


def build_prodigy(params, hp) -> torch.optim.Optimizer:
    from . import _library   # imported when first built (see there)
    return _library.Prodigy(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                     d_coef=hp["d_coef"], weight_decay=hp["weight_decay"])


PRODIGY = MethodSpec(
    key="prodigy", display_name="Prodigy",
    description="Parameter-free Adam: it estimates the distance to the solution (d) as it goes "
                "and steps with lr * d, so lr stays at 1 (pytorch_optimizer.Prodigy, "
                "pytorch-optimizer, Apache-2.0). Members of a population train one after "
                "another.",
    formula=r"d_{t}=\max\!\left(d_{t-1},\frac{\sum_i r_{t,i}}{\|s_t\|_1}\right),\;"
            r"\theta_t=\theta_{t-1}-lr\,d_t\,\frac{m_t}{\sqrt{v_t}+d_t\epsilon}",
    factory=lambda params, hp, seed: build_prodigy(params, hp),
    hyperparams=(
        HyperParam("lr", 1.0, 1e-3, 100.0, log=True, search=(0.1, 10.0),
                   help="A multiplier of the estimated step size d (leave at 1)."),
        *adam_betas(search1=None),
        HyperParam("d_coef", 1.0, 1e-3, 1000.0, log=True, search=(0.1, 10.0),
                   help="Scale of the distance estimate d (the paper's knob)."),
        weight_decay_param(0.0, DECOUPLED),
    ),
    one_after_another=True,
)

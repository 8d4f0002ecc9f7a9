"""SOAP (Vyas et al. 2025, "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025),
from ``pytorch-optimizer`` (kozistr, Apache-2.0): ``pytorch_optimizer.SOAP`` wrapped as it is.

SOAP runs Adam in the eigenbasis of Shampoo's preconditioner, recomputed every
precondition_frequency steps: the update of an element depends on its whole matrix, so members
train one after another. Search ranges: the paper's sweeps cover lr (1e-3, 1e-2) around the
library's 3e-3 (widened to Adam's (1e-4, 1e-1)), betas (0.95, 0.95) and precondition frequency
1 to 100 (it reports 10 a good default).
"""

import torch

from ._knobs import DECOUPLED, adam_betas, weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param


def build_soap(params, hp) -> torch.optim.Optimizer:
    from . import _library   # imported when first built (see there)
    return _library.SOAP(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                  weight_decay=hp["weight_decay"],
                                  precondition_frequency=hp["precondition_frequency"])


SOAP = MethodSpec(
    key="soap", display_name="SOAP",
    description="Adam in the eigenbasis of Shampoo's preconditioner, refreshed every few steps "
                "(pytorch_optimizer.SOAP, pytorch-optimizer, Apache-2.0). Members of a "
                "population train one after another.",
    formula=r"L\leftarrow\beta L+(1-\beta)GG^\top,\;R\leftarrow\beta R+(1-\beta)G^\top G,\;"
            r"Q_L,Q_R=\mathrm{eig}(L,R),\;\theta\leftarrow\theta-lr\,Q_L\,"
            r"\mathrm{Adam}(Q_L^\top G Q_R)\,Q_R^\top",
    factory=lambda params, hp, seed: build_soap(params, hp),
    hyperparams=(
        lr_param(3e-3),
        *adam_betas(0.95, 0.95, search1=None),
        weight_decay_param(1e-2, DECOUPLED),
        HyperParam("precondition_frequency", 10, 1, 1000, log=True, integer=True,
                   search=(1, 100),
                   help="Steps between two eigendecompositions of the preconditioner."),
    ),
    one_after_another=True,
)

"""Schedule-Free SGD (Defazio et al. 2024, "The Road Less Scheduled", NeurIPS 2024), from
``schedulefree`` (facebookresearch, Apache-2.0): ``schedulefree.SGDScheduleFree`` wrapped as it
is. Its population form is Schedule-Free AdamW's without the normalisation
(core/optim/adamw_schedulefree.py); the loop's eval()/train() contract is the same.

Search ranges: the library's default lr is 1.0 and the paper's SGD runs use lr 10-50x SGD's
usual ones, so lr explores (1e-2, 10); momentum (0.8, 0.98) as for AdamW's beta1.
"""

import torch

from .adamw_schedulefree import SCHEDULE_FREE_KNOBS, PopulationScheduleFree
from .spec import HyperParam, MethodSpec, lr_param


def build_sgd_schedulefree(params, hp) -> torch.optim.Optimizer:
    import schedulefree
    optimizer = schedulefree.SGDScheduleFree(
        params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"],
        warmup_steps=hp["warmup_steps"], r=hp["r"], weight_lr_power=hp["weight_lr_power"])
    optimizer.train()   # ready to step, as the library's docs start every training loop
    return optimizer


SGD_SCHEDULEFREE = MethodSpec(
    key="sgd_schedulefree", display_name="Schedule-Free SGD",
    description="SGD without a schedule: steps at an interpolation between the iterate and its "
                "running average, which is what is evaluated (schedulefree.SGDScheduleFree, "
                "facebookresearch, Apache-2.0). The lab calls optimizer.eval() before every "
                "evaluation and optimizer.train() after.",
    formula=r"y_t=(1-\beta)z_t+\beta x_t,\; z_{t+1}=z_t-lr\,g(y_t),\;"
            r"x_{t+1}=(1-c_{t+1})x_t+c_{t+1}z_{t+1}",
    factory=lambda params, hp, seed: build_sgd_schedulefree(params, hp),
    hyperparams=(
        lr_param(1.0, high=100.0, search=(1e-2, 10.0)),
        HyperParam("momentum", 0.9, 0.01, 0.999, search=(0.8, 0.98),
                   help="Interpolation between the average x and the iterate z (y's place)."),
    ) + SCHEDULE_FREE_KNOBS,
    population=lambda hparams, seeds, params: PopulationScheduleFree(hparams, params,
                                                                     "momentum"),
)

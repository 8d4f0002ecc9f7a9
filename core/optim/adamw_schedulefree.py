"""Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled", NeurIPS 2024), from
``schedulefree`` (facebookresearch, Apache-2.0): ``schedulefree.AdamWScheduleFree`` wrapped as
it is, and the population form it shares with Schedule-Free SGD.

Schedule-Free steps at one point (y) and is evaluated at another (x, an average of the iterates):
the lab's loop calls ``optimizer.eval()`` before every evaluation and ``optimizer.train()``
after (core/optim/modes.py). The library checks none of its hyperparameters; the spec's ranges
do. Search ranges: the paper's sweeps use lr about 10x AdamW's (its default 2.5e-3), so lr
explores (1e-4, 1e-1) as Adam's; beta1 (0.8, 0.98), the paper's recommended values 0.9-0.95
and its ablation's; warm-up steps are a run setting's job here (the lab's schedules), 0 as the
library's default.
"""

import torch

from ._population import PopulationBase, member_view
from ._knobs import beta_param, weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param


def build_adamw_schedulefree(params, hp) -> torch.optim.Optimizer:
    import schedulefree
    optimizer = schedulefree.AdamWScheduleFree(
        params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), weight_decay=hp["weight_decay"],
        warmup_steps=hp["warmup_steps"], r=hp["r"], weight_lr_power=hp["weight_lr_power"])
    optimizer.train()   # ready to step, as the library's docs start every training loop
    return optimizer


class PopulationScheduleFree(PopulationBase):
    r"""Schedule-Free per member (AdamW's normalised gradient, or SGD's raw one). With
    :math:`c_{t+1} = w_t / \sum_{s \le t} w_s` and :math:`w_t = (t+1)^r\, lr_{\max}^{\,p}`:

    .. math::
        y \leftarrow (1 - c)\,y + c\,z + lr\,(\beta(1-c) - 1)\,\hat g, \qquad
        z \leftarrow z - lr\,\hat g

    with :math:`\hat g` the (normalised) gradient plus :math:`\lambda y`. The weights hold
    :math:`y` while training; ``eval`` moves them to :math:`x = y + (1 - 1/\beta)(z - y)`'s
    interpolation as the library does, and ``train`` back. Per-member scalars (warm-up, the
    weights :math:`w`) are Python floats, formed as the library forms them."""

    _member_tensors = PopulationBase._member_tensors + ("momentum", "weight_decay")
    _member_tensor_lists = ("z",)
    _member_lists = PopulationBase._member_lists + ("warmup_steps", "r", "weight_lr_power",
                                                    "lr_max", "weight_sum", "betas")
    normalised = False

    def __init__(self, hparams, params, momentum_name: str):
        super().__init__(hparams, params)
        self.betas = [float(h[momentum_name]) for h in hparams]
        self.momentum = self._hyper(self.betas)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)
        self.warmup_steps = [int(h["warmup_steps"]) for h in hparams]
        self.r = [float(h["r"]) for h in hparams]
        self.weight_lr_power = [float(h["weight_lr_power"]) for h in hparams]
        self.lr_max = [-1.0] * len(hparams)
        self.weight_sum = [0.0] * len(hparams)
        self.z = []
        self.k = 0
        self.training = True

    def _scalars(self, lrs: list[float]):
        """Per member: this step's lr (after the library's warm-up) and c_{t+1}."""
        k, sizes, ckp1 = self.k, [], []
        for i, lr in enumerate(lrs):
            warm = self.warmup_steps[i]
            lr = lr * ((k + 1) / warm if k < warm else 1.0)
            self.lr_max[i] = max(lr, self.lr_max[i])
            weight = ((k + 1) ** self.r[i]) * (self.lr_max[i] ** self.weight_lr_power[i])
            self.weight_sum[i] = self.weight_sum[i] + weight
            sizes.append(lr)
            ckp1.append(weight / self.weight_sum[i] if self.weight_sum[i] else 0.0)
        return self._hyper(sizes), self._hyper(ckp1)

    def _normalise(self, grads) -> list[torch.Tensor]:
        return list(grads)

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        if not self.z:
            self.z = [p.detach().clone() for p in params]
        size, ckp1 = self._scalars(lr.tolist())
        y_step = (size * (self.momentum * (1.0 - ckp1) - 1.0)).to(self.dtype)
        size, ckp1 = size.to(self.dtype), ckp1.to(self.dtype)
        decay = self.weight_decay.to(self.dtype)
        for j, (y, z, g) in enumerate(zip(params, self.z, self._normalise(grads))):
            # Per-tensor factors (WeightTrajectoryLR's) scale how far y moves, as the solo
            # wrapper scales its base's step: y_old + s (y_new - y_old); z moves in full.
            before = None if factors is None else y.clone()
            g = g + member_view(decay, y) * y
            y.lerp_(z, member_view(ckp1, y))
            y.add_(g * member_view(y_step, y))
            z.sub_(g * member_view(size, z))
            if before is not None:
                y.copy_(torch.lerp(before, y, member_view(factors[:, j].to(self.dtype), y)))
        self.k += 1

    @torch.no_grad()
    def _move(self, params, weight: torch.Tensor) -> None:
        for p, z in zip(params, self.z):
            p.lerp_(z, member_view(weight.to(self.dtype), p))

    def eval(self, params):
        if self.training and self.z:
            self._move(params, 1.0 - 1.0 / self.momentum)
        self.training = False

    def train(self, params):
        if not self.training and self.z:
            self._move(params, 1.0 - self.momentum)
        self.training = True


class PopulationAdamWScheduleFree(PopulationScheduleFree):
    """``schedulefree.AdamWScheduleFree`` per member: the gradient divided by
    :math:`\\sqrt{v / (1-\\beta_2^{t})} + \\epsilon` before the Schedule-Free step."""

    _member_tensors = PopulationScheduleFree._member_tensors + ("beta2",)
    _member_tensor_lists = PopulationScheduleFree._member_tensor_lists + ("exp_avg_sq",)
    eps = 1e-8

    def __init__(self, hparams, params):
        super().__init__(hparams, params, "beta1")
        self.beta2 = self._hyper(h["beta2"] for h in hparams)
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]

    def _normalise(self, grads):
        b2 = self.beta2.to(self.dtype)
        correction = (1.0 - self.beta2 ** (self.k + 1)).to(self.dtype)
        out = []
        for g, v in zip(grads, self.exp_avg_sq):
            v.mul_(member_view(b2, v)).addcmul_(g * g, member_view(1.0 - b2, v))
            out.append(g / ((v / member_view(correction, v)).sqrt_().add_(self.eps)))
        return out


SCHEDULE_FREE_KNOBS = (
    weight_decay_param(0.0, "L2 weight decay, added to the (normalised) gradient at y."),
    HyperParam("warmup_steps", 0, 0, 100_000, integer=True,
               help="The library's own linear warm-up, in steps (0: none; the lab's schedules "
                    "offer warm-up as a run setting)."),
    HyperParam("r", 0.0, 0.0, 10.0, help="Polynomial weighting (t+1)^r of the average."),
    HyperParam("weight_lr_power", 2.0, 0.0, 10.0,
               help="The average's weights are lr_max raised to this power."),
)

ADAMW_SCHEDULEFREE = MethodSpec(
    key="adamw_schedulefree", display_name="Schedule-Free AdamW",
    description="AdamW without a schedule: steps are taken at an interpolation between the "
                "iterate and its running average, and the average is evaluated "
                "(schedulefree.AdamWScheduleFree, facebookresearch, Apache-2.0). The lab calls "
                "optimizer.eval() before every evaluation and optimizer.train() after.",
    formula=r"y_t=(1-\beta_1)z_t+\beta_1 x_t,\; z_{t+1}=z_t-lr\,\frac{g(y_t)}{\sqrt{\hat v_t}+"
            r"\epsilon},\; x_{t+1}=(1-c_{t+1})x_t+c_{t+1}z_{t+1}",
    factory=lambda params, hp, seed: build_adamw_schedulefree(params, hp),
    hyperparams=(
        lr_param(2.5e-3),
        HyperParam("beta1", 0.9, 0.01, 0.999, search=(0.8, 0.98),
                   help="Interpolation between the average x and the iterate z (y's place)."),
        beta_param("beta2", 0.999, "Decay of the second moment."),
    ) + SCHEDULE_FREE_KNOBS,
    population=lambda hparams, seeds, params: PopulationAdamWScheduleFree(hparams, params),
)

"""GNW-Adam: Adam whose learning rate shrinks with the global gradient norm (write-up 004)."""

import math

import torch
from torch.optim import Adam

from ._checks import non_negative, unit_interval
from ._state import LabOptimizer, refuse_sparse
from ._step import parent_step, reads_are_free


class GNWAdam(LabOptimizer, Adam):
    r"""Gradient-Norm-Weighted Adam.

    Exactly :class:`torch.optim.Adam`, except that step :math:`t` uses

    .. math::
        lr_t = \frac{lr}{1 + \lVert g_t \rVert_2}, \qquad
        \lVert g_t \rVert_2 = \sqrt{\textstyle\sum_{\text{all groups}} \sum_p \lVert g_{p,t} \rVert_2^2}

    where the norm is over the raw gradients of every parameter of every group (before
    weight decay is added to them). Moments, bias correction and ``eps`` are Adam's.

    ``grad_norm`` holds the latest global norm (a float); ``effective_lrs()`` the lrs it gave.
    """

    _pickled_attributes = ("grad_norm",)

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **adam_options) -> None:
        non_negative("learning rate", lr)
        non_negative("eps", eps)
        non_negative("weight_decay", weight_decay)
        if len(tuple(betas)) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (expected two values)")
        unit_interval("beta1", betas[0])
        unit_interval("beta2", betas[1])
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps,
                         weight_decay=weight_decay, **adam_options)
        # Fused Adam asks a GradScaler to skip unscaling and hand it the scale instead; the
        # norm above must see unscaled gradients, so the scaler unscales them first.
        self._step_supports_amp_scaling = False
        self.grad_norm = 0.0

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return loss
        refuse_sparse(self, grads)
        norms = torch._foreach_norm(grads)
        # Adam reads lr as a Python float, so the norm is read every step anyway (on an
        # accelerator, one wait for the device: the price of reusing Adam's kernels).
        if reads_are_free(norms[0]):
            # Free reads and a sum in double beat two more tensor ops (bench/RESULTS.md).
            self.grad_norm = math.sqrt(math.fsum(float(n) ** 2 for n in norms))
        else:
            self.grad_norm = float(torch.linalg.vector_norm(torch.stack(norms)))
        scale = 1.0 / (1.0 + self.grad_norm)
        base_lrs = [g["lr"] for g in self.param_groups]
        try:
            for g in self.param_groups:
                g["lr"] = g["lr"] * scale
            # Adam's own step, minus the hook runner this step already went through.
            parent_step(Adam, self)
        finally:
            for g, lr in zip(self.param_groups, base_lrs):
                g["lr"] = lr
        return loss

    def effective_lrs(self) -> list[float]:
        scale = 1.0 / (1.0 + self.grad_norm)
        return [g["lr"] * scale for g in self.param_groups]

    def diagnostics(self) -> dict[str, float | list[float]]:
        return {"grad_norm": self.grad_norm, "effective_lr": self.effective_lrs()[0]}


# --- Registry entry and population form (P runs at once; core/optim/_population.py) ---------

from ._population import member_norms  # noqa: E402  (kept beside the form it serves)
from .adam import PopulationAdam  # noqa: E402
from .spec import MethodSpec, lr_param  # noqa: E402


class PopulationGNWAdam(PopulationAdam):
    """GNW-Adam per member: each member's lr divided by 1 + its own global gradient norm (the
    norm of the gradients this step is given, as the solo optimizer reads ``p.grad``)."""

    _member_tensors = PopulationAdam._member_tensors + ("grad_norm",)

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.grad_norm = torch.zeros(len(hparams), dtype=torch.float64, device=self.device)

    @torch.no_grad()
    def update(self, params, grads, lr, factors=None):
        self.grad_norm = member_norms(grads).norm(dim=1).double()
        super().update(params, grads, lr / (1.0 + self.grad_norm), factors)

    def diagnostics(self):
        norms = self.grad_norm.tolist()
        return [{"grad_norm": n, "effective_lr": lr / (1.0 + n)}
                for n, lr in zip(norms, self.base_lrs)]


GNW_ADAM = MethodSpec(
    key="gnw_adam", display_name="GNW-Adam",
    description="Adam whose step size is divided by 1 + the global gradient norm: smaller "
                "steps where the landscape is steep.",
    formula=r"lr_t=\frac{lr}{1+\lVert g_t\rVert_2}",
    factory=lambda params, hp, seed: GNWAdam(params, lr=hp["lr"], fused=True),
    hyperparams=(lr_param(1e-2),),
    writeup="004",
    population=lambda hparams, seeds, params: PopulationGNWAdam(hparams, params),
)

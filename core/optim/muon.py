"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks",
kellerjordan.github.io/posts/muon) as its authors and torch's docs use it: ``torch.optim.Muon``
for the hidden weight matrices and ``torch.optim.AdamW`` for everything else.

Which tensor goes where is read from the parameters' shapes and order, never their names: the
2-D tensors other than the first and the last 2-D tensor (a model's input and output layers)
are Muon's; biases, the input and output layers and any tensor that is not a matrix are AdamW's.
Muon orthogonalises each matrix's momentum (Newton-Schulz), so no elementwise population form
exists: members train one after another.

Search ranges: torch's default Muon lr 1e-3 with its "original" lr adjustment; the post uses
0.02 for its own adjustment, so lr explores (1e-4, 1e-1); the AdamW part explores Adam's range.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from ._state import check_loadable, refuse_sparse
from ._step import base_step
from ._knobs import weight_decay_param
from .spec import HyperParam, MethodSpec, lr_param


def hidden_matrices(params: list[torch.Tensor]) -> list[bool]:
    """Per tensor, whether Muon takes it: 2-D, and neither the first nor the last 2-D tensor."""
    matrices = [i for i, p in enumerate(params) if p.dim() == 2]
    hidden = set(matrices[1:-1])
    return [i in hidden for i in range(len(params))]


def _in_order(params) -> list[torch.Tensor]:
    """The tensors, in order, of what a torch optimizer accepts: tensors, (name, tensor) pairs,
    or param groups without options of their own (a framework's ``[{"params": ...}]``)."""
    out = []
    for item in params:
        if isinstance(item, dict):
            options = set(item) - {"params", "param_names"}
            if options:
                raise TypeError(f"MuonWithAdamW splits a model's parameters by shape and sets "
                                f"each part's options itself; a param group with {sorted(options)} "
                                "cannot be honoured: pass the parameters in order")
            out.extend(_in_order(item["params"]))
        elif isinstance(item, tuple):
            out.append(item[1])
        else:
            out.append(item)
    return out


class MuonWithAdamW(Optimizer):
    r"""``torch.optim.Muon`` over the hidden matrices and ``torch.optim.AdamW`` over the rest,
    as one optimizer: its param groups are the two optimizers' groups (Muon's first), its state
    theirs, so a scheduler, ``state_dict`` (torch's own format) and pickling see one optimizer.

    Args:
        params: the model's parameters in order (not param groups: the split is by shape).
        lr, momentum, weight_decay: Muon's (torch's defaults 1e-3, 0.95, 0.1; Nesterov).
        adamw_lr, adamw_weight_decay: AdamW's (torch's defaults 1e-3, 1e-2).

    Without hidden matrices (one hidden layer or none) it is AdamW alone.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.95,
                 weight_decay: float = 0.1, adamw_lr: float = 1e-3,
                 adamw_weight_decay: float = 1e-2) -> None:
        params = _in_order(params)
        muon = hidden_matrices(params)
        inner = []
        if any(muon):
            inner.append(torch.optim.Muon([p for p, m in zip(params, muon) if m], lr=lr,
                                          momentum=momentum, weight_decay=weight_decay))
        if not all(muon):
            inner.append(torch.optim.AdamW([p for p, m in zip(params, muon) if not m],
                                           lr=adamw_lr, weight_decay=adamw_weight_decay))
        self.inner = inner
        super().__init__([g for opt in inner for g in opt.param_groups], {})
        self._link()

    def _link(self) -> None:
        """The inner optimizers see this optimizer's groups and state (after a load too)."""
        start = 0
        for opt in self.inner:
            opt.param_groups = self.param_groups[start:start + len(opt.param_groups)]
            opt.state = self.state
            start += len(opt.param_groups)

    def __getstate__(self):
        return {**super().__getstate__(), "inner": self.inner}

    def state_dict(self):
        return {**super().state_dict(), "optimizer_class": type(self).__name__}

    def load_state_dict(self, state_dict) -> None:
        # Another class's checkpoint, or wrongly shaped state, is refused before anything loads.
        check_loadable(self, state_dict, type(self).__name__)
        super().load_state_dict(state_dict)
        self._link()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        refuse_sparse(self, [p.grad for g in self.param_groups for p in g["params"]
                             if p.grad is not None])
        for opt in self.inner:
            base_step(opt)
        return loss


MUON = MethodSpec(
    key="muon", display_name="Muon (+ AdamW)",
    description="Muon for the hidden weight matrices: their momentum, orthogonalised by "
                "Newton-Schulz iterations, is the step (torch.optim.Muon, defaults). AdamW for "
                "the biases, the input and output layers and any non-matrix tensor "
                "(torch.optim.AdamW). The split is read from the parameters' shapes and order: "
                "2-D tensors except the first and the last. Members of a population train one "
                "after another.",
    formula=r"B_t=\mu B_{t-1}+G_t,\; O_t=\mathrm{NS}_5(G_t+\mu B_t)\approx UV^\top,\;"
            r"W_t=(1-lr\,\lambda)W_{t-1}-lr\sqrt{\max(1,A/B)}\,O_t",
    factory=lambda params, hp, seed: MuonWithAdamW(
        params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"],
        adamw_lr=hp["adamw_lr"], adamw_weight_decay=hp["adamw_weight_decay"]),
    hyperparams=(
        lr_param(1e-3),
        HyperParam("momentum", 0.95, 0.0, 0.999, search=(0.8, 0.99),
                   help="Muon's momentum (Nesterov)."),
        weight_decay_param(0.1, "Muon's decoupled weight decay: the hidden matrices shrink by "
                                "lr * weight_decay a step."),
        HyperParam("adamw_lr", 1e-3, 1e-6, 1.0, log=True, search=(1e-4, 1e-1),
                   help="The lr of AdamW, which trains the biases, input and output layers."),
        HyperParam("adamw_weight_decay", 1e-2, 0.0, 10.0,
                   help="AdamW's decoupled weight decay."),
    ),
    one_after_another=True,
)

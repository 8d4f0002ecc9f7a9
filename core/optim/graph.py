"""The one backward pass every optimizer here can use, curvature-estimating ones included."""

import torch
from torch.optim import Optimizer


def unwrap(optimizer):
    """The optimizer behind a framework's proxy: accelerate's ``AcceleratedOptimizer`` and
    Lightning's ``LightningOptimizer`` hold the real one as ``.optimizer`` (Lightning's copies
    the real one's attributes once, so asking the proxy would read a stale step count)."""
    inner = getattr(optimizer, "optimizer", None)
    while isinstance(inner, Optimizer) and inner is not optimizer:
        optimizer, inner = inner, getattr(inner, "optimizer", None)
    return optimizer


def backward(loss: torch.Tensor, optimizer, params=None) -> None:
    """``loss.backward()``, or, when ``optimizer.needs_create_graph`` (AdaHessian's convention,
    used by MetaCurvatureLR), gradients that keep their graph for a Hessian-vector product.

    ``optimizer`` may be a framework's proxy of one of the lab's optimizers; ``params`` defaults
    to its parameters. Like ``loss.backward()``, the graph case adds to gradients already there
    (so k micro-batches give the full batch's gradient), skips parameters that do not require
    grad and leaves ``p.grad`` alone for parameters the loss does not use. It assigns
    ``p.grad`` rather than calling ``backward(create_graph=True)``, which would create a
    parameter<->gradient reference cycle.
    """
    optimizer = unwrap(optimizer)
    if not getattr(optimizer, "needs_create_graph", False):
        loss.backward()
        return
    if params is None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
    params = [p for p in params if p.requires_grad]
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    used = []
    for p, g in zip(params, grads):
        if g is None:
            continue
        p.grad = g if p.grad is None else p.grad + g
        used.append(p)
    note = getattr(optimizer, "note_graph_gradients", None)
    if note is not None:
        note(used)

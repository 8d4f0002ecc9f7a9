"""The one backward pass every optimizer here can use, curvature-estimating ones included."""

import torch


def backward(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params) -> None:
    """``loss.backward()``, or, when ``optimizer.needs_create_graph`` (AdaHessian's convention,
    used by MetaCurvatureLR), gradients that keep their graph for a Hessian-vector product.

    The graph case uses ``autograd.grad`` and assigns ``p.grad`` (it does not accumulate): unlike
    ``backward(create_graph=True)`` it creates no parameter<->gradient reference cycle.
    """
    if getattr(optimizer, "needs_create_graph", False):
        params = list(params)
        for p, g in zip(params, torch.autograd.grad(loss, params, create_graph=True)):
            p.grad = g
    else:
        loss.backward()

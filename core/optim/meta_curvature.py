"""MetaCurvatureLR: shrink the learning rate with a Hutchinson estimate of the Hessian trace (write-up 002)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative, positive_int
from ._step import base_step
from .wrapper import OptimizerWrapper


def hutchinson_trace(grads, params, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    r"""Estimate :math:`\operatorname{tr} H` as the mean of :math:`v^\top H v` over Rademacher ``v``.

    ``grads`` must carry a graph (``create_graph=True``); each sample costs one Hessian-vector
    product. Exact when the Hessian is diagonal, since then :math:`v^\top H v = \sum_i H_{ii} v_i^2`.
    """
    total = torch.zeros((), dtype=params[0].dtype, device=params[0].device)
    for i in range(n_samples):
        # randint's upper bound is exclusive: (0, 2) gives {0, 1}, hence {-1, +1} after 2x - 1.
        probes = [(torch.randint(0, 2, p.shape, generator=generator, device=p.device) * 2 - 1)
                  .to(p.dtype) for p in params]
        hvps = torch.autograd.grad(grads, params, grad_outputs=probes,
                                   retain_graph=i < n_samples - 1)
        total = total + sum((v * hv).sum() for v, hv in zip(probes, hvps))
    return total / n_samples


class MetaCurvatureLR(OptimizerWrapper):
    r"""Set every group's lr from the Hessian trace, re-estimated every ``update_freq`` steps.

    On step 1 and every ``update_freq`` steps after (steps 1, 1 + f, 1 + 2f, ...):

    .. math::
        \hat T = \frac{1}{n} \sum_{k=1}^{n} v_k^\top H v_k, \quad v_k \in \{-1, +1\}^d, \qquad
        lr_{group} = \frac{lr_{group,0}}{1 + \alpha \max(\hat T, 0)}

    with :math:`H` the Hessian of the loss over all parameters, and that lr holds until the next
    estimate. A negative estimate never raises the lr above the initial one.

    The caller must run ``loss.backward(create_graph=True)`` before a step for which
    ``needs_create_graph`` is True (AdaHessian's convention); a step that needs the graph and finds
    none raises ``RuntimeError``. Probes come from a ``torch.Generator`` seeded with ``seed``.

    Args:
        base: the optimizer to wrap; its group lrs at construction are the initial lrs.
        alpha: sensitivity to curvature, ``>= 0`` (0 leaves the lr unchanged).
        update_freq: steps between estimates, ``>= 1``.
        n_samples: Rademacher probes per estimate, ``>= 1``.
        seed: seed of the probe generator.

    ``last_trace`` is the latest estimate (a float, NaN before the first).
    """

    _wrapper_attributes = ("alpha", "update_freq", "n_samples", "step_count", "initial_lrs",
                           "last_trace", "_generator_state")

    def __init__(self, base: Optimizer, alpha: float = 1e-3, update_freq: int = 10,
                 n_samples: int = 1, seed: int = 0) -> None:
        super().__init__(base)
        self.alpha = non_negative("alpha", alpha)
        self.update_freq = positive_int("update_freq", update_freq)
        self.n_samples = positive_int("n_samples", n_samples)
        self.step_count = 0
        self.initial_lrs = [float(g["lr"]) for g in self.param_groups]
        self.last_trace = float("nan")
        device = self.params()[0].device
        self.generator = torch.Generator(device=device).manual_seed(int(seed))

    def _public_hyperparameters(self):
        return ("alpha", "update_freq", "n_samples")

    @property
    def needs_create_graph(self) -> bool:
        """Whether the next ``step()`` estimates curvature, so backward must keep its graph."""
        return self.step_count % self.update_freq == 0

    @property
    def _generator_state(self) -> torch.Tensor:
        return self.generator.get_state()

    @_generator_state.setter
    def _generator_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu() if self.generator.device.type == "cpu" else state)

    def add_param_group(self, param_group) -> None:
        super().add_param_group(param_group)
        self.initial_lrs.append(float(self.param_groups[-1]["lr"]))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.needs_create_graph:
            self._estimate_and_set_lr()
        self.step_count += 1
        base_step(self.base)
        return loss

    def _estimate_and_set_lr(self) -> None:
        params = [p for p in self.params() if p.grad is not None]
        if not params or any(p.grad.grad_fn is None for p in params):
            raise RuntimeError(
                f"MetaCurvatureLR estimates the Hessian trace on step {self.step_count + 1} and "
                "needs the gradient's graph: call loss.backward(create_graph=True) when "
                "optimizer.needs_create_graph is True.")
        with torch.enable_grad():
            trace = hutchinson_trace([p.grad for p in params], params, self.n_samples,
                                     self.generator)
        # Drop the graph now: it keeps the whole forward pass alive (PyTorch warns of a leak).
        for p in params:
            p.grad = p.grad.detach()
        self.last_trace = float(trace)
        scale = 1.0 / (1.0 + self.alpha * max(self.last_trace, 0.0))
        for group, initial in zip(self.param_groups, self.initial_lrs):
            group["lr"] = initial * scale

    def diagnostics(self) -> dict[str, float]:
        return {"hessian_trace": self.last_trace, "lr": float(self.param_groups[0]["lr"])}

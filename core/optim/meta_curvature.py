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


# --- Registry entry and population form (P runs at once; core/optim/_population.py) ---------

import dataclasses  # noqa: E402

from ._population import PopulationWrapper, wrapper_method  # noqa: E402
from .adam import ADAM  # noqa: E402
from .spec import HyperParam, MethodSpec, lr_param  # noqa: E402


class PopulationMetaCurvatureLR(PopulationWrapper):
    """MetaCurvatureLR per member over any base form: per-member Hutchinson traces from one set
    of Hessian-vector products over the stacked weights.

    The loss is a sum over members with no shared weight, so the Hessian is block diagonal and
    summing ``v * Hv`` over a member's slice gives that member's ``v_i^T H_i v_i``. Each member
    draws its probes from its own generator, seeded as its solo optimizer's, in the solo order
    (sample by sample, tensor by tensor, in the solo tensors' shapes), so its estimates equal the
    solo run's. Members with fewer samples, or not estimating on this step, get zero probes.
    """

    _member_lists = ("initial_lrs", "current_lrs", "alpha", "update_freq", "n_samples",
                     "generators", "last_trace")

    def __init__(self, base, params, *, alpha, update_freq, n_samples, seeds):
        super().__init__(base, params)
        self.initial_lrs = list(base.base_lrs)
        self.current_lrs = list(base.base_lrs)
        self.alpha = [float(a) for a in alpha]
        self.update_freq = [int(f) for f in update_freq]
        self.n_samples = [int(n) for n in n_samples]
        self.last_trace = [float("nan")] * len(self.alpha)
        self.generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        self.step_count = 0

    @property
    def needs_create_graph(self) -> bool:
        return any(self.step_count % f == 0 for f in self.update_freq)

    def _estimate(self, params) -> None:
        members = [i for i, f in enumerate(self.update_freq) if self.step_count % f == 0]
        if not members:
            return
        if any(p.grad.grad_fn is None for p in params):
            raise RuntimeError("PopulationMetaCurvatureLR needs the gradient's graph on this step")
        grads = [p.grad for p in params]
        samples = max(self.n_samples[i] for i in members)
        total = torch.zeros(len(self.update_freq), dtype=self.dtype, device=self.device)
        with torch.enable_grad():
            for k in range(samples):
                probes = [torch.zeros_like(p) for p in params]
                for i in members:
                    if k >= self.n_samples[i]:
                        continue
                    for probe in probes:
                        # A member's slice has its solo tensor's shape: the same draws.
                        draw = torch.randint(0, 2, probe.shape[1:], generator=self.generators[i],
                                             device=self.device) * 2 - 1
                        probe[i] = draw.to(self.dtype)
                hvps = torch.autograd.grad(grads, params, grad_outputs=probes,
                                           retain_graph=k < samples - 1)
                total = total + sum((v * hv).flatten(1).sum(1) for v, hv in zip(probes, hvps))
        for p in params:
            p.grad = p.grad.detach()
        traces = total.tolist()
        for i in members:
            # Same Python-float arithmetic as the solo wrapper, so the lrs match it exactly.
            self.last_trace[i] = traces[i] / self.n_samples[i]
            scale = 1.0 / (1.0 + self.alpha[i] * max(self.last_trace[i], 0.0))
            self.current_lrs[i] = self.initial_lrs[i] * scale

    def step(self, params):
        if self.needs_create_graph:
            self._estimate(params)
        self.step_count += 1
        self.base.update(params, [p.grad for p in params], self._hyper(self.current_lrs))

    def lrs(self):
        return [(lr,) for lr in self.current_lrs]

    def diagnostics(self):
        return [{"hessian_trace": t, "lr": lr} for t, lr in zip(self.last_trace, self.current_lrs)]


KNOBS = (
    HyperParam("alpha", 1e-3, 0.0, 10.0, log=True, search=(1e-5, 1.0),
               help="Sensitivity to curvature: lr = lr0 / (1 + alpha * trace)."),
    HyperParam("update_freq", 10, 1, 1000, log=True, integer=True, search=(1, 50),
               help="Steps between Hessian-trace estimates (each costs a double backward)."),
    HyperParam("n_samples", 1, 1, 100, log=True, integer=True,
               help="Rademacher probes per trace estimate."),
)


def meta_curvature_over(base: MethodSpec, lr: HyperParam | None = None) -> MethodSpec:
    """MetaCurvatureLR over ``base``'s optimizer, as a method (see ``wrapper_method``)."""
    return wrapper_method(
        base, key="meta_curvature", name="MetaCurvatureLR", lr=lr,
        description="whose learning rate is divided by 1 + alpha * (Hessian trace), the trace "
                    "estimated with Hutchinson's method every few steps.",
        formula=r"\hat T=\tfrac1n\sum_k v_k^\top H v_k,\quad lr=\frac{lr_0}{1+\alpha\max(\hat T,0)}",
        wrap=lambda opt, hp, seed: MetaCurvatureLR(
            opt, alpha=hp["alpha"], update_freq=int(hp["update_freq"]),
            n_samples=int(hp["n_samples"]), seed=seed),
        form=PopulationMetaCurvatureLR, knobs=KNOBS, needs_create_graph=True, writeup="002")


META_CURVATURE = dataclasses.replace(meta_curvature_over(ADAM, lr_param(1e-3)),
                                     key="meta_curvature")

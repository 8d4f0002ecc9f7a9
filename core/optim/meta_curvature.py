"""MetaCurvatureLR: shrink the learning rate with a Hutchinson estimate of the Hessian trace (write-up 002)."""

import math

import torch
from torch.optim import Optimizer

from ._checks import non_negative, non_negative_int, positive_int, seed_value, unit_factor
from ._state import refuse_sparse
from ._step import base_step
from .wrapper import OptimizerWrapper


def hutchinson_trace(grads, params, n_samples: int, generator: torch.Generator,
                     keep_graph: bool = False) -> torch.Tensor:
    r"""Estimate :math:`\operatorname{tr} H` as the mean of :math:`v^\top H v` over Rademacher ``v``.

    ``grads`` must carry a graph (``create_graph=True``); each sample costs one Hessian-vector
    product. ``keep_graph`` keeps the graph after the last one (a caller that may have to
    estimate again, from the same gradients, if its step fails). Exact when the Hessian is diagonal, since then :math:`v^\top H v = \sum_i H_{ii} v_i^2`.
    """
    total = torch.zeros((), dtype=params[0].dtype, device=params[0].device)
    for i in range(n_samples):
        # randint's upper bound is exclusive: (0, 2) gives {0, 1}, hence {-1, +1} after 2x - 1.
        probes = [(torch.randint(0, 2, p.shape, generator=generator, device=p.device) * 2 - 1)
                  .to(p.dtype) for p in params]
        # A param no gradient depends on (one the loss uses linearly) has zero Hessian rows.
        hvps = torch.autograd.grad(grads, params, grad_outputs=probes,
                                   retain_graph=keep_graph or i < n_samples - 1,
                                   materialize_grads=True)
        total = total + sum((v * hv).sum() for v, hv in zip(probes, hvps))
    return total / n_samples


def _generator_state(name: str, value):
    """A loaded probe generator's state, checked before anything is set from the checkpoint."""
    if not (torch.is_tensor(value) and value.dtype == torch.uint8 and value.dim() == 1):
        raise ValueError(f"Invalid {name}: expected a torch.Generator state (a 1-D uint8 tensor)")
    return value


def curvature_factor(alpha: float, trace: float, previous: float) -> float:
    r""":math:`1 / (1 + \alpha \max(\hat T, 0))`; a NaN estimate (a NaN loss) keeps the
    previous factor, so the lr, and a checkpoint of it, stay valid numbers."""
    if math.isnan(trace):
        return previous
    return 1.0 / (1.0 + alpha * max(trace, 0.0))


def _global_norm(tensors) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


class MetaCurvatureLR(OptimizerWrapper):
    r"""Scale every group's lr by a factor from the Hessian trace, re-estimated every
    ``update_freq`` steps.

    On step 1 and every ``update_freq`` steps after (steps 1, 1 + f, 1 + 2f, ...):

    .. math::
        \hat T = \frac{1}{n} \sum_{k=1}^{n} v_k^\top H v_k, \quad v_k \in \{-1, +1\}^d, \qquad
        c = \frac{1}{1 + \alpha \max(\hat T, 0)}

    with :math:`H` the Hessian of the loss over all parameters; ``curvature_factor`` :math:`c`
    holds until the next estimate (1 before the first; a NaN estimate, from a NaN loss, keeps
    it). Every step, the base steps with
    :math:`lr_{group} \cdot c`, where :math:`lr_{group}` is the group's lr as the caller or an
    LR scheduler set it: the schedule sets the lr, the curvature scales it, and
    ``param_groups`` keep the scheduled lr (``effective_lrs()`` gives the scaled ones). A
    negative estimate never raises the lr above the scheduled one.

    The caller must run ``core.optim.backward(loss, optimizer)`` (or
    ``loss.backward(create_graph=True)``) before a step for which ``needs_create_graph`` is True
    (AdaHessian's convention); a step that needs the graph and finds none raises
    ``RuntimeError``. Probes come from a ``torch.Generator`` seeded with ``seed``.

    The estimate does not depend on a loss scale: when the gradients were rescaled in place
    after ``core.optim.backward`` (``GradScaler.unscale_``, gradient clipping), the trace of the
    graph's Hessian is rescaled by the same factor. Models compiled with ``torch.compile`` do
    not support the double backward; ``step`` itself is kept out of compilation.

    Args:
        base: the optimizer to wrap.
        alpha: sensitivity to curvature, ``>= 0`` (0 leaves the lr unchanged).
        update_freq: steps between estimates, ``>= 1``.
        n_samples: Rademacher probes per estimate, ``>= 1``.
        seed: seed of the probe generator, an integer in ``[0, 2**64)``.

    ``last_trace`` is the latest estimate (a float, NaN before the first).
    """

    _wrapper_attributes = ("alpha", "update_freq", "n_samples", "step_count", "curvature_factor",
                           "last_trace", "_generator_state")
    _attribute_checks = {"alpha": non_negative, "update_freq": positive_int,
                         "n_samples": positive_int, "step_count": non_negative_int,
                         "curvature_factor": unit_factor, "_generator_state": _generator_state}
    _transient = ("_noted",)

    def __init__(self, base: Optimizer, alpha: float = 1e-3, update_freq: int = 10,
                 n_samples: int = 1, seed: int = 0) -> None:
        super().__init__(base)
        self.alpha = non_negative("alpha", alpha)
        self.update_freq = positive_int("update_freq", update_freq)
        self.n_samples = positive_int("n_samples", n_samples)
        seed = seed_value("seed", seed)
        self.step_count = 0
        self.curvature_factor = 1.0
        self.last_trace = float("nan")
        params = self.params()   # torch accepts empty groups, and so does the wrapper
        device = params[0].device if params else torch.device("cpu")
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self._noted = None

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

    @property
    def initial_lrs(self) -> list[float]:
        """The group lrs the factor scales (the name of the lrs it replaced, for older callers)."""
        return [float(g["lr"]) for g in self.param_groups]

    def _upgrade(self, own, base_dict):
        # Checkpoints from before schedules were honoured kept the base lr as initial_lrs and
        # the scaled one in the group: split them again.
        initial = own.pop("initial_lrs", None)
        if initial is not None and "curvature_factor" not in own:
            groups = base_dict["param_groups"]
            own["curvature_factor"] = float(groups[0]["lr"]) / initial[0] if initial[0] else 1.0
            base_dict["param_groups"] = [{**group, "lr": lr} for group, lr in zip(groups, initial)]
        return own

    def _after_load(self) -> None:
        self._noted = None

    def note_graph_gradients(self, params) -> None:
        """Called by ``core.optim.backward``: the norm of the gradients as their graph computes
        them, so a later in-place rescaling (a GradScaler's unscale) can be undone in the trace."""
        with torch.no_grad():
            self._noted = (list(params), _global_norm([p.grad for p in params]))

    def effective_lrs(self) -> list[float]:
        """The lrs the next base step uses: each group's lr times the curvature factor."""
        return [g["lr"] * self.curvature_factor for g in self.param_groups]

    @torch.compiler.disable   # a compiled step would freeze step_count and estimate every step
    def step(self, closure=None):
        """One step; a step that raises (the estimate, or the base's step or its hooks) leaves
        the wrapper as it was: step count, factor, trace and probe generator."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not any(p.grad is not None for p in self.params()):
            return loss   # nothing to step (as torch's optimizers): no estimate is spent
        before = (self.step_count, self.curvature_factor, self.last_trace)
        estimating = self.needs_create_graph
        generator_state = self.generator.get_state() if estimating else None
        lrs = [g["lr"] for g in self.param_groups]
        try:
            if estimating:
                self._estimate()
            self.step_count += 1
            factor = self.curvature_factor
            for g in self.param_groups:
                g["lr"] = g["lr"] * factor
            base_step(self.base)
            if estimating:
                # Drop the graph now (only once the step stands): it keeps the whole forward
                # pass alive (PyTorch warns of a leak).
                for p in self.params():
                    if p.grad is not None and p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
        except BaseException:
            self.step_count, self.curvature_factor, self.last_trace = before
            if generator_state is not None:
                self.generator.set_state(generator_state)
            raise
        finally:
            for g, lr in zip(self.param_groups, lrs):
                g["lr"] = lr
        return loss

    def _estimate(self) -> None:
        with_grad = [p for p in self.params() if p.grad is not None]
        refuse_sparse(self, [p.grad for p in with_grad])
        # A param the loss does not use keeps a gradient without a graph (zeros after
        # zero_grad(set_to_none=False)); its Hessian rows are zero, so it is left out.
        params = [p for p in with_grad if p.grad.grad_fn is not None]
        if not params:
            raise RuntimeError(
                f"MetaCurvatureLR estimates the Hessian trace on step {self.step_count + 1} and "
                "needs the gradient's graph: call core.optim.backward(loss, optimizer) or "
                "loss.backward(create_graph=True) when optimizer.needs_create_graph is True.")
        grads = [p.grad for p in params]
        try:
            with torch.enable_grad():
                # The graph stays until the step stands (step() drops it): a failed step leaves
                # the gradients as backward made them, so a retried step can estimate again.
                trace = float(hutchinson_trace(grads, params, self.n_samples, self.generator,
                                               keep_graph=True))
        except RuntimeError as error:
            if "double backward" not in str(error):
                raise
            raise RuntimeError(
                "MetaCurvatureLR needs a double backward, which a model compiled with "
                "torch.compile does not support: train the uncompiled model with MetaCurvatureLR "
                "(or compile only parts that MetaCurvatureLR's parameters do not pass "
                "through).") from error
        trace *= self._rescaling(params)
        self.last_trace = trace
        self.curvature_factor = curvature_factor(self.alpha, trace, self.curvature_factor)

    def _rescaling(self, params) -> float:
        """How much the gradients were scaled in place since ``core.optim.backward`` noted them
        (1 when they were not, or when backward was not ours)."""
        noted, self._noted = self._noted, None
        if noted is None or len(noted[0]) != len(params) or any(
                a is not b for a, b in zip(noted[0], params)):
            return 1.0
        with torch.no_grad():
            now = _global_norm([p.grad for p in params])
        if torch.equal(now, noted[1]) or float(noted[1]) == 0.0:
            return 1.0
        return float(now) / float(noted[1])

    def diagnostics(self) -> dict[str, float]:
        """The latest trace and the lr the base steps with (the scheduled lr is the group's)."""
        return {"hessian_trace": self.last_trace, "lr": float(self.effective_lrs()[0])}


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

    _member_lists = ("curvature_factors", "current_lrs", "alpha", "update_freq", "n_samples",
                     "generators", "last_trace")

    def __init__(self, base, params, *, alpha, update_freq, n_samples, seeds):
        super().__init__(base, params)
        # As the solo wrapper: the factor scales whatever lr the base holds (a schedule's).
        self.curvature_factors = [1.0] * len(base.base_lrs)
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
            self.curvature_factors[i] = curvature_factor(self.alpha[i], self.last_trace[i],
                                                         self.curvature_factors[i])

    def step(self, params):
        if self.needs_create_graph:
            self._estimate(params)
        self.step_count += 1
        self.current_lrs = [lr * f for lr, f in zip(self.base.base_lrs, self.curvature_factors)]
        self.base.update(params, [p.grad for p in params], self._hyper(self.current_lrs))

    def lrs(self):
        # As the solo wrapper: the groups keep the scheduled lr; the scaled one is a diagnostic.
        return self.base.lrs()

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
        form=PopulationMetaCurvatureLR, knobs=KNOBS, needs_create_graph=True, writeup="002",
        # every update_freq steps, n_samples Hutchinson probes, each a Hessian-vector product
        evaluations=lambda hp: (1.0, hp["n_samples"] / hp["update_freq"]))


META_CURVATURE = dataclasses.replace(meta_curvature_over(ADAM, lr_param(1e-3)),
                                     key="meta_curvature")

"""Population training: P configurations of one method trained at once with stacked weights.

Every linear layer of the P members is one tensor of shape ``(P, out, in)`` (member ``i``'s
slice is its solo ``weight``; ``(P, out)`` for the bias), so a forward pass is one
``torch.baddbmm`` per layer instead of P small matmuls: on a 2-core CPU, 32 runs together take
about a third of the time of 32 runs one after another (bench/RESULTS.md).

Member ``i`` is the run ``core.training.train.train(configs[i])`` would make, step for step:

* its initial weights are those of its solo run (the same ``MLP`` built from its own seed);
* its batches come from its own generator, seeded like the solo run's, one ``randperm`` per epoch;
* the loss is the *sum* of the members' mean losses, so each member's slice of the gradient is
  exactly its solo gradient (members share no parameter);
* the optimizer is a population form of the solo optimizer with per-member hyperparameters and
  per-member state, built from the solo optimizers themselves (their param groups and wrapper
  attributes), so no hyperparameter is looked up by name here.

Numbers agree with the solo runs to float rounding (batched kernels sum in another order): in
float64 to ~1e-10, in float32 to ~1e-7 after one epoch (both tested); over many epochs training
amplifies those last bits, as it does any perturbation. Members are numerically
independent: a member whose loss becomes non-finite is reported as diverged and dropped from the
stack; the others go on unchanged.
"""

from __future__ import annotations

import time
from typing import Callable, Generator, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..config import EpochMetrics, RunConfig
from ..data import MNIST1D, load_mnist1d, make_split
from ..optim.gnw_adam import GNWAdam
from ..optim.hessian_lr import HessianLRAdaptation
from ..optim.meta_curvature import MetaCurvatureLR
from ..optim.weight_trajectory import WeightTrajectoryLR
from ..optim.wngd import WNGD
from .job import raise_if_stopped
from .train import (BATCH_STREAM_OFFSET, _tensors, build_run, divergence_reason,
                    flatten_diagnostics, parameter_names, resolve_device)

# Settings that must be equal across members: they fix the shapes and the step count.
SHARED_FIELDS = ("method", "epochs", "batch_size", "hidden", "split", "device")


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-member vector (P,) shaped to broadcast against a stacked tensor (P, ...)."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def _member_norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """(P, n_tensors): the 2-norm of every member's slice of every tensor."""
    return torch.stack([t.flatten(1).norm(dim=1) for t in tensors], dim=1)


class PopulationOptimizer:
    """Base of the population forms. Subclasses list their per-member attributes:

    ``_member_tensors``: tensors with the member on dim 0 (hyperparameters, norms);
    ``_member_tensor_lists``: lists of such tensors, one per parameter (moments, snapshots);
    ``_member_lists``: Python lists with one entry per member (generators, ints).
    ``keep(index)`` selects members along all of them when members leave the population.
    """

    _member_tensors: tuple[str, ...] = ()
    _member_tensor_lists: tuple[str, ...] = ()
    _member_lists: tuple[str, ...] = ()
    needs_create_graph = False

    def __init__(self, solos: Sequence[torch.optim.Optimizer], params: Sequence[torch.Tensor]):
        self.device = params[0].device
        self.dtype = params[0].dtype

    def _hyper(self, values: Iterable[float]) -> torch.Tensor:
        # Hyperparameters in float64: bias corrections and lr products are formed in double, as
        # the solo optimizers form them from Python floats, and cast to the weights' dtype last.
        return torch.tensor(list(values), dtype=torch.float64, device=self.device)

    def keep(self, index: list[int]) -> None:
        idx = torch.tensor(index, dtype=torch.long, device=self.device)
        for name in self._member_tensors:
            setattr(self, name, getattr(self, name).index_select(0, idx))
        for name in self._member_tensor_lists:
            setattr(self, name, [t.index_select(0, idx) for t in getattr(self, name)])
        for name in self._member_lists:
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in index])

    def step(self, params: Sequence[torch.Tensor]) -> None:
        raise NotImplementedError

    def lrs(self) -> list[tuple[float, ...]]:
        """Per member, what the solo run reports as ``lrs`` (its param groups' lr)."""
        return [(lr,) for lr in self.base_lrs]

    def diagnostics(self) -> list[dict]:
        """Per member, the raw dict the solo optimizer's ``diagnostics()`` returns."""
        return [{} for _ in self.base_lrs]


def _adam_settings(opt: torch.optim.Optimizer) -> dict:
    if type(opt) not in (torch.optim.Adam, GNWAdam):
        raise NotImplementedError(f"no population form for a base optimizer {type(opt).__name__}")
    if len(opt.param_groups) != 1:
        raise NotImplementedError("population training supports one param group")
    g = opt.param_groups[0]
    if g.get("amsgrad") or g.get("maximize") or g.get("weight_decay") or g.get("capturable"):
        raise NotImplementedError("population Adam supports plain Adam (no amsgrad, maximize, "
                                  "weight_decay, capturable)")
    return dict(lr=float(g["lr"]), beta1=float(g["betas"][0]), beta2=float(g["betas"][1]),
                eps=float(g["eps"]))


class PopulationAdam(PopulationOptimizer):
    """``torch.optim.Adam`` per member: per-member lr and moments.

    Betas and eps must be the same for every member (the registry never varies them): they are
    then Python floats, as in the solo optimizer, and the moment updates are single foreach
    calls over all tensors; only the step size is a per-member vector.
    """

    _member_tensors = ("lr",)
    _member_tensor_lists = ("exp_avg", "exp_avg_sq", "_scratch")
    _member_lists = ("base_lrs",)

    def __init__(self, solos, params):
        super().__init__(solos, params)
        settings = [_adam_settings(getattr(o, "base", o)) for o in solos]
        shared = {(s["beta1"], s["beta2"], s["eps"]) for s in settings}
        if len(shared) > 1:
            raise NotImplementedError("population Adam needs the same betas and eps for every "
                                      "member (the learning rate may differ)")
        self.beta1, self.beta2, self.eps = shared.pop()
        self.base_lrs = [s["lr"] for s in settings]
        self.lr = self._hyper(self.base_lrs)
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        # Reused every step: fresh multi-MB temporaries cost page faults on CPU.
        self._scratch = [torch.empty_like(p) for p in params]
        # The fused kernel's step counters (float32, as torch.optim.Adam keeps them).
        self._step_counts = [torch.zeros((), dtype=torch.float32, device=self.device)
                             for _ in params]

    @torch.no_grad()
    def _adam_update(self, params, grads, lr: torch.Tensor, factors: torch.Tensor | None = None):
        """One Adam step at per-member ``lr`` (P,), optionally scaled per member and tensor by
        ``factors`` (P, n_tensors).

        PyTorch's fused Adam kernel, run at lr = 1 on zeroed scratch tensors, updates the moments
        and writes the unit step :math:`-\\hat m / (\\sqrt{\\hat v} + \\epsilon)` in one pass
        over memory; each member's own lr then scales it into the weights. Nine foreach passes
        did the same at twice the cost (a pass over P=32 members is ~0.1 ms on one CPU thread)."""
        directions = self._scratch
        torch._foreach_zero_(directions)
        torch._foreach_add_(self._step_counts, 1)
        torch._fused_adam_(directions, grads, self.exp_avg, self.exp_avg_sq, [],
                           self._step_counts, amsgrad=False, lr=1.0, beta1=self.beta1,
                           beta2=self.beta2, weight_decay=0.0, eps=self.eps, maximize=False)
        step_size = lr.to(self.dtype)
        for j, (p, d) in enumerate(zip(params, directions)):
            scale = step_size if factors is None else step_size * factors[:, j]
            p.addcmul_(d, _view(scale, d))

    def step(self, params):
        self._adam_update(params, [p.grad for p in params], self.lr)


class PopulationGNWAdam(PopulationAdam):
    """GNW-Adam: each member's lr divided by 1 + its own global gradient norm."""

    _member_tensors = PopulationAdam._member_tensors + ("grad_norm",)

    def __init__(self, solos, params):
        super().__init__(solos, params)
        self.grad_norm = torch.zeros(len(solos), dtype=torch.float64, device=self.device)

    @torch.no_grad()
    def step(self, params):
        grads = [p.grad for p in params]
        self.grad_norm = _member_norms(grads).norm(dim=1).double()
        self._adam_update(params, grads, self.lr / (1.0 + self.grad_norm))

    def diagnostics(self):
        norms = self.grad_norm.tolist()
        return [{"grad_norm": n, "effective_lr": lr / (1.0 + n)}
                for n, lr in zip(norms, self.base_lrs)]


class PopulationWeightTrajectoryLR(PopulationAdam):
    """WeightTrajectoryLR over Adam: each member's move on each tensor scaled by
    1 / (1 + beta ||p - p0||), the norm taken per member and per tensor before the step."""

    _member_tensors = PopulationAdam._member_tensors + ("beta", "factors")
    _member_tensor_lists = PopulationAdam._member_tensor_lists + ("initial",)

    def __init__(self, solos, params):
        super().__init__(solos, params)
        self.beta = self._hyper(o.beta for o in solos)
        self.initial = [p.detach().clone() for p in params]
        self.factors = torch.ones(len(solos), len(params), dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def step(self, params):
        distances = _member_norms([p - p0 for p, p0 in zip(params, self.initial)])
        self.factors = torch.reciprocal(distances * self.beta.to(self.dtype)[:, None] + 1.0)
        self._adam_update(params, [p.grad for p in params], self.lr, self.factors)

    def diagnostics(self):
        return [{"trajectory_factor": row} for row in self.factors.tolist()]


class PopulationHessianLR(PopulationAdam):
    """HessianLRAdaptation over Adam: per-member rho and eps, per-element running h."""

    _member_tensors = PopulationAdam._member_tensors + ("rho", "h_eps")
    _member_tensor_lists = PopulationAdam._member_tensor_lists + ("prev_grad", "h")

    def __init__(self, solos, params):
        super().__init__(solos, params)
        self.rho = self._hyper(o.rho for o in solos)
        self.h_eps = self._hyper(o.eps for o in solos)
        self.prev_grad: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, params):
        grads = [p.grad for p in params]
        if not self.h:   # first step: the base sees the raw gradient, as in the solo wrapper
            self.prev_grad = [g.detach().clone() for g in grads]
            self.h = [torch.zeros_like(g) for g in grads]
            fed = grads
        else:
            weight = (1.0 - self.rho).to(self.dtype)
            eps = self.h_eps.to(self.dtype)
            fed = []
            for g, prev, h in zip(grads, self.prev_grad, self.h):
                d = g - prev
                h.lerp_(d * d, _view(weight, h))
                prev.copy_(g)
                fed.append(g / h.sqrt().add_(_view(eps, h)))
        self._adam_update(params, fed, self.lr)

    def diagnostics(self):
        if not self.h:
            return [{"precond_mean": 0.0, "precond_max": 0.0} for _ in self.base_lrs]
        root = torch.cat([h.flatten(1) for h in self.h], dim=1).sqrt()
        return [{"precond_mean": mean, "precond_max": top}
                for mean, top in zip(root.mean(1).tolist(), root.amax(1).tolist())]


class PopulationMetaCurvatureLR(PopulationAdam):
    """MetaCurvatureLR over Adam: per-member Hutchinson traces from one set of Hessian-vector
    products over the stacked weights.

    The loss is a sum over members with no shared weight, so the Hessian is block diagonal and
    summing ``v * Hv`` over a member's slice gives that member's ``v_i^T H_i v_i``. Each member
    draws its probes from its own generator, a copy of its solo optimizer's, in the solo order
    (sample by sample, tensor by tensor, in the solo tensors' shapes), so its estimates equal the
    solo run's. Members with fewer samples, or not estimating on this step, get zero probes.
    """

    _member_lists = PopulationAdam._member_lists + (
        "initial_lrs", "current_lrs", "alpha", "update_freq", "n_samples", "generators",
        "last_trace")

    def __init__(self, solos, params):
        super().__init__(solos, params)
        self.initial_lrs = [float(o.initial_lrs[0]) for o in solos]
        self.current_lrs = [float(o.param_groups[0]["lr"]) for o in solos]
        self.alpha = [float(o.alpha) for o in solos]
        self.update_freq = [int(o.update_freq) for o in solos]
        self.n_samples = [int(o.n_samples) for o in solos]
        self.last_trace = [float(o.last_trace) for o in solos]
        self.generators = []
        for o in solos:
            g = torch.Generator(device=o.generator.device)
            g.set_state(o.generator.get_state())
            self.generators.append(g)
        self.step_count = int(solos[0].step_count)

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
        self._adam_update(params, [p.grad for p in params], self._hyper(self.current_lrs))

    def lrs(self):
        return [(lr,) for lr in self.current_lrs]

    def diagnostics(self):
        return [{"hessian_trace": t, "lr": lr} for t, lr in zip(self.last_trace, self.current_lrs)]


class PopulationWNGD(PopulationOptimizer):
    """WNGD per member: p <- p - lr_i g / (||p_i|| + eps_i), per member and per tensor."""

    _member_tensors = ("lr", "eps", "weight_norms")
    _member_lists = ("base_lrs",)

    def __init__(self, solos, params):
        super().__init__(solos, params)
        groups = []
        for o in solos:
            if len(o.param_groups) != 1:
                raise NotImplementedError("population training supports one param group")
            groups.append(o.param_groups[0])
        self.base_lrs = [float(g["lr"]) for g in groups]
        self.lr = self._hyper(self.base_lrs)
        self.eps = self._hyper(float(g["eps"]) for g in groups)
        self.weight_norms = torch.zeros(len(solos), len(params), dtype=self.dtype,
                                        device=self.device)

    @torch.no_grad()
    def step(self, params):
        self.weight_norms = _member_norms(params)
        lr, eps = self.lr.to(self.dtype), self.eps.to(self.dtype)
        for j, p in enumerate(params):
            denom = self.weight_norms[:, j] + eps
            p.sub_(p.grad / _view(denom, p) * _view(lr, p))

    def diagnostics(self):
        return [{"weight_norm": row} for row in self.weight_norms.tolist()]


# Which population form trains a method, keyed by the class of the optimizer its registry factory
# builds. Proposed home: a ``population_factory`` field on ``MethodSpec``.
POPULATION_FORMS: dict[type, type[PopulationOptimizer]] = {
    torch.optim.Adam: PopulationAdam,
    GNWAdam: PopulationGNWAdam,
    WeightTrajectoryLR: PopulationWeightTrajectoryLR,
    HessianLRAdaptation: PopulationHessianLR,
    MetaCurvatureLR: PopulationMetaCurvatureLR,
    WNGD: PopulationWNGD,
}


def population_form(optimizer: torch.optim.Optimizer) -> type[PopulationOptimizer]:
    form = POPULATION_FORMS.get(type(optimizer))
    if form is None:
        raise NotImplementedError(
            f"no population form for {type(optimizer).__name__}; add one to POPULATION_FORMS")
    return form


def supports_population(method: str) -> bool:
    """Whether ``method`` can be trained by :func:`train_population` (looked up by the class of
    the optimizer its factory builds, never by name)."""
    spec = RunConfig(method=method).spec
    probe = spec.build([torch.nn.Parameter(torch.zeros(1))], {}, 0)
    return type(probe) in POPULATION_FORMS


def validate_population(configs: Sequence[RunConfig]) -> None:
    if not configs:
        raise ValueError("a population needs at least one configuration")
    if not all(isinstance(c, RunConfig) for c in configs):
        raise TypeError("a population is a sequence of RunConfig")
    for name in SHARED_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(f"every member of a population must share {name}; "
                             f"got {sorted(map(str, values))}")


def _stacked_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x: (P, in, B) -> logits (P, out, B); params alternate weight (P, out, in), bias (P, out).

    Features on dim 1, samples on dim 2: every layer is ``W @ x``, with nn.Linear's own weight
    layout. The (P, B, features) form, ``x @ W^T``, is 12 % slower for the lab's MLP at P = 32 on
    one CPU thread, and 40 % slower on the 10-wide output layer alone (a narrow gemm output)."""
    last = len(params) // 2 - 1
    for k in range(0, len(params), 2):
        w, b = params[k], params[k + 1]
        x = torch.baddbmm(b.unsqueeze(2), w, x)
        if k // 2 < last:
            x = torch.relu_(x)   # in place: baddbmm's backward needs its inputs, not its output
    return x


def _member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(P, C, B) logits, (P, B) labels -> (P,) mean cross-entropy per member."""
    return F.cross_entropy(logits, y, reduction="none").mean(1)


@torch.no_grad()
def _evaluate(params, x, y) -> tuple[list[float], list[float]]:
    logits = _stacked_forward(params, x.t().expand(params[0].shape[0], -1, -1))
    labels = y.expand(logits.shape[0], -1)
    loss = _member_losses(logits, labels)
    acc = (logits.argmax(1) == labels).float().mean(1)   # float32, as the solo evaluate
    return loss.tolist(), acc.tolist()


StopRule = Callable[[list["EpochMetrics | None"]], Iterable[int]]


def train_population(configs: Sequence[RunConfig], data: MNIST1D | None = None,
                     stop: StopRule | None = None, *, dtype: torch.dtype = torch.float32,
                     test_every_epoch: bool = False,
                     should_stop: Callable[[], bool] | None = None,
                     ) -> Iterator[list[EpochMetrics | None]]:
    """Train every config at once; yield, per epoch, one entry per config (in order).

    An entry is the :class:`EpochMetrics` the solo run ``core.training.train.train(configs[i])`` would
    yield for that epoch, except ``elapsed`` (the population's) and float rounding; it is
    ``None`` for a member that is no longer training: it diverged in an earlier epoch (its last
    entry had ``diverged=True``), or ``stop`` asked for it. ``stop``, called after every epoch
    with that epoch's list, returns indices of members to stop (a search's pruned trials). The
    generator ends when every member has finished; close it to stop them all.

    Configs must share method, epochs, batch_size, hidden, split and device (ValueError).
    ``dtype`` is for tests (float64 makes the comparison with solo runs tight);
    ``test_every_epoch`` and ``should_stop`` are ``train()``'s (``should_stop``, polled before
    every batch, ends the generator without the partial epoch).
    """
    should_stop = should_stop or raise_if_stopped
    configs = list(configs)
    validate_population(configs)
    first = configs[0]
    device = resolve_device(first.device)
    split = make_split(data if data is not None else load_mnist1d(), first.split)
    x_train, y_train, x_val, y_val, x_test, y_test = _tensors(split, device, dtype)

    solos = [build_run(c, device, dtype) for c in configs]
    names = parameter_names(solos[0][0])
    per_member = [list(model.parameters()) for model, _ in solos]
    params = [torch.stack([ps[j].detach() for ps in per_member]).requires_grad_()
              for j in range(len(names))]
    optimizer = population_form(solos[0][1])([o for _, o in solos], params)
    del solos, per_member
    batch_orders = [torch.Generator().manual_seed(c.seed + BATCH_STREAM_OFFSET) for c in configs]
    members = list(range(len(configs)))   # original index of each live member, in stack order
    n, bs = len(y_train), first.batch_size
    bounds = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    start = time.perf_counter()

    for epoch in range(1, first.epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in batch_orders]).to(device)
        # (P, in, n), (P, n): one gather per epoch; the transpose is a view (BLAS takes it as is)
        xs, ys = x_train[perms].transpose(1, 2), y_train[perms]
        loss_sum = torch.zeros(len(members), device=device, dtype=dtype)
        for i, j in bounds:
            if should_stop():
                return
            losses = _member_losses(_stacked_forward(params, xs[:, :, i:j]), ys[:, i:j])
            total = losses.sum()
            if optimizer.needs_create_graph:
                grads = torch.autograd.grad(total, params, create_graph=True)
                for p, g in zip(params, grads):
                    p.grad = g
            else:
                total.backward()
            optimizer.step(params)
            for p in params:
                p.grad = None
            loss_sum += losses.detach() * (j - i)

        train_losses = [s / n for s in loss_sum.tolist()]
        val_losses, val_accs = _evaluate(params, x_val, y_val)
        reasons = [divergence_reason(epoch, t, v) for t, v in zip(train_losses, val_losses)]
        tests = [(None, None)] * len(members)
        if x_test is not None and (test_every_epoch or epoch == first.epochs):
            test_losses, test_accs = _evaluate(params, x_test, y_test)
            tests = [(None, None) if r else (tl, ta)
                     for r, tl, ta in zip(reasons, test_losses, test_accs)]
        elapsed = time.perf_counter() - start
        lrs, diags = optimizer.lrs(), optimizer.diagnostics()
        out: list[EpochMetrics | None] = [None] * len(configs)
        for k, member in enumerate(members):
            out[member] = EpochMetrics(
                epoch=epoch, train_loss=train_losses[k], val_loss=val_losses[k],
                val_acc=val_accs[k], elapsed=elapsed, lrs=lrs[k],
                diagnostics=flatten_diagnostics(diags[k], names),
                diverged=reasons[k] is not None, reason=reasons[k],
                test_loss=tests[k][0], test_acc=tests[k][1])
        yield out

        if epoch == first.epochs:
            return
        leaving = {m for k, m in enumerate(members) if reasons[k] is not None}
        if stop is not None:
            leaving |= {int(i) for i in stop(out)} & set(members)
        if leaving:
            keep = [k for k, m in enumerate(members) if m not in leaving]
            if not keep:
                return
            # Drop the finished members from the stack: they cost nothing from now on, and a
            # diverged member's non-finite weights are gone rather than merely ignored.
            optimizer.keep(keep)
            idx = torch.tensor(keep, dtype=torch.long, device=device)
            params = [p.detach().index_select(0, idx).requires_grad_() for p in params]
            batch_orders = [batch_orders[k] for k in keep]
            members = [members[k] for k in keep]


def population_to_end(configs: Sequence[RunConfig], data: MNIST1D | None = None,
                      **kwargs) -> list[list[EpochMetrics]]:
    """Each member's full history (as ``list(train(config))`` would give it)."""
    histories: list[list[EpochMetrics]] = [[] for _ in configs]
    for epoch_metrics in train_population(configs, data, **kwargs):
        for i, m in enumerate(epoch_metrics):
            if m is not None:
                histories[i].append(m)
    return histories


def population_trainer(configs: Sequence[RunConfig], keep_going, data: MNIST1D | None = None
                       ) -> list[list[EpochMetrics]]:
    """``core.search``'s trainer signature: train ``configs`` together; ``keep_going(i, metrics)``
    is asked after every epoch of member ``i`` and False stops that member (a pruned or
    diverged trial, or a stopped search). Returns each member's curve, as the sequential
    trainer does, so ``run_search(..., trainer=population_trainer, batch=k)`` trains k trials
    at once."""
    return to_end(population_steps(configs, keep_going, data))


def to_end(steps: Generator[None, None, list]) -> list:
    """What a step-by-step trainer (one that pauses after every epoch) returns at its end."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def population_steps(configs: Sequence[RunConfig], keep_going, data: MNIST1D | None = None
                     ) -> Generator[None, None, list[list[EpochMetrics]]]:
    """:func:`population_trainer` pausing (yielding None) after every epoch of the population,
    so that a search can report progress while its batch trains; returns the curves."""
    curves: list[list[EpochMetrics]] = [[] for _ in configs]
    leaving: list[int] = []
    run = train_population(configs, data if data is not None else load_mnist1d(),
                           stop=lambda _metrics: leaving)
    try:
        for metrics in run:
            leaving.clear()
            alive = [i for i, m in enumerate(metrics) if m is not None]
            for i in alive:
                curves[i].append(metrics[i])
                if not keep_going(i, metrics[i]):
                    leaving.append(i)
            yield
            if len(leaving) == len(alive):
                break
    finally:
        run.close()
    return curves

"""Population training: P configurations of one method and model trained at once, stacked.

Every tensor of the P members is one tensor with the member on dim 0 (member ``i``'s slice is
its solo tensor), and the model's spec runs them all in one pass (``ModelSpec.stacked_forward``:
for the MLP one ``torch.baddbmm`` per layer instead of P small matmuls, for the CNN one over
each layer's patches, for the GRU one batched matmul per time step): on a 2-core CPU, 32 MLP
runs together take about a third of the time of 32 runs one after another (bench/RESULTS.md).

Member ``i`` is the run ``core.training.train.train(configs[i])`` would make, step for step:

* its initial weights are those of its solo run (the same model built from its own seed);
* its batches come from its own generator, seeded like the solo run's, one ``randperm`` per epoch;
* the loss is the *sum* of the members' mean losses, so each member's slice of the gradient is
  exactly its solo gradient (members share no parameter);
* the optimizer is the method's population form (``MethodSpec.population``, written beside
  its solo optimizer in ``core/optim/<method>.py``), built from the members' resolved
  hyperparameters and seeds: this module holds no method's math.

A method without a population form, or a model without a stacked forward, trains its members
one after another in effect (side by side, each a solo run; ``SequentialMembers``): the same numbers as solo runs, bit for bit, and
no speed-up. The epoch loop itself is ``epochs.run_epochs``, shared with ``train()``.

Numbers agree with the solo runs to float rounding (batched kernels sum in another order): in
float64 to under 1e-15 in every loss after two epochs, for every method and every wrapper over
every base (measured 4e-16 to 9e-16 by ``python -m bench.population_precision``; the tests allow
1e-9), in float32 to ~1e-7 after one epoch (tested); over many epochs, or in a chaotic run
(HessianLR over SGD at lr 0.03 reaches losses of 300 and differs by O(1) within two epochs),
training amplifies those last bits, as it does any perturbation. Members are numerically
independent: a member whose loss becomes non-finite is reported as diverged and dropped from the
stack; the others go on unchanged.
"""

from __future__ import annotations

from typing import Callable, Generator, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..config import POPULATION_SHARED, EpochMetrics, RunConfig
from ..data import MNIST1D, load_mnist1d
from ..optim.registry import get_method
from .epochs import (Gathered, Members, StopRule, batch_generator, parameter_names,
                     run_epochs)
from .train import SoloMembers, build_model

# Settings that must be equal across members: they fix the shapes and the step count
# (core/config.py's run-setting descriptions say which).
SHARED_FIELDS = POPULATION_SHARED


def supports_population(method: str) -> bool:
    """Whether a population of ``method`` trains as one stacked model (its spec names a
    population form); without one, :func:`train_population` still trains it, one member
    after another in effect, with the same results and no speed-up."""
    return get_method(method).trains_together


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


def trains_together(config: RunConfig) -> bool:
    """Whether a population of ``config``'s method and model runs as one stacked model."""
    return config.spec.trains_together and config.model_spec.trains_together


def _member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(P, C, B) logits, (P, B) labels -> (P,) mean cross-entropy per member."""
    return F.cross_entropy(logits, y, reduction="none").mean(1)


@torch.no_grad()
def _evaluate(forward, params, x, y) -> tuple[list[float], list[float]]:
    logits = forward(params, x.t().expand(params[0].shape[0], -1, -1))
    labels = y.expand(logits.shape[0], -1)
    loss = _member_losses(logits, labels)
    acc = (logits.argmax(1) == labels).float().mean(1)   # float32, as the solo evaluate
    return loss.tolist(), acc.tolist()


class StackedMembers(Members):
    """P runs of one method as one stacked model, stepped by the method's population form."""

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype):
        models = [build_model(c, device, dtype) for c in configs]
        self.names = parameter_names(configs[0])
        self.forward = configs[0].model_spec.stacked_forward
        self.train_forward = configs[0].model_spec.stacked_forward_for_training(
            configs[0].spec.needs_create_graph)
        per_member = [list(m.parameters()) for m in models]
        self.params = [torch.stack([ps[j].detach() for ps in per_member]).requires_grad_()
                       for j in range(len(self.names))]
        self.optimizer = configs[0].spec.population(
            [c.optimizer_hparams() for c in configs], [c.seed for c in configs], self.params)
        self.batch_orders = [batch_generator(c) for c in configs]
        self.xs = self.ys = self.perms = None

    def start_epoch(self, x_train, y_train):
        n, p = len(y_train), len(self.batch_orders)
        # Each member's order drawn into one reused (P, n) buffer: no second copy while the
        # next epoch's is drawn. The data is gathered a batch at a time, (P, in, B) and (P, B);
        # the transpose is a view (BLAS takes it as is).
        if self.perms is None or self.perms.shape != (p, n):
            self.perms = torch.empty(p, n, dtype=torch.long)
        for row, g in zip(self.perms, self.batch_orders):
            torch.randperm(n, generator=g, out=row)
        order = self.perms.to(x_train.device)
        self.xs, self.ys = Gathered(x_train, order, features_first=True), Gathered(y_train, order)

    def train_batch(self, i, j):
        losses = _member_losses(self.train_forward(self.params, self.xs[:, :, i:j]),
                                self.ys[:, i:j])
        total = losses.sum()
        if self.optimizer.needs_create_graph:
            grads = torch.autograd.grad(total, self.params, create_graph=True)
            for p, g in zip(self.params, grads):
                # autograd.grad keeps no layout contract (a GRU's recurrent weight, used
                # transposed, gets a transposed gradient); fused kernels read the gradient's
                # memory in its parameter's order, so give it the parameter's layout.
                p.grad = g.contiguous()
        else:
            total.backward()
        self.optimizer.step(self.params)
        for p in self.params:
            p.grad = None
        return losses.detach()

    def evaluate(self, x, y):
        self.optimizer.eval(self.params)
        try:
            return _evaluate(self.forward, self.params, x, y)
        finally:
            self.optimizer.train(self.params)

    def scale_lrs(self, factors):
        self.optimizer.scale_lrs(factors)

    def lrs(self):
        return self.optimizer.lrs()

    def diagnostics(self):
        return self.optimizer.diagnostics()

    def keep(self, index):
        self.optimizer.keep(index)
        idx = torch.tensor(index, dtype=torch.long, device=self.params[0].device)
        self.params = [p.detach().index_select(0, idx).requires_grad_() for p in self.params]
        self.batch_orders = [self.batch_orders[k] for k in index]


class SequentialMembers(Members):
    """P solo runs side by side, for a method without a population form: each member is
    exactly its solo run (its own model, optimizer and batch order; they share nothing)."""

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype):
        self.runs = [SoloMembers(c, device, dtype) for c in configs]
        self.names = self.runs[0].names

    def start_epoch(self, x_train, y_train):
        for run in self.runs:
            run.start_epoch(x_train, y_train)

    def train_batch(self, i, j):
        return torch.stack([run.train_batch(i, j) for run in self.runs])

    def _each(self, method, *args) -> list:
        return [item for run in self.runs for item in getattr(run, method)(*args)]

    def evaluate(self, x, y):
        pairs = [run.evaluate(x, y) for run in self.runs]
        return [loss for (loss,), _ in pairs], [acc for _, (acc,) in pairs]

    def lrs(self):
        return self._each("lrs")

    def scale_lrs(self, factors):
        for run, factor in zip(self.runs, factors):
            run.scale_lrs([factor])

    def diagnostics(self):
        return self._each("diagnostics")

    def keep(self, index):
        self.runs = [self.runs[k] for k in index]


def train_population(configs: Sequence[RunConfig], data: MNIST1D | None = None,
                     stop: StopRule | None = None, *, dtype: torch.dtype = torch.float32,
                     test_every_epoch: bool = False,
                     should_stop: Callable[[], bool] | None = None
                     ) -> Iterator[list[EpochMetrics | None]]:
    """Train every config at once; yield, per epoch, one entry per config (in order).

    An entry is the :class:`EpochMetrics` the solo run ``core.training.train.train(configs[i])``
    would yield for that epoch, except ``elapsed`` (the population's) and float rounding; it is
    ``None`` for a member that is no longer training: it diverged in an earlier epoch (its last
    entry had ``diverged=True``), or ``stop`` asked for it. ``stop``, called after every epoch
    with that epoch's list, returns indices of members to stop (a search's pruned trials). The
    generator ends when every member has finished; close it to stop them all, or pass
    ``should_stop`` (polled before every batch; True ends it without the partial epoch).

    Configs must share method, model and shape, epochs, batch_size, split and device
    (``SHARED_FIELDS``; ValueError).
    ``dtype`` is for tests (float64 makes the comparison with solo runs tight);
    ``test_every_epoch`` and ``should_stop`` are ``train()``'s (``should_stop``, polled before
    every batch, ends the generator without the partial epoch).
    """
    configs = list(configs)
    validate_population(configs)
    members = StackedMembers if trains_together(configs[0]) else SequentialMembers
    return run_epochs(configs, data, members, dtype=dtype, test_every_epoch=test_every_epoch,
                      stop=stop, should_stop=should_stop)


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

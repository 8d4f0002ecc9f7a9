"""One run: a generator of per-epoch metrics, fast on CPU and the same code on a GPU.

The epoch loop itself (data, evaluation, divergence, the test set, the metrics) is
``epochs.run_epochs``, shared with population training; this module is the one-run part of it.
"""

from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..config import EpochMetrics, RunConfig
from ..data import MNIST1D
from ..models import init_generator
from ..optim._step import loop_step
from ..optim.graph import backward
from ..optim.modes import evaluating, set_training
from .epochs import (BATCH_STREAM_OFFSET, Gathered, Members, available_devices,  # noqa: F401
                     batch_generator, parameter_names, resolve_device, run_epochs)


def build_model(config: RunConfig, device: torch.device,
                dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The model of ``config`` (its spec's builder at its shape): the same seed gives every
    method the same initial weights."""
    return config.model_spec.make(config.shape_dict(), init_generator(config.seed)).to(device, dtype)


def build_run(config: RunConfig, device: torch.device, dtype: torch.dtype = torch.float32):
    """Model and optimizer for ``config``: the same seed gives every method the same weights."""
    model = build_model(config, device, dtype)
    optimizer = config.spec.build(model.parameters(), config.optimizer_hparams(), config.seed)
    return model, optimizer


@torch.no_grad()
def evaluate(model, x, y, forward=None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``x``, ``y``; ``forward`` is its spec's fast
    path over ``model.parameters()`` (default: calling the module)."""
    logits = model(x) if forward is None else forward(list(model.parameters()), x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return float(loss), float(acc)


class SoloMembers(Members):
    """One run: its model and the torch optimizer its method's factory builds."""

    def __init__(self, config: RunConfig, device: torch.device, dtype: torch.dtype):
        self.model, self.optimizer = build_run(config, device, dtype)
        self.names = parameter_names(config)
        self.params = list(self.model.parameters())
        # The model's own fast path: its kernels over its tensors, no module dispatch.
        self.forward = config.model_spec.forward
        self.batch_order = batch_generator(config)
        # Only methods the registry marks may ask for a graph; the rest skip the per-step question
        # and may train through the model's faster, once-differentiable twin.
        self.needs_graph = config.spec.needs_create_graph
        self.train_forward = config.model_spec.forward_for_training(self.needs_graph)
        self.step = loop_step(self.optimizer)
        self.base_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        set_training(self.optimizer, True)
        self.xs = self.ys = None

    def start_epoch(self, x_train, y_train):
        perm = torch.randperm(len(y_train), generator=self.batch_order).to(x_train.device)
        # Gathered a batch at a time: P solo runs side by side hold no P copies of the data.
        self.xs, self.ys = Gathered(x_train, perm), Gathered(y_train, perm)

    def train_batch(self, i, j):
        loss = F.cross_entropy(self.train_forward(self.params, self.xs[i:j]), self.ys[i:j])
        if self.needs_graph:
            backward(loss, self.optimizer, self.params)
        else:
            loss.backward()
        self.step()
        # What zero_grad(set_to_none=True) does, without its per-call profiler scaffolding.
        for p in self.params:
            p.grad = None
        return loss.detach()

    def evaluate(self, x, y):
        with evaluating(self.optimizer):
            loss, acc = evaluate(self.model, x, y, self.forward)
        return [loss], [acc]

    def scale_lrs(self, factors):
        (factor,) = factors
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = lr * factor

    def lrs(self):
        return [tuple(float(g["lr"]) for g in self.optimizer.param_groups)]

    def diagnostics(self):
        diag = getattr(self.optimizer, "diagnostics", None)
        return [diag() if diag else {}]

    def keep(self, index):
        if index != [0]:
            raise ValueError(f"one run has member 0 only, not {index}")


def train(config: RunConfig, data: MNIST1D | None = None, *,
          dtype: torch.dtype = torch.float32, test_every_epoch: bool = False,
          should_stop: Callable[[], bool] | None = None) -> Iterator[EpochMetrics]:
    """Train ``config`` and yield one :class:`EpochMetrics` per epoch.

    A non-finite loss ends the run: the last metrics have ``diverged=True`` and a reason;
    nothing is raised. Close the generator to stop early, or pass ``should_stop``, polled before
    every batch: when it returns True the generator ends without yielding the partial epoch.
    With the honest split, the last epoch also reports the test set (``test_loss``,
    ``test_acc``); it is looked at nowhere else. ``test_every_epoch`` reports it after every
    epoch instead, for a caller that picks an epoch by the validation curve alone and then reads
    that epoch's test loss (honest early stopping); evaluating changes no weight or random
    stream, so the run itself is the same bit for bit.

    ``dtype`` exists for tests (float64 lets a population run be checked against solo runs to
    many digits); the lab always trains in float32.
    ``should_stop``'s default is the runner's ``raise_if_stopped`` (see ``epochs.run_epochs``).
    """
    for metrics in run_epochs([config], data, lambda configs, device, dtype:
                              SoloMembers(configs[0], device, dtype),
                              dtype=dtype, test_every_epoch=test_every_epoch,
                              should_stop=should_stop):
        yield metrics[0]

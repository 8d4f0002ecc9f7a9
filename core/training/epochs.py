"""The epoch loop that one run and a population of runs share.

Data, evaluation, divergence, the test set and ``EpochMetrics`` are written here once. What
differs, how P >= 1 members take a step and evaluate, is a ``Members`` object:
``train.SoloMembers`` (one model, one torch optimizer), ``population.StackedMembers`` (P models
as one stacked model and a population form) and ``population.SequentialMembers`` (P solo runs
side by side, for a method without a population form).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterable, Iterator, Sequence

import torch

from ..config import EpochMetrics, RunConfig
from ..data import MNIST1D, load_mnist1d, make_split
from ..schedules import config_factor, config_is_constant
from .allocator import keep_freed_memory
from .job import raise_if_stopped

# Batch order comes from its own stream so that changing the model (say, its width) does not
# change the batches, and vice versa.
BATCH_STREAM_OFFSET = 1_000_003

StopRule = Callable[[list["EpochMetrics | None"]], Iterable[int]]


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; asking for an absent device is a ValueError."""
    present = available_devices()
    if name == "auto":
        return torch.device("cuda" if "cuda" in present else "mps" if "mps" in present else "cpu")
    if name not in present:
        raise ValueError(f"device {name!r} is not available here; available: {present}")
    return torch.device(name)


def parameter_names(config: RunConfig) -> list[str]:
    """The model's tensor names in parameter order, for per-tensor diagnostics: the MLP's
    ``layer1.weight``, ``layer1.bias``, ...; the CNN's ``conv1.weight``, ... (its spec says)."""
    return list(config.model_spec.tensor_names(config.shape_dict()))


def flatten_diagnostics(raw: dict, names: list[str]) -> dict[str, float]:
    flat = {}
    for key, value in raw.items():
        if isinstance(value, (list, tuple)):
            flat.update({f"{key}/{n}": float(v) for n, v in zip(names, value)})
        else:
            flat[key] = float(value)
    return flat


def divergence_reason(epoch: int, train_loss: float, val_loss: float) -> str | None:
    if math.isfinite(train_loss) and math.isfinite(val_loss):
        return None
    return (f"loss became non-finite in epoch {epoch} "
            f"(train {train_loss:.4g}, validation {val_loss:.4g}); lower the learning rate")


def _tensors(split, device, dtype=torch.float32):
    def t(a, dtype):
        return None if a is None else torch.as_tensor(a, dtype=dtype).to(device)
    return (t(split.x_train, dtype), t(split.y_train, torch.long),
            t(split.x_val, dtype), t(split.y_val, torch.long),
            t(split.x_test, dtype), t(split.y_test, torch.long))


def batch_generator(config: RunConfig) -> torch.Generator:
    return torch.Generator().manual_seed(config.seed + BATCH_STREAM_OFFSET)


class Gathered:
    """``data[order]``, gathered only where it is sliced: ``Gathered(x, order)[..., i:j]`` is
    ``x[order][..., i:j]``, the same numbers, but an epoch holds its order (n indices per
    member) instead of a permuted copy of the training set per member (a 1,000-member
    population's copies were 670 MB, twice while the next epoch's were built; issue 20).
    ``features_first`` swaps the last two axes of each gathered batch (a view), for the stacked
    ``(P, in, B)`` layout. Only the sample axis, the last index, may be sliced."""

    def __init__(self, data: torch.Tensor, order: torch.Tensor, features_first: bool = False):
        self.data, self.order, self.features_first = data, order, features_first

    def __getitem__(self, key):
        *whole, samples = key if isinstance(key, tuple) else (key,)
        if any(k != slice(None) for k in whole):
            raise IndexError("only the sample axis (the last index) of a batch order is sliced")
        batch = self.data[self.order[..., samples]]
        return batch.transpose(-1, -2) if self.features_first else batch


class Members:
    """P >= 1 runs that train together: the part of the loop that differs between one run
    and a population. Member ``k`` is the ``k``-th run still training."""

    names: list[str]   # parameter names, for per-tensor diagnostics

    def start_epoch(self, x_train: torch.Tensor, y_train: torch.Tensor) -> None:
        """Draw this epoch's batch order (each member its own) and gather the data in it."""
        raise NotImplementedError

    def train_batch(self, i: int, j: int) -> torch.Tensor:
        """One step on samples ``i:j`` of the epoch's order; the members' mean losses, detached."""
        raise NotImplementedError

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Per member, mean loss and accuracy on ``x``, ``y``, at the optimizer's evaluation
        point: ``optimizer.eval()`` before, ``optimizer.train()`` after (core/optim/modes.py;
        Schedule-Free's contract, a no-op for other methods)."""
        raise NotImplementedError

    def scale_lrs(self, factors: list[float]) -> None:
        """Member ``k``'s next steps use its method's lr times ``factors[k]`` (its schedule's)."""
        raise NotImplementedError

    def lrs(self) -> list[tuple[float, ...]]:
        raise NotImplementedError

    def diagnostics(self) -> list[dict]:
        """Per member, the raw dict its optimizer's ``diagnostics()`` gives (or would give)."""
        raise NotImplementedError

    def keep(self, index: list[int]) -> None:
        """Only the members at ``index`` go on training."""
        raise NotImplementedError


def run_epochs(configs: Sequence[RunConfig], data: MNIST1D | None,
               build: Callable[[Sequence[RunConfig], torch.device, torch.dtype], Members], *,
               dtype: torch.dtype = torch.float32, test_every_epoch: bool = False,
               stop: StopRule | None = None,
               should_stop: Callable[[], bool] | None = None
               ) -> Iterator[list[EpochMetrics | None]]:
    """Train ``build(configs, device, dtype)`` and yield, per epoch, one entry per config: its
    :class:`EpochMetrics`, or ``None`` once it has left (diverged earlier, or ``stop`` named it).

    Configs share epochs, batch size, split and device (the caller checks). A member whose loss
    is non-finite is reported with ``diverged=True`` and leaves; ``stop(metrics)``, asked after
    every epoch but the last, names more members to leave. ``should_stop()`` is polled before
    every batch: True ends the generator without yielding the partial epoch. Its default is the
    runner's ``raise_if_stopped``, so a Stop in the app acts within a batch: inside a job asked
    to stop it raises ``JobStopped`` (a caller cannot mistake the cut-short run for a finished
    one); elsewhere it never fires. The test set is
    evaluated after the last epoch (every epoch with ``test_every_epoch``) for members that did
    not diverge; evaluating changes no weight or random stream.
    """
    should_stop = should_stop or raise_if_stopped
    first = configs[0]
    device = resolve_device(first.device)
    if device.type == "cpu":
        keep_freed_memory()
    split = make_split(data if data is not None else load_mnist1d(), first.split)
    x_train, y_train, x_val, y_val, x_test, y_test = _tensors(split, device, dtype)
    members = build(configs, device, dtype)
    live = list(range(len(configs)))   # original index of each member still training
    n, bs = len(y_train), first.batch_size
    # Slices of the epoch's gathered batch: computed once, reused every epoch.
    bounds = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    # Only runs with a schedule set lrs during the run; constant ones never touch them.
    scheduled = not all(config_is_constant(c) for c in configs)
    start = time.perf_counter()

    for epoch in range(1, first.epochs + 1):
        members.start_epoch(x_train, y_train)
        loss_sum = torch.zeros(len(live), device=device, dtype=dtype)
        for b, (i, j) in enumerate(bounds):
            if should_stop():
                return
            if scheduled:
                t = (epoch - 1) * len(bounds) + b
                members.scale_lrs([config_factor(configs[m], t, len(bounds)) for m in live])
            loss_sum += members.train_batch(i, j) * (j - i)
        train_losses = [s / n for s in loss_sum.tolist()]
        val_losses, val_accs = members.evaluate(x_val, y_val)
        reasons = [divergence_reason(epoch, t, v) for t, v in zip(train_losses, val_losses)]
        tests = [(None, None)] * len(live)
        if (x_test is not None and (test_every_epoch or epoch == first.epochs)
                and not all(reasons)):
            tests = [(None, None) if r else pair
                     for r, pair in zip(reasons, zip(*members.evaluate(x_test, y_test)))]
        elapsed = time.perf_counter() - start
        lrs, diags = members.lrs(), members.diagnostics()
        out: list[EpochMetrics | None] = [None] * len(configs)
        for k, member in enumerate(live):
            out[member] = EpochMetrics(
                epoch=epoch, train_loss=train_losses[k], val_loss=val_losses[k],
                val_acc=val_accs[k], elapsed=elapsed, lrs=lrs[k],
                diagnostics=flatten_diagnostics(diags[k], members.names),
                diverged=reasons[k] is not None, reason=reasons[k],
                test_loss=tests[k][0], test_acc=tests[k][1])
        yield out

        if epoch == first.epochs:
            return
        leaving = {m for k, m in enumerate(live) if reasons[k] is not None}
        if stop is not None:
            leaving |= {int(i) for i in stop(out)} & set(live)
        if leaving:
            keep = [k for k, m in enumerate(live) if m not in leaving]
            if not keep:
                return
            # Finished members cost nothing from now on, and a diverged member's non-finite
            # weights are gone rather than merely ignored.
            members.keep(keep)
            live = [live[k] for k in keep]

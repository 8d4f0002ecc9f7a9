"""The training loop: a generator of per-epoch metrics, fast on CPU and the same code on a GPU."""

import math
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..config import EpochMetrics, RunConfig
from ..data import MNIST1D, load_mnist1d, make_split
from ..models import MLP, init_generator
from ..optim._step import loop_step
from ..optim.graph import backward
from .job import raise_if_stopped

# Batch order comes from its own stream so that changing the model (say, its width) does not
# change the batches, and vice versa.
BATCH_STREAM_OFFSET = 1_000_003


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


def parameter_names(model: torch.nn.Module) -> list[str]:
    """``layer1.weight``, ``layer1.bias``, ... in parameter order (1-based linear layers)."""
    names = []
    for i, (name, _) in enumerate(model.named_parameters()):
        names.append(f"layer{i // 2 + 1}.{name.rsplit('.', 1)[-1]}")
    return names


def flatten_diagnostics(raw: dict, names: list[str]) -> dict[str, float]:
    flat = {}
    for key, value in raw.items():
        if isinstance(value, (list, tuple)):
            flat.update({f"{key}/{n}": float(v) for n, v in zip(names, value)})
        else:
            flat[key] = float(value)
    return flat


def build_run(config: RunConfig, device: torch.device, dtype: torch.dtype = torch.float32):
    """Model and optimizer for ``config``: the same seed gives every method the same weights."""
    model = MLP(40, config.hidden, 10, generator=init_generator(config.seed)).to(device, dtype)
    optimizer = config.spec.build(model.parameters(), config.optimizer_hparams(), config.seed)
    return model, optimizer


@torch.no_grad()
def evaluate(model, x, y) -> tuple[float, float]:
    logits = _forward(_layers(model), x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return float(loss), float(acc)


def _tensors(split, device, dtype=torch.float32):
    def t(a, dtype):
        return None if a is None else torch.as_tensor(a, dtype=dtype).to(device)
    return (t(split.x_train, dtype), t(split.y_train, torch.long),
            t(split.x_val, dtype), t(split.y_val, torch.long),
            t(split.x_test, dtype), t(split.y_test, torch.long))


def _layers(model: MLP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(m.weight, m.bias) for m in model.net if isinstance(m, torch.nn.Linear)]


def _forward(layers, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` without nn.Module dispatch (hooks, Sequential iteration): the same kernels
    (``F.linear``, ``relu``) in the same order, so the same bits, about 20 us less per step."""
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        x = F.linear(x, w, b)
        if i < last:
            x = torch.relu(x)
    return x


def divergence_reason(epoch: int, train_loss: float, val_loss: float) -> str | None:
    if math.isfinite(train_loss) and math.isfinite(val_loss):
        return None
    return (f"loss became non-finite in epoch {epoch} "
            f"(train {train_loss:.4g}, validation {val_loss:.4g}); lower the learning rate")


def train(config: RunConfig, data: MNIST1D | None = None, *,
          dtype: torch.dtype = torch.float32,
          test_every_epoch: bool = False,
          should_stop: Callable[[], bool] | None = None) -> Iterator[EpochMetrics]:
    """Train ``config`` and yield one :class:`EpochMetrics` per epoch.

    A non-finite loss ends the run: the last metrics have ``diverged=True`` and a reason;
    nothing is raised. Close the generator to stop early. With the honest split, the last epoch
    also reports the test set (``test_loss``, ``test_acc``); it is looked at nowhere else.
    ``test_every_epoch`` reports it after every epoch instead, for a caller that picks an epoch
    by the validation curve alone and then reads that epoch's test loss (honest early stopping);
    evaluating changes no weight or random stream, so the run itself is the same bit for bit.

    ``dtype`` exists for tests (float64 lets a population run be checked against solo runs to
    many digits); the lab always trains in float32.

    ``should_stop`` is polled before every batch; when it returns True the generator ends
    without yielding the partial epoch. Default: the runner's ``raise_if_stopped``, so a Stop
    in the app acts within a batch: inside a job asked to stop it raises ``JobStopped`` (a
    caller cannot mistake the cut-short run for a finished one); elsewhere it never fires.
    """
    should_stop = should_stop or raise_if_stopped
    device = resolve_device(config.device)
    split = make_split(data if data is not None else load_mnist1d(), config.split)
    x_train, y_train, x_val, y_val, x_test, y_test = _tensors(split, device, dtype)
    model, optimizer = build_run(config, device, dtype)
    names = parameter_names(model)
    params = list(model.parameters())
    layers = _layers(model)
    batch_order = torch.Generator().manual_seed(config.seed + BATCH_STREAM_OFFSET)
    # Only methods the registry marks may ask for a graph; the rest skip the per-step question.
    needs_graph = config.spec.needs_create_graph
    n, bs = len(y_train), config.batch_size
    # Slices of the epoch's gathered batch: computed once, reused every epoch.
    bounds = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    step = loop_step(optimizer)
    start = time.perf_counter()

    for epoch in range(1, config.epochs + 1):
        perm = torch.randperm(n, generator=batch_order).to(device)
        xs, ys = x_train[perm], y_train[perm]   # one gather per epoch, then views
        loss_sum = torch.zeros((), device=device, dtype=dtype)
        for i, j in bounds:
            if should_stop():
                return
            xb, yb = xs[i:j], ys[i:j]
            loss = F.cross_entropy(_forward(layers, xb), yb)
            if needs_graph:
                backward(loss, optimizer, params)
            else:
                loss.backward()
            step()
            # What zero_grad(set_to_none=True) does, without its per-call profiler scaffolding.
            for p in params:
                p.grad = None
            loss_sum += loss.detach() * (j - i)
        train_loss = float(loss_sum) / n
        val_loss, val_acc = evaluate(model, x_val, y_val)
        reason = divergence_reason(epoch, train_loss, val_loss)
        diverged = reason is not None
        test_loss = test_acc = None
        if x_test is not None and (test_every_epoch or epoch == config.epochs) and not diverged:
            test_loss, test_acc = evaluate(model, x_test, y_test)
        diag = getattr(optimizer, "diagnostics", None)
        yield EpochMetrics(
            epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc,
            elapsed=time.perf_counter() - start,
            lrs=tuple(float(g["lr"]) for g in optimizer.param_groups),
            diagnostics=flatten_diagnostics(diag(), names) if diag else {},
            diverged=diverged, reason=reason, test_loss=test_loss, test_acc=test_acc)
        if diverged:
            return

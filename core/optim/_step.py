"""Running another optimizer's step as part of one logical step, without paying twice for it
(and whether a step may read numbers out of tensors on its device).

torch.optim wraps every optimizer class's ``step`` in a runner that opens a profiler range and
calls the global and per-instance step hooks. On CPU that runner is a noticeable share of a
training step of the lab's MLP (bench/RESULTS.md). A wrapper's own ``step`` (or a subclass's)
already went through the runner once for this logical step, global hooks included, so the inner
optimizer's runner only adds its cost and a second call of the global hooks.
"""

from functools import partial
from typing import Callable

from torch.optim import Optimizer
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks


def _unhooked(step):
    return step.__wrapped__ if getattr(step, "hooked", False) else step


def _has_own_hooks(optimizer: Optimizer) -> bool:
    """Hooks registered on this instance, or a ``step`` replaced on it (an LR scheduler does)."""
    return bool(optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
                or "step" in vars(optimizer))


def base_step(base: Optimizer) -> None:
    """``base.step()`` for a wrapper. Hooks registered on ``base`` itself still run, and so does
    a ``step`` replaced on the instance."""
    if _has_own_hooks(base):
        base.step()
    else:
        _unhooked(type(base).step)(base)


def loop_step(optimizer: Optimizer) -> Callable[[], None]:
    """The step a training loop that built ``optimizer`` itself calls every batch: without the
    runner when no hook, global or own, is registered at the start (so a profiler trace shows
    no ``Optimizer.step#`` range for it), else ``optimizer.step`` as usual."""
    if _has_own_hooks(optimizer) or _global_optimizer_pre_hooks or _global_optimizer_post_hooks:
        return optimizer.step
    return partial(_unhooked(type(optimizer).step), optimizer)


def parent_step(parent: type[Optimizer], optimizer: Optimizer) -> None:
    """``parent.step(optimizer)`` for a subclass whose own step already ran the hooks."""
    _unhooked(parent.step)(optimizer)


def reads_are_free(tensor) -> bool:
    """Whether reading a number out of ``tensor`` costs nothing: on CPU it is a memory load;
    on an accelerator it waits for every queued kernel, so numbers stay tensors there."""
    return tensor.device.type == "cpu"

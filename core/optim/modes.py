"""The train/eval contract of optimizers that keep two points (Schedule-Free's ``y`` and ``x``).

``schedulefree``'s optimizers take their steps at one point and are evaluated at another: the
training loop calls ``optimizer.eval()`` before it evaluates the model and ``optimizer.train()``
before the next step. The lab's loop does so for every method; for an optimizer without those
methods (every torch.optim one) it is a no-op. A wrapper (``OptimizerWrapper``) forwards the
call to the optimizer it wraps.
"""

from __future__ import annotations

from contextlib import contextmanager


def _owner(optimizer, name: str):
    """The optimizer in a chain of wrappers (``.base``) that has method ``name``, or None."""
    seen = 0
    while optimizer is not None and seen < 16:
        method = getattr(type(optimizer), name, None)
        if callable(method):
            return optimizer
        optimizer, seen = getattr(optimizer, "base", None), seen + 1
    return None


def set_training(optimizer, training: bool) -> None:
    """``optimizer.train()`` (``training``) or ``optimizer.eval()`` where it has them."""
    name = "train" if training else "eval"
    owner = _owner(optimizer, name)
    if owner is not None:
        getattr(owner, name)()


@contextmanager
def evaluating(optimizer):
    """Evaluation at the optimizer's evaluation point: eval() on entry, train() on exit."""
    set_training(optimizer, False)
    try:
        yield
    finally:
        set_training(optimizer, True)

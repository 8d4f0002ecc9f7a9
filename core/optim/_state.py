"""What every optimizer here checks about the gradients it is given and the checkpoints it loads,
and the state-dict hook protocol of ``torch.optim.Optimizer`` for the wrappers, which assemble
their own state_dict (torch's runs its hooks only inside its own ``state_dict``)."""

from typing import Any, Callable

import torch
from torch.optim import Optimizer

# Per-parameter state that torch.optim's built-in optimizers keep in the parameter's own shape.
PARAM_SHAPED = frozenset({"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer",
                          "square_avg", "acc_delta", "sum", "grad_avg", "prev", "ax", "exp_inf"})
# Keys the lab's torch or a scheduler may add to a group; anything else unknown means another class.
_TOLERATED_GROUP_KEYS = frozenset({"initial_lr", "params"})


def refuse_sparse(optimizer: Optimizer, grads) -> None:
    """One clear error for sparse gradients (an ``nn.Embedding(sparse=True)``), which none of the
    lab's formulas handle, instead of a torch error from deep inside a kernel."""
    if any(g.is_sparse for g in grads):
        raise RuntimeError(f"{type(optimizer).__name__} does not support sparse gradients; "
                           "use dense ones (e.g. nn.Embedding(sparse=False)) or torch.optim.SparseAdam")


def check_loadable(optimizer: Optimizer, state_dict: dict[str, Any], owner: str) -> None:
    """Raise ValueError, before anything is loaded, when ``state_dict`` (torch's format) was
    saved by another optimizer class or holds per-parameter tensors of the wrong shape.

    ``owner`` names the class in the message. Torch itself checks the group and parameter
    counts; a wrong shape would otherwise surface as a broadcasting error at the next step.
    """
    saved_class = state_dict.get("optimizer_class")
    if saved_class is not None and saved_class != owner:
        raise ValueError(f"this state_dict was saved by {saved_class}, not {owner}")
    groups = optimizer.param_groups
    for i, (saved, group) in enumerate(zip(state_dict.get("param_groups", ()), groups)):
        unknown = set(saved) - set(group) - _TOLERATED_GROUP_KEYS
        if unknown:
            raise ValueError(f"this state_dict's param group {i} has {sorted(unknown)}, which "
                             f"{owner} does not use: it was saved by another optimizer class")
    params = [p for group in groups for p in group["params"]]
    for index, state in state_dict.get("state", {}).items():
        check_shapes(params, index, state, PARAM_SHAPED)


def check_shapes(params: list[torch.Tensor], index, state: dict, keys) -> None:
    """The tensors under ``keys`` in parameter ``index``'s saved state have that parameter's shape."""
    i = int(index)
    if not 0 <= i < len(params):
        raise ValueError(f"this state_dict refers to parameter {i}; the optimizer has {len(params)}")
    for key, value in state.items():
        if key in keys and torch.is_tensor(value) and value.shape != params[i].shape:
            raise ValueError(f"this state_dict's {key!r} for parameter {i} has shape "
                             f"{tuple(value.shape)}, the parameter has {tuple(params[i].shape)}")


def with_state_dict_hooks(optimizer: Optimizer, build: Callable[[], dict]) -> dict:
    """``build()`` between the optimizer's state-dict pre hooks and post hooks, as torch does."""
    for hook in optimizer._optimizer_state_dict_pre_hooks.values():
        hook(optimizer)
    state_dict = build()
    for hook in optimizer._optimizer_state_dict_post_hooks.values():
        result = hook(optimizer, state_dict)
        if result is not None:
            state_dict = result
    return state_dict


def with_load_hooks(optimizer: Optimizer, state_dict: dict, load: Callable[[dict], None]) -> None:
    """``load(state_dict)`` after the load pre hooks (which may replace it), then the post hooks."""
    state_dict = dict(state_dict)
    for hook in optimizer._optimizer_load_state_dict_pre_hooks.values():
        result = hook(optimizer, state_dict)
        if result is not None:
            state_dict = result
    load(state_dict)
    for hook in optimizer._optimizer_load_state_dict_post_hooks.values():
        hook(optimizer)


class LabOptimizer(Optimizer):
    """What the lab's optimizers that are not wrappers add to ``torch.optim.Optimizer``: their
    diagnostics attributes survive pickling and deep copies (torch keeps only ``defaults``,
    ``state`` and ``param_groups``), ``state_dict`` names the class, and ``load_state_dict``
    refuses another class's or wrongly shaped state before changing anything."""

    # Attributes, besides torch's three, that pickling keeps (diagnostics of the latest step).
    _pickled_attributes: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update({name: getattr(self, name) for name in self._pickled_attributes})
        return state

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer_class": type(self).__name__}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        check_loadable(self, state_dict, type(self).__name__)
        super().load_state_dict(state_dict)

"""Base class for optimizers that wrap another optimizer.

A wrapper is a full ``torch.optim.Optimizer`` (LR schedulers and hooks accept it) whose
``param_groups``, ``state`` and ``defaults`` *are* those of its base, so changing a group's lr
on the wrapper changes it on the base. The wrapper's own per-parameter data lives in
``wrapper_state`` and never in ``base.state``; ``state_dict()`` stores both side by side.
"""

from collections import OrderedDict, defaultdict
from copy import deepcopy
from typing import Any

import torch
from torch.optim import Optimizer


class OptimizerWrapper(Optimizer):
    def __init__(self, base: Optimizer) -> None:
        if not isinstance(base, Optimizer):
            raise TypeError(f"base must be a torch.optim.Optimizer, got {type(base).__name__}")
        # Optimizer.__init__ would create param_groups/state of our own; set up only its hooks.
        self.base = base
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._patch_step_function()
        self.wrapper_state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base.param_groups

    @property
    def state(self):
        return self.base.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.base.defaults

    def params(self) -> list[torch.Tensor]:
        """All parameters in state_dict order (groups in order, params in order)."""
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.base.add_param_group(param_group)
        self._on_new_params(self.base.param_groups[-1]["params"])

    def _on_new_params(self, params) -> None:
        """Hook for wrappers that snapshot parameters when they join."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    # Subclasses list the attributes that make up their own (non per-parameter) state.
    _wrapper_attributes: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        index = {p: i for i, p in enumerate(self.params())}
        per_param = {index[p]: {k: (v.clone() if torch.is_tensor(v) else deepcopy(v))
                                for k, v in s.items()}
                     for p, s in self.wrapper_state.items() if p in index}
        own = {name: deepcopy(getattr(self, name)) for name in self._wrapper_attributes}
        return {"base": self.base.state_dict(), "wrapper_state": per_param, "wrapper": own}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = {"base", "wrapper_state", "wrapper"} - set(state_dict)
        if missing:
            raise ValueError(f"{type(self).__name__} state_dict lacks {sorted(missing)}")
        params = self.params()
        bad = [i for i in state_dict["wrapper_state"] if not 0 <= int(i) < len(params)]
        if bad:
            raise ValueError(f"state_dict refers to parameters {bad}, this optimizer has {len(params)}")
        self.base.load_state_dict(state_dict["base"])
        self.wrapper_state = defaultdict(dict)
        for i, saved in state_dict["wrapper_state"].items():
            p = params[int(i)]
            self.wrapper_state[p] = {
                k: (v.detach().clone().to(device=p.device) if torch.is_tensor(v) else deepcopy(v))
                for k, v in saved.items()}
        for name, value in state_dict["wrapper"].items():
            if name in self._wrapper_attributes:
                setattr(self, name, deepcopy(value))
        self._after_load()

    def _after_load(self) -> None:
        """Hook for wrappers whose attributes need fixing up after a load (devices, generators)."""

    def __repr__(self) -> str:
        own = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._public_hyperparameters())
        return f"{type(self).__name__}({own}, base={self.base!r})"

    def _public_hyperparameters(self) -> tuple[str, ...]:
        return ()

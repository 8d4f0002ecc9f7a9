"""Base class for optimizers that wrap another optimizer.

A wrapper is a full ``torch.optim.Optimizer`` (LR schedulers and hooks accept it) whose
``param_groups``, ``state`` and ``defaults`` *are* those of its base, so changing a group's lr
on the wrapper changes it on the base. The wrapper's own per-parameter data lives in
``wrapper_state`` and never in ``base.state``; ``state_dict()`` stores both side by side, in
torch's format. A wrapper deep-copies and pickles with its base (``torch.save(opt)`` works).
"""

from collections import OrderedDict, defaultdict
from copy import deepcopy
from typing import Any, Callable

import torch
from torch.optim import Optimizer

from ._state import check_loadable, check_shapes, with_load_hooks, with_state_dict_hooks


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

    @property
    def needs_create_graph(self) -> bool:
        """Whether the next step needs the gradient's graph: the base's say (a wrapper over
        MetaCurvatureLR needs what it needs), unless the wrapper estimates itself."""
        return bool(getattr(self.base, "needs_create_graph", False))

    def note_graph_gradients(self, params) -> None:
        """``core.optim.backward``'s note of the graph's gradients, for the base that takes it."""
        note = getattr(self.base, "note_graph_gradients", None)
        if note is not None:
            note(params)

    def params(self) -> list[torch.Tensor]:
        """All parameters in state_dict order (groups in order, params in order)."""
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """The base's, then the wrapper's own check of the new params; a group either refuses
        is not added (a refused call changes nothing)."""
        groups = len(self.base.param_groups)
        self.base.add_param_group(param_group)
        if len(self.base.param_groups) == groups:
            return
        added = self.base.param_groups[-1]["params"]
        try:
            self._on_new_params(added)
        except BaseException:
            del self.base.param_groups[groups:]
            for p in added:
                self.wrapper_state.pop(p, None)
            raise

    def _on_new_params(self, params) -> None:
        """Hook for wrappers that snapshot parameters when they join."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    # Subclasses list the attributes that make up their own (non per-parameter) state, and
    # the constructor's check for each one that has one (a loaded value is checked the same way).
    _wrapper_attributes: tuple[str, ...] = ()
    _attribute_checks: dict[str, Callable[[str, Any], Any]] = {}
    # The wrapper_state entries that have their parameter's shape.
    _param_shaped_state: frozenset[str] = frozenset()
    # Caches rebuilt from the state on first use; never pickled or copied.
    _transient: tuple[str, ...] = ()
    _extra_keys = ("wrapper_state", "wrapper", "optimizer_class")

    def __getstate__(self) -> dict[str, Any]:
        # Optimizer.__getstate__ keeps only defaults, state and param_groups, which here are the
        # base's; the wrapper's own attributes are the rest of __dict__. Hooks stay behind, as
        # torch's do (they may be lambdas).
        return {k: v for k, v in self.__dict__.items()
                if not k.startswith("_optimizer_") and k not in self._transient}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._after_load()

    def state_dict(self) -> dict[str, Any]:
        """Torch's format (the base's ``state`` and ``param_groups`` at the top level, so tools
        that read them work), plus ``wrapper_state`` (per parameter index), ``wrapper`` (the
        attributes in ``_wrapper_attributes``) and ``optimizer_class``. The state-dict hooks
        registered on the wrapper run as torch runs them."""
        def build():
            index = {p: i for i, p in enumerate(self.params())}
            per_param = {index[p]: {k: (v.clone() if torch.is_tensor(v) else deepcopy(v))
                                    for k, v in s.items()}
                         for p, s in self.wrapper_state.items() if p in index}
            own = {name: deepcopy(getattr(self, name)) for name in self._wrapper_attributes}
            return {**self.base.state_dict(), "wrapper_state": per_param, "wrapper": own,
                    "optimizer_class": type(self).__name__}
        return with_state_dict_hooks(self, build)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what ``state_dict()`` saved, or the older ``{"base", "wrapper_state",
        "wrapper"}`` layout. Everything is checked before anything changes: the class, the
        per-parameter shapes, and each attribute as the constructor checks it."""
        with_load_hooks(self, state_dict, self._load)

    def _load(self, state_dict: dict[str, Any]) -> None:
        name = type(self).__name__
        saver = state_dict.get("optimizer_class", name)
        if saver != name:
            raise ValueError(f"this state_dict was saved by {saver}, not {name}")
        if "base" in state_dict:   # the layout saved before the wrappers used torch's
            base_dict = dict(state_dict["base"])
        else:
            base_dict = {k: v for k, v in state_dict.items() if k not in self._extra_keys}
        missing = ({"state", "param_groups"} - set(base_dict)) | (
            {"wrapper_state", "wrapper"} - set(state_dict))
        if missing:
            raise ValueError(f"{name} state_dict lacks {sorted(missing)}: was it saved by "
                             "another optimizer?")
        own = self._upgrade(dict(state_dict["wrapper"]), base_dict)
        unknown = set(own) - set(self._wrapper_attributes)
        if unknown:
            raise ValueError(f"this state_dict was saved by another wrapper (it holds "
                             f"{sorted(own)}), not {name}")
        for key, value in own.items():
            check = self._attribute_checks.get(key)
            if check is not None:
                own[key] = check(key, value)
        params = self.params()
        for i, saved in state_dict["wrapper_state"].items():
            check_shapes(params, i, saved, self._param_shaped_state)
        check_loadable(self.base, base_dict, type(self.base).__name__)
        self.base.load_state_dict(base_dict)
        self.wrapper_state = defaultdict(dict)
        for i, saved in state_dict["wrapper_state"].items():
            p = params[int(i)]
            self.wrapper_state[p] = {
                k: (v.detach().clone().to(device=p.device) if torch.is_tensor(v) else deepcopy(v))
                for k, v in saved.items()}
        for key, value in own.items():
            setattr(self, key, deepcopy(value))
        self._after_load()

    def _upgrade(self, own: dict[str, Any], base_dict: dict[str, Any]) -> dict[str, Any]:
        """Hook for wrappers whose saved attributes changed: today's from an older checkpoint's."""
        return own

    def _after_load(self) -> None:
        """Hook for wrappers whose attributes need fixing up after a load (devices, generators)."""

    def __repr__(self) -> str:
        own = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._public_hyperparameters())
        return f"{type(self).__name__}({own}, base={self.base!r})"

    def _public_hyperparameters(self) -> tuple[str, ...]:
        return ()

"""What a population form is: the optimizer of P runs of one method trained as one stacked model.

Every parameter is stacked on dim 0 (member ``i``'s slice is its solo tensor) and the loss is the
sum of the members' losses, so each member's slice of ``p.grad`` is its solo gradient. A form
applies the solo rule to every slice at once, with per-member hyperparameters and state; it is
built from the members' resolved hyperparameters and seeds alone (``MethodSpec.population``), so
the training loop (``core/training/population.py``) holds no method's math. Each method's form
lives at the end of the method's own file, beside its solo optimizer.

Base forms (Adam, AdamW, SGD with momentum, GNW-Adam) expose ``update(params, grads, lr,
factors)``, the solo step at per-member learning rates, so a wrapper's form runs over any of them
as the solo wrapper runs over its base (``PopulationWrapper``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch

from .spec import HyperParam, MethodSpec


def member_view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-member vector (P,) shaped to broadcast against a stacked tensor (P, ...)."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def member_norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
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

    def __init__(self, params: Sequence[torch.Tensor]):
        self.device = params[0].device
        self.dtype = params[0].dtype

    def _hyper(self, values: Iterable[float]) -> torch.Tensor:
        # Hyperparameters in float64: bias corrections and lr products are formed in double, as
        # the solo optimizers form them from Python floats, and cast to the weights' dtype last.
        return torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)

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

    def eval(self, params: Sequence[torch.Tensor]) -> None:
        """Put the weights at the point the model is evaluated at (the solo optimizer's
        ``eval()``, core/optim/modes.py); the weights as they are for most methods."""

    def train(self, params: Sequence[torch.Tensor]) -> None:
        """Back to the point steps are taken at (the solo optimizer's ``train()``)."""

    def scale_lrs(self, factors: Sequence[float]) -> None:
        """Member ``i`` steps at its lr times ``factors[i]`` from now on (its schedule's)."""
        raise NotImplementedError


class PopulationBase(PopulationOptimizer):
    """A form a wrapper's form can run over: per-member ``lr`` (float64, (P,)) and ``base_lrs``,
    and ``update``, the solo step taken at the given learning rates."""

    _member_tensors = ("lr",)
    _member_lists = ("base_lrs", "initial_lrs")

    def __init__(self, hparams, params):
        super().__init__(params)
        # initial_lrs: the members' lrs; base_lrs and lr: the scheduled ones, as the solo
        # optimizers' param groups hold them.
        self.initial_lrs = [float(h["lr"]) for h in hparams]
        self.base_lrs = list(self.initial_lrs)
        self.lr = self._hyper(self.base_lrs)

    def scale_lrs(self, factors):
        # Python floats, as the solo loop forms group["lr"] = lr * factor.
        self.base_lrs = [lr * f for lr, f in zip(self.initial_lrs, factors)]
        self.lr = self._hyper(self.base_lrs)

    def update(self, params, grads, lr: torch.Tensor, factors: torch.Tensor | None = None):
        """One solo step per member at learning rate ``lr`` (P,), optionally times ``factors``
        (P, n_tensors), a per-member and per-tensor scale of the step (WeightTrajectoryLR's)."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, params):
        self.update(params, [p.grad for p in params], self.lr)

    def step_sizes(self, lr: torch.Tensor, factors: torch.Tensor | None, j: int) -> torch.Tensor:
        """Per member, the learning rate of tensor ``j`` in the weights' dtype."""
        size = lr.to(self.dtype)
        return size if factors is None else size * factors[:, j]


class PopulationWrapper(PopulationOptimizer):
    """A wrapper's form over a base form (``self.base``): members leave both together, and the
    lrs reported are the base's unless the wrapper sets its own."""

    def __init__(self, base: PopulationBase, params):
        super().__init__(params)
        if not isinstance(base, PopulationBase):
            raise TypeError(f"a wrapper's population form runs over a base form, "
                            f"got {type(base).__name__}")
        self.base = base

    def keep(self, index):
        super().keep(index)
        self.base.keep(index)

    def lrs(self):
        return self.base.lrs()

    def diagnostics(self):
        return self.base.diagnostics()

    def eval(self, params):
        self.base.eval(params)

    def train(self, params):
        self.base.train(params)

    def scale_lrs(self, factors):
        self.base.scale_lrs(factors)


def over(form: type[PopulationWrapper], base_factory, **knobs):
    """A ``MethodSpec.population`` for wrapper ``form`` over the base form ``base_factory``
    makes; ``knobs`` maps each of the form's arguments to the hyperparameter it is read from
    (``beta="beta"``)."""
    def population(hparams, seeds, params):
        values = {arg: [h[name] for h in hparams] for arg, name in knobs.items()}
        return form(base_factory(hparams, seeds, params), params, seeds=seeds, **values)
    population.is_wrapper_form = True   # what it builds is no base form: see wrapper_method
    return population


def wrapper_method(base: MethodSpec, *, key: str, name: str, description: str,
                   wrap: Callable[[torch.optim.Optimizer, Mapping[str, float], int],
                                  torch.optim.Optimizer],
                   form: type[PopulationWrapper], knobs: Sequence[HyperParam],
                   lr: HyperParam | None = None, feeds_gradients: bool = False,
                   **fields) -> MethodSpec:
    """A wrapper over ``base``'s optimizer as a method of its own (key ``{key}_{base.key}``):
    ``wrap(base_optimizer, hparams, seed)`` builds the solo form, ``form`` runs over the base's
    population form (``knobs`` are the wrapper's own, read by name), and a base without a
    population form makes one that trains one member after another. So does a base that is
    itself a wrapper: a wrapper's form runs over a base form only (``PopulationWrapper``), and a
    spec never claims a form it cannot build. ``lr`` replaces the base's learning-rate knob (a
    wrapper may want another default). A wrapper that ``feeds_gradients`` of its own to its
    base (HessianLRAdaptation) cannot wrap a base that needs the gradient's graph: refused."""
    if feeds_gradients and base.needs_create_graph:
        raise ValueError(f"{name} feeds {base.display_name} gradients of its own, without the "
                         "graph its curvature estimate needs: wrap it the other way round")
    hyperparams = tuple(lr if lr is not None and hp.name == "lr" else hp
                        for hp in base.hyperparams) + tuple(knobs)
    fields.setdefault("needs_create_graph", base.needs_create_graph)
    together = base.population is not None and not getattr(base.population, "is_wrapper_form",
                                                            False)
    return MethodSpec(
        key=f"{key}_{base.key}", display_name=f"{name} ({base.display_name})",
        description=f"{base.display_name} {description}",
        factory=lambda params, hp, seed: wrap(base.factory(params, hp, seed), hp, seed),
        hyperparams=hyperparams,
        population=over(form, base.population, **{k.name: k.name for k in knobs})
        if together else None,
        one_after_another=not together, **fields)

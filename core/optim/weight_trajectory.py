"""WeightTrajectoryLR: damp each tensor's learning rate by how far it has moved (write-up 000)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative
from ._flat import FlatLayout
from ._state import refuse_sparse
from ._step import base_step, reads_are_free
from .wrapper import OptimizerWrapper


def step_scales(distances: list[torch.Tensor], beta: float, read: bool):
    """Per tensor, :math:`s = 1 / (1 + \\beta d)`, exactly 1 when :math:`\\beta d = 0`: as
    floats when ``read`` (the distances are read), else as tensors. Computed as ``s`` itself,
    never as ``1 - w``: for a huge :math:`\\beta d` it is small, not rounded to 0."""
    if read:
        # On CPU reading the distances is free, and float operations, with the scales handed
        # to lerp as numbers, beat as many tensor ones (figures in bench/RESULTS.md).
        return [1.0 / (1.0 + beta * float(d)) for d in distances]
    # On an accelerator a read would wait for the device: the scales stay tensors there.
    return torch.reciprocal(torch.stack(distances).mul_(beta).add_(1.0)).unbind()


class WeightTrajectoryLR(OptimizerWrapper):
    r"""Scale every parameter tensor's step by its distance from its initial value.

    At construction every parameter ``p`` is snapshotted as :math:`p_0`. At each step, before the
    base optimizer moves, for each tensor separately (each weight matrix and each bias vector):

    .. math::
        s_p = \frac{1}{1 + \beta \, \lVert p - p_0 \rVert_2}

    and ``p`` receives the update the base would make with learning rate :math:`lr \cdot s_p`.
    The wrapper runs the base step and then shrinks the move:
    :math:`p \leftarrow p_{old} + s_p (p_{base} - p_{old})`. That equals the base step at
    :math:`lr \cdot s_p` for every optimizer whose update is linear in lr given its state (SGD with
    or without momentum, Adam, AdamW, RMSprop, Adagrad); the base's own state (moments) evolves
    exactly as it would at the unscaled lr, since none of those states depend on lr.
    With :math:`\beta = 0`, :math:`s_p = 1` and the step is the base's, bit for bit. A huge
    :math:`\beta \lVert p - p_0 \rVert` gives a tiny :math:`s_p`, and the step shrinks with it
    (it is never rounded away: :math:`s_p` itself is computed, not :math:`1 - s_p`).

    Args:
        base: the optimizer to wrap (its param_groups and state are shared, not copied).
        beta: strength of the damping, ``>= 0``.

    ``factors`` is the latest :math:`s_p` per parameter, in ``param_groups`` order, as one tensor,
    computed from ``distances`` (the latest :math:`\lVert p - p_0 \rVert_2`) when read, not per step.
    """

    _wrapper_attributes = ("beta", "distances")
    _attribute_checks = {"beta": non_negative}
    _param_shaped_state = frozenset({"initial"})
    _transient = ("_cached",)

    def __init__(self, base: Optimizer, beta: float = 0.1) -> None:
        super().__init__(base)
        self.beta = non_negative("beta", beta)
        self.distances: tuple[torch.Tensor, ...] = ()
        self._on_new_params(self.params())

    def _public_hyperparameters(self):
        return ("beta",)

    def _on_new_params(self, params) -> None:
        for p in params:
            self.wrapper_state[p]["initial"] = p.detach().clone()
        self._cached = None

    def _after_load(self) -> None:
        self._cached = None   # the loaded snapshots are new tensors

    def _buffers(self) -> "_Buffers":
        """The step's tensors, built when the parameters change, not every step (looking
        tensors up in ``wrapper_state`` every step is not free)."""
        params = self.params()
        cached = self._cached
        if cached is None or len(cached.params) != len(params) or any(
                a is not b for a, b in zip(cached.params, params)):
            cached = self._cached = _Buffers(params, [self.wrapper_state[p] for p in params])
        return cached

    # Kept out of torch.compile: Dynamo drops attribute writes on an optimizer, and the
    # distances (so ``factors`` and ``diagnostics()``) are one.
    @torch.compiler.disable
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        buffers = self._buffers()
        params, before = buffers.params, buffers.before
        if not params:   # empty param groups, as torch's optimizers allow
            base_step(self.base)
            return loss
        # Params without a gradient are left where they are by the base, so lerp leaves them too.
        refuse_sparse(self, [p.grad for p in params if p.grad is not None])
        torch._foreach_copy_(before, params)
        distances = buffers.distances()
        base_step(self.base)
        # p_old + s (p_base - p_old) as lerp(p_old, p_base, s), which for s < 0.5 computes
        # exactly that (so a tiny s still moves p a little) and for s = 1 (beta = 0) gives
        # p_base exact. It is computed in the scratch copy, then copied into the params.
        scales = step_scales(distances, self.beta, read=buffers.flat is not None)
        torch._foreach_lerp_(before, params, scales)
        torch._foreach_copy_(params, before)
        self.distances = distances
        return loss

    @property
    def factors(self) -> torch.Tensor:
        """The latest :math:`s_p` per parameter, in ``param_groups`` order (ones before a step)."""
        if not self.distances:
            return torch.ones(len(self.params()))
        return torch.reciprocal(torch.stack(self.distances).mul(self.beta).add_(1.0))

    def diagnostics(self) -> dict[str, list[float]]:
        return {"trajectory_factor": self.factors.tolist()}


class _FlatOffsets:
    """A copy of the snapshot, the scratch copy and their difference as flat buffers."""

    def __init__(self, layout: FlatLayout, initial: list[torch.Tensor]) -> None:
        self.initial, _ = layout.adopt(initial)
        self.before, self.offset = layout.empty(), layout.empty()
        self.before_views = layout.views(self.before)
        self.offset_views = layout.views(self.offset)

class _Buffers:
    """The params, a scratch copy of them taken before the base moves (not state: nothing in it
    outlives a step), and the distances from the initial snapshot.

    Two paths compute the same formula. The reference: one subtraction per tensor, and the
    weights kept as tensors (any device). The fast path, on CPU when the params share a dtype:
    a flat copy of the snapshots (``wrapper_state[p]["initial"]``) and the scratch as views of
    a flat buffer, so the offset is one subtraction over all params, and the weights are read
    as floats (free on CPU). In float64 both give the same numbers bit for bit (tested); in float32 the
    float weights, computed in double, differ in the last bits.
    """

    def __init__(self, params: list[torch.Tensor], states: list[dict]) -> None:
        self.params = params
        self.flat: _FlatOffsets | None = None
        self.initial = [s["initial"] for s in states]
        if not (FlatLayout.fits(params) and reads_are_free(params[0])):
            self.before = [torch.empty_like(p) for p in params]
            return
        # The snapshots never change, so a flat copy of them stays valid: wrapper_state keeps
        # its own tensors.
        self.flat = _FlatOffsets(FlatLayout(params), self.initial)
        self.before = self.flat.before_views

    def distances(self) -> list[torch.Tensor]:
        r""":math:`\lVert p - p_0 \rVert_2` per tensor, read from ``before``."""
        if self.flat is None:   # the reference path: one subtraction per tensor
            return torch._foreach_norm(torch._foreach_sub(self.before, self.initial))
        # ---- fast path: one subtraction over every element (tested bit for bit against the
        # reference by test_flat_buffers_equal_the_per_tensor_path_bit_for_bit)
        flat = self.flat
        torch.sub(flat.before, flat.initial, out=flat.offset)
        return torch._foreach_norm(flat.offset_views)


# --- Registry entry and population form (P runs at once; core/optim/_population.py) ---------

import dataclasses  # noqa: E402

from ._population import PopulationWrapper, member_norms, wrapper_method  # noqa: E402
from .adam import ADAM  # noqa: E402
from .spec import HyperParam, MethodSpec, lr_param  # noqa: E402


class PopulationWeightTrajectoryLR(PopulationWrapper):
    """WeightTrajectoryLR per member over any base form: each member's step on each tensor
    scaled by 1 / (1 + beta_i ||p_i - p0_i||), the norm taken per member and per tensor before
    the step (the base's step at lr * s, which is what the solo wrapper's lerp gives)."""

    _member_tensors = ("beta", "factors")
    _member_tensor_lists = ("initial",)

    def __init__(self, base, params, *, beta, seeds=()):
        super().__init__(base, params)
        self.beta = self._hyper(beta)
        self.initial = [p.detach().clone() for p in params]
        self.factors = torch.ones(len(beta), len(params), dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def step(self, params):
        distances = member_norms([p - p0 for p, p0 in zip(params, self.initial)])
        self.factors = torch.reciprocal(distances * self.beta.to(self.dtype)[:, None] + 1.0)
        self.base.update(params, [p.grad for p in params], self.base.lr, self.factors)

    def diagnostics(self):
        return [{"trajectory_factor": row} for row in self.factors.tolist()]


BETA = HyperParam("beta", 0.1, 0.0, 100.0, log=True, search=(1e-3, 10.0),
                  help="Damping strength: s = 1 / (1 + beta * ||p - p0||). 0 is the base alone.")


def weight_trajectory_over(base: MethodSpec, lr: HyperParam | None = None) -> MethodSpec:
    """WeightTrajectoryLR over ``base``'s optimizer, as a method (see ``wrapper_method``)."""
    return wrapper_method(
        base, key="weight_trajectory", name="WeightTrajectoryLR", lr=lr,
        description="whose per-tensor learning rate shrinks as the tensor moves away from its "
                    "initial value, tethering layers to where they started.",
        formula=r"s_p=\frac{1}{1+\beta\,\lVert p-p_0\rVert_2},\quad lr_p = lr\cdot s_p",
        wrap=lambda opt, hp, seed: WeightTrajectoryLR(opt, beta=hp["beta"]),
        form=PopulationWeightTrajectoryLR, knobs=(BETA,), writeup="000")


WEIGHT_TRAJECTORY = dataclasses.replace(weight_trajectory_over(ADAM, lr_param(1e-2)),
                                        key="weight_trajectory")

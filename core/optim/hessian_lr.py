"""HessianLRAdaptation: precondition gradients by a running gradient-difference curvature proxy (write-up 003)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative, unit_interval
from ._flat import FlatLayout
from ._state import refuse_sparse
from ._step import base_step
from .wrapper import OptimizerWrapper


class HessianLRAdaptation(OptimizerWrapper):
    r"""Divide each gradient element by a running estimate of its curvature before the base step.

    Per element, with :math:`g_{prev}` the previous raw gradient and :math:`h_0 = 0`:

    .. math::
        d_t = g_t - g_{t-1}, \qquad
        h_t = \rho \, h_{t-1} + (1 - \rho) \, d_t^2, \qquad
        \tilde g_t = \frac{g_t}{\sqrt{h_t} + \epsilon}

    On the first step of a parameter the base sees :math:`g_1` unchanged. The raw gradient is
    remembered as the next :math:`g_{prev}`, and ``p.grad`` holds the raw gradient again after
    ``step()`` (so clipping or logging by the caller sees what backward produced).

    Args:
        base: the optimizer to wrap.
        rho: decay of the running average, ``0 <= rho < 1``.
        eps: added to :math:`\sqrt{h}`, ``>= 0``.

    ``prev_grad`` and ``h`` live per parameter in ``wrapper_state``. Once every parameter has them
    and all share a dtype and device, they are views of one flat buffer each, so every operation
    above is one kernel over all parameters (the same numbers, bit for bit).
    """

    _wrapper_attributes = ("rho", "eps")
    _attribute_checks = {"rho": unit_interval, "eps": non_negative}
    _param_shaped_state = frozenset({"prev_grad", "h"})
    _transient = ("_plan", "_flat")

    def __init__(self, base: Optimizer, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__(base)
        self.rho = unit_interval("rho", rho)
        self.eps = non_negative("eps", eps)
        self._on_new_params(self.params())
        self._after_load()

    def _public_hyperparameters(self):
        return ("rho", "eps")

    def _on_new_params(self, params) -> None:
        # h would hold d^2, not |d|^2, for complex d: refuse rather than be silently wrong.
        if any(p.is_complex() for p in params):
            raise ValueError("HessianLRAdaptation does not support complex parameters "
                             "(view them as real with torch.view_as_real)")

    def _after_load(self) -> None:
        # The loaded (or unpickled) state is made of new tensors: plan anew and lay it flat.
        self._plan = _Plan()
        self._flat = self._lay_flat(self.params())

    def _lay_flat(self, params) -> "_FlatState | None":
        """The state of ``params`` moved into flat buffers, ``wrapper_state`` keeping views of
        them, when every one has state and they share a dtype and device. Done only where the
        state is created (the first step) or loaded, never by a step's plan."""
        state = self.wrapper_state
        if not FlatLayout.fits(params) or any(
                p not in state or "prev_grad" not in state[p] for p in params):
            return None
        return _FlatState(params, [state[p] for p in params])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for p in self.params() if p.grad is not None]
        refuse_sparse(self, [p.grad for p in params])
        # The state changes only once the base step stands: h and prev_grad are computed into
        # scratch and committed after it, so a step that raises (the base's, or a hook on it)
        # leaves the wrapper, and the gradients, as they were.
        kept = (self._plan, self._flat)
        plan = self._plan_for(params)
        seen = plan.seen
        grads = [p.grad for p in seen]
        try:
            if seen:
                if plan.flat is not None:
                    divided, new_h = self._divided_flat(grads, plan.flat), None
                else:
                    divided, new_h = self._divided(grads, plan.prev, plan.h)
                # The base steps on new tensors; the raw gradient objects go back afterwards (a
                # pointer swap instead of dividing in place and copying the raw values back).
                for p, g in zip(seen, divided):
                    p.grad = g
            base_step(self.base)
        except BaseException:
            self._plan, self._flat = kept
            for p in plan.new:
                entry = self.wrapper_state[p]
                for key in ("prev_grad", "h"):
                    entry.pop(key, None)
                if not entry:
                    del self.wrapper_state[p]
            raise
        finally:
            for p, g in zip(seen, grads):
                p.grad = g
        if seen:
            if plan.flat is not None:
                plan.flat.h.copy_(plan.flat.new_h)
                plan.flat.prev.copy_(plan.flat.gathered)
            else:
                torch._foreach_copy_(plan.h, new_h)
                torch._foreach_copy_(plan.prev, grads)
        return loss

    def _divided(self, grads, prev, h) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The reference path, one tensor at a time: g / (sqrt(h') + eps) and h', the h with g
        folded in (``step`` commits h' and g as the next prev once the base step stands)."""
        # prev - g is -d; square it and fold it into h.
        squared = torch._foreach_sub(prev, grads)
        torch._foreach_mul_(squared, squared)
        new_h = torch._foreach_lerp(h, squared, 1.0 - self.rho)
        denominators = torch._foreach_sqrt(new_h)
        torch._foreach_add_(denominators, self.eps)
        return torch._foreach_div(grads, denominators), new_h

    # ---- fast path: the same operations in the same order, one kernel each over every
    # parameter's elements at once (prev_grad and h are views of flat buffers). Tested bit for
    # bit against _divided by test_flat_buffers_equal_the_per_tensor_path_bit_for_bit.
    def _divided_flat(self, grads, flat: "_FlatState") -> list[torch.Tensor]:
        # One copy kernel per tensor into a buffer beats torch.cat's reshapes and its one kernel.
        torch._foreach_copy_(flat.gathered_views, grads)
        g = flat.gathered
        torch.sub(flat.prev, g, out=flat.root)
        flat.root.mul_(flat.root)
        torch.lerp(flat.h, flat.root, 1.0 - self.rho, out=flat.new_h)
        torch.sqrt(flat.new_h, out=flat.root)
        flat.root.add_(self.eps)
        torch.div(g, flat.root, out=flat.divided)
        return flat.divided_views
    # ---- end of the fast path

    def _plan_for(self, params: list[torch.Tensor]) -> "_Plan":
        """Which params step with their state this time; a param seen for the first time gets
        its state here and joins the next step. The plan is kept while the set of params with a
        gradient stays the same (looking tensors up in a dict every step is not free)."""
        plan = self._plan
        if plan.complete and len(plan.params) == len(params) and all(
                a is b for a, b in zip(plan.params, params)):
            return plan
        state = self.wrapper_state
        seen = [p for p in params if "prev_grad" in state[p]]
        new = [p for p in params if "prev_grad" not in state[p]]
        for p in new:
            state[p]["prev_grad"] = p.grad.detach().clone()
            state[p]["h"] = torch.zeros_like(p)
        if new:   # until every param has state the next step's split differs: no plan kept
            if not seen and self._flat is None:   # the first step: the state is born flat
                self._flat = self._lay_flat(params)
            self._plan = _Plan()
            return _Plan(seen=seen, prev=[state[p]["prev_grad"] for p in seen],
                         h=[state[p]["h"] for p in seen], new=new)
        dicts = [state[p] for p in params]
        # The fast path needs exactly the params whose state is flat, in order; any other set
        # (a param without a gradient this step, a group added later) takes the reference path.
        flat = self._flat
        if flat is not None and (len(flat.params) != len(params) or any(
                a is not b for a, b in zip(flat.params, params))):
            flat = None
        self._plan = _Plan(params, seen, [d["prev_grad"] for d in dicts], [d["h"] for d in dicts],
                           flat, complete=True)
        return self._plan

    def diagnostics(self) -> dict[str, float]:
        """Summary of sqrt(h) over all elements: the preconditioner's scale."""
        h = [s["h"] for s in self.wrapper_state.values() if "h" in s]
        if not h:
            return {"precond_mean": 0.0, "precond_max": 0.0}
        root = torch.cat([t.flatten() for t in h]).sqrt()
        return {"precond_mean": float(root.mean()), "precond_max": float(root.max())}


class _Plan:
    """One step's split of the params with a gradient: ``seen`` (those with state, in order),
    their ``prev_grad`` and ``h`` tensors, and the flat buffers when the fast path applies.
    ``complete`` when every param had state, so the plan holds for the next steps too; ``new``
    the params whose state this step created (removed again if the step fails)."""

    def __init__(self, params=(), seen=(), prev=(), h=(), flat=None, complete=False,
                 new=()) -> None:
        self.params, self.seen, self.prev, self.h = list(params), list(seen), list(prev), list(h)
        self.flat: _FlatState | None = flat
        self.complete, self.new = complete, list(new)


class _FlatState:
    """prev_grad and h of ``params`` laid in one flat buffer each, and the step's scratch.

    Laying the state flat replaces each ``wrapper_state`` entry's tensors by views of the
    buffers (same values); from then on the step writes the buffers in place and the entries
    stay valid.
    """

    def __init__(self, params: list[torch.Tensor], dicts: list[dict]) -> None:
        self.params = list(params)
        self.layout = FlatLayout([d["h"] for d in dicts])
        self.prev, prev_views = self.layout.adopt([d["prev_grad"] for d in dicts])
        self.h, h_views = self.layout.adopt([d["h"] for d in dicts])
        for d, prev, h in zip(dicts, prev_views, h_views):
            d["prev_grad"], d["h"] = prev, h
        self.gathered = self.layout.empty()
        self.gathered_views = self.layout.views(self.gathered)
        self.new_h = self.layout.empty()   # h with this step's gradient, until the step stands
        self.root = self.layout.empty()
        self.divided = self.layout.empty()
        self.divided_views = self.layout.views(self.divided)


# --- Registry entry and population form (P runs at once; core/optim/_population.py) ---------

import dataclasses  # noqa: E402

from ._population import PopulationWrapper, member_view, wrapper_method  # noqa: E402
from .adam import ADAM  # noqa: E402
from .spec import HyperParam, MethodSpec, lr_param  # noqa: E402


class PopulationHessianLR(PopulationWrapper):
    """HessianLRAdaptation per member over any base form: per-member rho and eps, per-element
    running h; the base is fed g / (sqrt(h) + eps) (the raw gradient on the first step)."""

    _member_tensors = ("rho", "h_eps")
    _member_tensor_lists = ("prev_grad", "h")

    def __init__(self, base, params, *, rho, eps, seeds=()):
        super().__init__(base, params)
        self.rho = self._hyper(rho)
        self.h_eps = self._hyper(eps)
        self.prev_grad: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, params):
        grads = [p.grad for p in params]
        if not self.h:   # first step: the base sees the raw gradient, as in the solo wrapper
            self.prev_grad = [g.detach().clone() for g in grads]
            self.h = [torch.zeros_like(g) for g in grads]
            fed = grads
        else:
            weight = (1.0 - self.rho).to(self.dtype)
            eps = self.h_eps.to(self.dtype)
            fed = []
            for g, prev, h in zip(grads, self.prev_grad, self.h):
                d = g - prev
                h.lerp_(d * d, member_view(weight, h))
                prev.copy_(g)
                fed.append(g / h.sqrt().add_(member_view(eps, h)))
        self.base.update(params, fed, self.base.lr)

    def diagnostics(self):
        if not self.h:
            return [{"precond_mean": 0.0, "precond_max": 0.0} for _ in range(len(self.rho))]
        root = torch.cat([h.flatten(1) for h in self.h], dim=1).sqrt()
        return [{"precond_mean": mean, "precond_max": top}
                for mean, top in zip(root.mean(1).tolist(), root.amax(1).tolist())]


KNOBS = (HyperParam("rho", 0.9, 0.0, 0.999, log=False, search=(0.5, 0.999),
                   help="Decay of the running average of squared gradient changes."),
         HyperParam("eps", 1e-8, 0.0, 1.0, log=True, help="Added to sqrt(h) before dividing."))


def hessian_lr_over(base: MethodSpec, lr: HyperParam | None = None) -> MethodSpec:
    """HessianLRAdaptation over ``base``'s optimizer, as a method (see ``wrapper_method``)."""
    return wrapper_method(
        base, key="hessian_lr", name="HessianLRAdaptation", lr=lr,
        description="fed gradients divided elementwise by a running RMS of gradient changes, a "
                    "cheap proxy for the Hessian diagonal.",
        formula=r"h\leftarrow\rho h+(1-\rho)(g-g_{prev})^2,\quad \tilde g=\frac{g}{\sqrt h+\epsilon}",
        wrap=lambda opt, hp, seed: HessianLRAdaptation(opt, rho=hp["rho"], eps=hp["eps"]),
        form=PopulationHessianLR, knobs=KNOBS, writeup="003", feeds_gradients=True)


HESSIAN_LR = dataclasses.replace(hessian_lr_over(ADAM, lr_param(3e-3)), key="hessian_lr")

"""HessianLRAdaptation: precondition gradients by a running gradient-difference curvature proxy (write-up 003)."""

import torch
from torch.optim import Optimizer

from ._checks import non_negative, unit_interval
from ._flat import FlatLayout
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

    def __init__(self, base: Optimizer, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__(base)
        self.rho = unit_interval("rho", rho)
        self.eps = non_negative("eps", eps)
        self._cached: tuple = ([], [], [], [], None)

    def _public_hyperparameters(self):
        return ("rho", "eps")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for p in self.params() if p.grad is not None]
        seen, prev, h, flat = self._states(params)
        if seen:
            grads = [p.grad for p in seen]
            divided = self._divided_flat(grads, flat) if flat else self._divided(grads, prev, h)
            # The base steps on new tensors; the raw gradient objects go back afterwards (a
            # pointer swap instead of dividing in place and copying the raw values back).
            for p, g in zip(seen, divided):
                p.grad = g
        base_step(self.base)
        if seen:
            for p, g in zip(seen, grads):
                p.grad = g
        return loss

    def _divided(self, grads, prev, h) -> list[torch.Tensor]:
        """g / (sqrt(h) + eps) after folding g into h and prev, one tensor at a time."""
        # prev <- g - prev is d; square it and fold into h, then keep raw g as the next prev.
        torch._foreach_sub_(prev, grads)
        torch._foreach_mul_(prev, prev)
        torch._foreach_lerp_(h, prev, 1.0 - self.rho)
        torch._foreach_copy_(prev, grads)
        denominators = torch._foreach_sqrt(h)
        torch._foreach_add_(denominators, self.eps)
        return torch._foreach_div(grads, denominators)

    def _divided_flat(self, grads, flat: "_FlatState") -> list[torch.Tensor]:
        """The same elementwise operations as ``_divided``, in the same order, each one kernel
        over all parameters. The raw gradients are gathered into a spare buffer that then
        becomes prev (the old prev, now holding d^2, is the next spare): no copy back."""
        g = flat.spare
        # One copy kernel per tensor beats torch.cat's reshapes and its one kernel (5 vs 11 us).
        torch._foreach_copy_(flat.spare_views, grads)
        prev = flat.prev
        prev.sub_(g)
        prev.mul_(prev)
        flat.h.lerp_(prev, 1.0 - self.rho)
        torch.sqrt(flat.h, out=flat.root)
        flat.root.add_(self.eps)
        torch.div(g, flat.root, out=flat.divided)
        flat.swap()
        return flat.divided_views

    def _states(self, params: list[torch.Tensor]):
        """(params seen on an earlier step, their prev_grad, their h, the flat buffers or None),
        in order; a param seen for the first time gets its state here and joins the next step.
        The lists are kept while the set of params with a gradient stays the same (dict lookups
        by tensor cost ~1 us each)."""
        cached = self._cached
        if len(cached[0]) == len(params) and all(a is b for a, b in zip(cached[0], params)):
            return cached[1:]
        state = self.wrapper_state
        seen = [p for p in params if "prev_grad" in state[p]]
        for p in params:
            if "prev_grad" not in state[p]:
                state[p]["prev_grad"] = p.grad.detach().clone()
                state[p]["h"] = torch.zeros_like(p)
        prev = [state[p]["prev_grad"] for p in seen]
        h = [state[p]["h"] for p in seen]
        # Cache only once every param has state: until then the next step's split differs.
        if len(seen) != len(params):
            self._cached = ([], [], [], [], None)
            return seen, prev, h, None
        if FlatLayout.fits(params):
            # From here on the state lives in flat buffers; the per-tensor lists are not used.
            self._cached = (params, seen, [], [], _FlatState([state[p] for p in params]))
        else:
            self._cached = (params, seen, prev, h, None)
        return self._cached[1:]

    def _after_load(self) -> None:
        self._cached = ([], [], [], [], None)   # the loaded state is made of new tensors

    def diagnostics(self) -> dict[str, float]:
        """Summary of sqrt(h) over all elements: the preconditioner's scale."""
        h = [s["h"] for s in self.wrapper_state.values() if "h" in s]
        if not h:
            return {"precond_mean": 0.0, "precond_max": 0.0}
        root = torch.cat([t.flatten() for t in h]).sqrt()
        return {"precond_mean": float(root.mean()), "precond_max": float(root.max())}


class _FlatState:
    """prev_grad and h of every parameter as views of flat buffers, and the step's scratch.

    ``dicts`` are the parameters' ``wrapper_state`` entries; their tensors are replaced by views
    here, and ``prev_grad`` is re-pointed whenever the prev and spare buffers trade places.
    """

    def __init__(self, dicts: list[dict]) -> None:
        self.layout = FlatLayout([d["h"] for d in dicts])
        self.dicts = dicts
        self.prev, prev_views = self.layout.adopt([d["prev_grad"] for d in dicts])
        self.h, h_views = self.layout.adopt([d["h"] for d in dicts])
        for d, prev, h in zip(dicts, prev_views, h_views):
            d["prev_grad"], d["h"] = prev, h
        self.spare = self.layout.empty()
        self.root = self.layout.empty()
        self.divided = self.layout.empty()
        self.divided_views = self.layout.views(self.divided)
        self.prev_views, self.spare_views = prev_views, self.layout.views(self.spare)

    def swap(self) -> None:
        """The spare buffer (this step's raw gradients) becomes prev."""
        self.prev, self.spare = self.spare, self.prev
        self.prev_views, self.spare_views = self.spare_views, self.prev_views
        for d, view in zip(self.dicts, self.prev_views):
            d["prev_grad"] = view


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
        form=PopulationHessianLR, knobs=KNOBS, writeup="003")


HESSIAN_LR = dataclasses.replace(hessian_lr_over(ADAM, lr_param(1e-3)), key="hessian_lr")

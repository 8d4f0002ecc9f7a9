"""GRU recurrences with backpropagation through time written out: the GRU's training fast path.

Autograd records some twenty small kernels per time step of a GRU and about twice as many for
their backward; at hidden size 6 those calls, not the arithmetic, are the step's cost. Here
the forward runs without a graph and, while each step's tensors are in cache, forms the
factors of its backward that do not depend on the incoming gradient; the backward is then
five kernels per step. A solo GRU's forward and backward took 5.7 ms so against 12.5 ms
through torch's GRU kernel (batch 100, one thread).

``D`` independent recurrences run together (a population's members, both directions), each
from ``h_0 = 0``, with ``nn.GRU``'s gates (its documentation's formulas; r, z, n blocks in
that order), for t = 1..T::

    g_t     = b_hh + W_hh h_{t-1}                      (the recurrent product, 3H)
    r_t     = sigmoid(i_r,t + g_r,t)                   (i_t: input gates, b_ih included)
    z_t     = sigmoid(i_z,t + g_z,t)
    n_t     = tanh(i_n,t + r_t * g_n,t)
    h_t     = n_t + z_t * (h_{t-1} - n_t)              (= (1 - z_t) n_t + z_t h_{t-1})

Backward, with d_t the gradient reaching h_t (its own plus what h_{t+1} sends back)::

    A_t     = (1 - z_t)(1 - n_t^2)                      (dh_t -> d(pre-tanh))
    dg_t    = d_t * [A_t g_n,t r_t (1 - r_t),  (h_t - n_t)(1 - z_t),  A_t r_t]
                                                (h_t - n_t = z_t (h_{t-1} - n_t))
    di_t    = [dg_r,t, dg_z,t, d_t A_t]
    d_{t-1} = (own gradient of h_{t-1}) + d_t z_t + dg_t W_hh
    dW_hh   = sum_t dg_t^T h_{t-1},   db_hh = sum_t dg_t

It is differentiable once (``once_differentiable``): a method that needs second derivatives
gets the model's plain forward (``ModelSpec.forward_for_training``).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def recurrences(gates_in: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """Hidden states (T, D, H, B) of D GRU recurrences from their input gates ``gates_in``
    (T, D, 3H, B; b_ih included), recurrent weights ``w_hh`` (D, 3H, H) and biases ``b_hh``
    (D, 3H). Time is outermost, so each step reads and writes whole blocks, and the batch
    innermost, so that slicing the gates (H = 6 rows) leaves long contiguous rows: with H
    innermost a population's elementwise kernels ran 6 floats at a time (a 32-member step
    took 1.6x as long).
    With gradients it is :class:`Recurrence`; without, the same loop keeping only the states."""
    if torch.is_grad_enabled():
        return Recurrence.apply(gates_in, w_hh, b_hh)
    return _run(gates_in, w_hh, b_hh, keep=False)[0][1:]


def _run(gates_in, w_hh, b_hh, keep: bool):
    """The forward loop, each step's results written into preallocated per-step blocks:
    states (T+1, D, H, B) with h_0 = 0 first, and with ``keep`` what the backward reads,
    formed while the step's tensors are in cache (a pass over all steps at once goes to
    memory, and a population's are tens of MB): z (T, D, H, B), A (T, D, H, B) and the
    factors (T, D, 3, H, B) of the module docstring."""
    steps, d, three_h, b = gates_in.shape
    hidden = three_h // 3
    bias = b_hh.unsqueeze(2)
    states = gates_in.new_zeros(steps + 1, d, hidden, b)
    # Blocks only a step needs are one scratch block each (a view repeated T times).
    kept = (lambda *shape: gates_in.new_empty(steps, *shape)) if keep else None
    scratch = lambda *shape: gates_in.new_empty(*shape).expand(steps, *shape)
    products, gates, candidates = scratch(d, three_h, b), scratch(d, 2 * hidden, b), \
        scratch(d, hidden, b)
    if keep:
        z_kept, a_kept, factors = kept(d, hidden, b), kept(d, hidden, b), kept(d, 3, hidden, b)
        one_minus, one = scratch(d, hidden, b), gates_in.new_ones(())
    # Every step's blocks as views made up front: slicing inside the loop costs more than the
    # step's arithmetic at this size.
    h_all, g_all = states.unbind(0), products.unbind(0)
    per_step = zip(gates_in[:, :, :2 * hidden].unbind(0), gates_in[:, :, 2 * hidden:].unbind(0),
                   products[:, :, :2 * hidden].unbind(0), products[:, :, 2 * hidden:].unbind(0),
                   gates.unbind(0), gates[:, :, :hidden].unbind(0),
                   gates[:, :, hidden:].unbind(0), candidates.unbind(0))
    for t, (i_rz, i_n, g_rz, g_n, rz, r, z, n) in enumerate(per_step):
        torch.baddbmm(bias, w_hh, h_all[t], out=g_all[t])
        torch.sigmoid(torch.add(i_rz, g_rz), out=rz)
        torch.tanh(torch.addcmul(i_n, r, g_n), out=n)
        h = torch.lerp(n, h_all[t], z, out=h_all[t + 1])
        if keep:
            z_kept[t].copy_(z)
            one_minus_z = torch.sub(one, z, out=one_minus[t])
            # A = (1 - z)(1 - n^2); factors: A g_n r (1 - r), (h_t - n) (1 - z), A r
            a = torch.mul(one_minus_z, torch.addcmul(one, n, n, value=-1), out=a_kept[t])
            f_r, f_z, f_n = factors[t].unbind(1)
            torch.mul(a, r, out=f_n)
            torch.mul(torch.mul(f_n, g_n), torch.sub(one, r), out=f_r)
            torch.mul(torch.sub(h, n), one_minus_z, out=f_z)
    if not keep:
        return states, None
    return states, (z_kept, a_kept, factors)



class Recurrence(torch.autograd.Function):
    """:func:`recurrences` with the backward of the module docstring."""

    @staticmethod
    def forward(ctx, gates_in, w_hh, b_hh):
        states, (z, a, factors) = _run(gates_in, w_hh, b_hh, keep=True)
        ctx.save_for_backward(w_hh, states, z, a, factors)
        return states[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        w_hh, states, z, a, factors = ctx.saved_tensors
        steps, d, _, hidden, b = factors.shape
        grad_states = grad_states.contiguous()
        dhs = torch.empty_like(grad_states)                              # d_t
        dgs = factors.new_empty(steps, d, 3 * hidden, b)                 # dg_t
        d_w_hh = torch.zeros_like(w_hh)
        w_hh_t = w_hh.transpose(1, 2)
        dh = torch.zeros_like(grad_states[0])
        per_step = zip(grad_states.unbind(0), dhs.unbind(0), factors.unbind(0),
                       dgs.view(steps, d, 3, hidden, b).unbind(0), dgs.unbind(0), z.unbind(0),
                       states[:-1].transpose(2, 3).unbind(0))
        for own, dh_t, factor, dg_blocks, dg, z_t, h_before in reversed(list(per_step)):
            dh = torch.add(dh, own, out=dh_t)
            torch.mul(factor, dh.unsqueeze(1), out=dg_blocks)
            d_w_hh.baddbmm_(dg, h_before)
            dh = torch.baddbmm(dh * z_t, w_hh_t, dg)
        d_b_hh = dgs.sum(dim=(0, 3))
        # The input gates' gradient is dg with its n block d_t A_t instead of d_t A_t r_t.
        torch.mul(dhs, a, out=dgs[:, :, 2 * hidden:])
        return dgs, d_w_hh, d_b_hh

"""A CNN population's training steps with their backward written out, channels first.

Each member's activations are a matrix (channels, slots x batch), the batch innermost, so a
layer is one batched matmul whose wide side is the batch: its weights and bias
(P, out, in x kernel + 1) times its patches and a row of ones (P, in x kernel + 1,
slots x batch). On one core of this lab's CPU those products ran at 64 GFLOP/s against 44
with the batch on the narrow side (channels last).

The slots of an activation need not be its positions in order (``LayerPlan.order``). When the
last ``stride`` taps of the next layer read every position of it once (``_tiles``: the
paper's kernel 3, stride 2, padding 1), an activation is stored as those taps' rows of the
next layer's patches, each row in the next layer's own output order: the layer's matmul
writes the next patches directly, and only the other taps' entries are copied, in runs of
consecutive slots (for the paper's layers 9 of 30 and 4 of 15 entries per channel). The first
layer's output then holds one zero slot (the signal's tail padding), an all-zero column of
its patches. The last layer's output is in position order (the read-out flattens it as the
solo model does); an activation whose next layer does not tile is in position order too.

For layer l with input h (in, L, B) zero-padded by ``pad``, kernel K, stride s and n outputs,
each member computes::

    X[(c, j), (o, b)] = h_pad[c, s o + j, b]                    (the patches)
    a                 = relu(W X + bias)                       (W viewed as (out, in x K))

and backward, with da the gradient reaching a (g = da where a > 0, else 0)::

    dW      = g X^T,     dbias = g summed over (o, b)          (one matmul, X's row of ones)
    dh      = sum over taps j of W_j^T g, at the positions tap j read

The input gradient goes straight into the slots the taps read, never as a patches-sized
gradient folded back: the last taps (the rows the layer below wrote) are one matmul whose rows
are (in channel, tap) over all of g, written in place, and every other run of a tap adds
W_j^T times its columns of g; one pass masks the result. A 32-member forward and backward
(batch 100, one thread) took 14-15 ms, against 17.5-18.9 ms with positions in order and the
patches' gradient folded back (bench/RESULTS.md). Differentiable once: methods that need
second derivatives get the autograd forward (``ModelSpec.stacked_forward_for_training``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

_threshold_backward = torch.ops.aten.threshold_backward.grad_input


@dataclass(frozen=True)
class Run:
    """Patch entries of tap ``tap`` in columns ``col`` .. ``col + count`` that read the input's
    slots ``slot``, ``slot + step``, ... (for the first layer: padded signal positions, every
    tap at once)."""
    tap: int
    col: int
    slot: int
    count: int
    step: int = 1


@dataclass(frozen=True)
class LayerPlan:
    order: tuple[int, ...]     # the output position each slot holds; -1 a zero slot
    inside_next: bool          # the output is stored as rows of the next layer's patches
    copies: tuple[Run, ...]    # patch entries copied from the input
    zeros: tuple[Run, ...]     # patch entries that read the padding
    empty: tuple[Run, ...]     # zero slots of the output: all-zero patch columns
    written: int               # the last taps whose rows the layer below wrote (0: none)
    adders: tuple[Run, ...]    # the other entries read from the input, their gradient added


def _tiles(kernel: int, stride: int, padding: int, n_out: int, n_in: int) -> bool:
    """Whether the last ``stride`` taps of n_out outputs read each of n_in positions once."""
    return stride <= kernel and kernel - stride <= padding and \
        stride * n_out + kernel - stride - 1 >= padding + n_in - 1


def _runs(values: list, tap: int, step: int | None) -> tuple[list[Run], list[Run]]:
    """Each column's source (None: padding) -> maximal runs with a fixed positive step (or one
    found per run, ``step`` None), and the runs of padding."""
    runs, pads, i = [], [], 0
    while i < len(values):
        j = i + 1
        if values[i] is None:
            while j < len(values) and values[j] is None:
                j += 1
            pads.append(Run(tap, i, 0, j - i))
        else:
            d = step
            if d is None:
                nxt = values[i + 1] if i + 1 < len(values) else None
                d = nxt - values[i] if nxt is not None and nxt > values[i] else 1
            while j < len(values) and values[j] is not None and values[j] - values[j - 1] == d:
                j += 1
            runs.append(Run(tap, i, values[i], j - i, d))
        i = j
    return runs, pads


def _orders(layers, padding: int, lengths: list[int]) -> tuple[list, list]:
    """Each layer's output order (module docstring), from the last layer back."""
    n_layers = len(layers)
    orders, inside = [()] * n_layers, [False] * n_layers
    orders[-1] = tuple(range(lengths[-1]))
    for k in range(n_layers - 2, -1, -1):
        (kernel, stride), n = layers[k + 1], lengths[k + 1]
        orders[k] = tuple(range(n))
        if _tiles(kernel, stride, padding, lengths[k + 2], n):
            order = tuple(stride * o + j - padding if o >= 0 and
                          0 <= stride * o + j - padding < n else -1
                          for j in range(kernel - stride, kernel) for o in orders[k + 1])
            if sorted(q for q in order if q >= 0) == list(range(n)):
                orders[k], inside[k] = order, True
    return orders, inside


@functools.lru_cache(maxsize=64)
def plan(layers: tuple[tuple[int, int], ...], padding: int, length: int
         ) -> tuple[LayerPlan, ...]:
    """Where every patch entry of a CNN's layers comes from, and where its gradient goes."""
    lengths = [length]
    for kernel, stride in layers:
        lengths.append((lengths[-1] + 2 * padding - kernel) // stride + 1)
    orders, inside = _orders(layers, padding, lengths)
    plans = []
    for k, (kernel, stride) in enumerate(layers):
        copies, zeros, adders = [], [], []
        written = stride if k and inside[k - 1] else 0
        slot_of = {q: i for i, q in enumerate(orders[k - 1]) if q >= 0} if k else {}
        for j in range(kernel if k else 1):      # the first layer copies all taps at once
            if j >= kernel - written:           # its rows are the input itself
                continue
            if k == 0:
                values = [None if o < 0 else stride * o for o in orders[0]]
            else:
                values = [None if o < 0 or not 0 <= stride * o + j - padding < lengths[k]
                          else slot_of[stride * o + j - padding] for o in orders[k]]
            runs, pads = _runs(values, j, 1 if k else None)
            copies += runs
            zeros += pads
            adders += runs if k else []
        empty = _runs([None if o < 0 else 0 for o in orders[k]], 0, 1)[1]
        plans.append(LayerPlan(orders[k], inside[k], tuple(copies), tuple(zeros),
                               tuple(empty), written, tuple(adders)))
    return tuple(plans)


def _new_patches(like: torch.Tensor, lp: LayerPlan, channels: int, kernel: int, b: int):
    """A layer's patches (P, channels x kernel + 1, slots x B): the row of ones, and zeros
    where an entry reads the padding or a column is a zero slot; the rest is filled later."""
    columns = len(lp.order) * b
    patches = like.new_empty(like.shape[0], channels * kernel + 1, columns)
    patches[:, -1].fill_(1)
    taps = _taps(patches, kernel)
    for z in lp.zeros:
        taps[:, :, z.tap, z.col * b:(z.col + z.count) * b].zero_()
    for z in lp.empty:
        patches[:, :, z.col * b:(z.col + z.count) * b].zero_()
    return patches


def _taps(patches: torch.Tensor, kernel: int) -> torch.Tensor:
    """(P, C x kernel + 1, n) -> the entries as (P, C, kernel, n)."""
    p, rows, n = patches.shape
    return patches[:, :-1].view(p, (rows - 1) // kernel, kernel, n)


def _copy_signal(patches, lp: LayerPlan, signal: torch.Tensor, kernel: int, b: int) -> None:
    """The first layer's entries from the padded signal (P, Lp, B), all taps of a run at once."""
    p, lp_len = signal.shape[0], signal.shape[1]
    taps = patches[:, :-1]
    for x in lp.copies:
        window = signal.as_strided((p, kernel, x.count, b), (lp_len * b, b, x.step * b, 1),
                                   signal.storage_offset() + x.slot * b)
        taps[:, :, x.col * b:(x.col + x.count) * b].view(p, kernel, x.count, b).copy_(window)


def _copy_runs(patches, lp: LayerPlan, h: torch.Tensor, kernel: int, b: int) -> None:
    taps = _taps(patches, kernel)
    for x in lp.copies:
        taps[:, :, x.tap, x.col * b:(x.col + x.count) * b].copy_(
            h[:, :, x.slot * b:(x.slot + x.count) * b])


def population_logits(layers, padding: int, x: torch.Tensor, params: Sequence[torch.Tensor],
                      saved: list | None = None) -> torch.Tensor:
    """Logits (P, 10, B) of P members' CNNs (``layers``: (kernel, stride) per convolution, all
    padded by ``padding``) on x (P, L, B); ``params`` as the stacked model's, the read-out
    last. ``saved``, when given, receives each layer's patches and ReLU output."""
    layers = tuple(map(tuple, layers))
    p, length, b = x.shape
    plans = plan(layers, padding, length)
    patches = _new_patches(x, plans[0], 1, layers[0][0], b)
    _copy_signal(patches, plans[0], F.pad(x, (0, 0, padding, padding)), layers[0][0], b)
    for k, (kernel, _) in enumerate(layers):
        w, bias = params[2 * k], params[2 * k + 1]               # (P, out, in, K), (P, out)
        weights = torch.cat([w.flatten(2), bias.unsqueeze(2)], dim=2)
        following = None
        if plans[k].inside_next:        # write the next layer's last taps' rows in place
            (kernel_next, stride_next), channels = layers[k + 1], w.shape[1]
            following = _new_patches(x, plans[k + 1], channels, kernel_next, b)
            rows = _taps(following, kernel_next)[:, :, kernel_next - stride_next:]
            h = torch.bmm(weights, patches, out=rows.flatten(2)).relu_()
        else:
            h = torch.bmm(weights, patches).relu_()
        if saved is not None:
            saved += [patches, h]
        if k + 1 < len(layers):
            if following is None:
                following = _new_patches(x, plans[k + 1], w.shape[1], layers[k + 1][0], b)
            _copy_runs(following, plans[k + 1], h, layers[k + 1][0], b)
            patches = following
    return torch.baddbmm(params[-1].unsqueeze(2), params[-2], h.view(p, -1, b))


def _input_gradient(lp: LayerPlan, g: torch.Tensor, w: torch.Tensor, positive: torch.Tensor,
                    b: int) -> torch.Tensor:
    """The gradient reaching the layer below, stored as its output (P, C, slots x B), where
    that output ``positive`` is positive (module docstring)."""
    p, c = positive.shape[:2]
    grad = positive.new_empty(positive.shape)
    if lp.written:
        # Tap K - written + i over all of g fills block i of the slots: one matmul whose rows
        # are (in channel, tap) writes them all in place.
        s = lp.written
        last_taps = w[:, :, :, -s:].permute(0, 2, 3, 1).reshape(p, c * s, w.shape[1])
        torch.bmm(last_taps, g, out=grad.view(p, c * s, -1))
    else:                                 # in position order: every run adds
        grad.zero_()
    taps = w.permute(0, 3, 2, 1).contiguous()                 # (P, K, in, out): W_j^T
    cols = lambda start, count: slice(start * b, (start + count) * b)
    for x in lp.adders:
        grad[:, :, cols(x.slot, x.count)].baddbmm_(taps[:, x.tap], g[:, :, cols(x.col, x.count)])
    return _threshold_backward(grad, positive, 0, grad_input=grad)


class PopulationCNN(torch.autograd.Function):
    """:func:`population_logits` with the backward of the module docstring."""

    @staticmethod
    def forward(ctx, layers, padding, x, *params):
        saved = []
        logits = population_logits(layers, padding, x, params, saved)
        ctx.plans = plan(tuple(map(tuple, layers)), padding, x.shape[1])
        ctx.save_for_backward(*saved, *params)
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx, d_logits):
        plans = ctx.plans
        n_layers = len(plans)
        saved, params = ctx.saved_tensors[:2 * n_layers], ctx.saved_tensors[2 * n_layers:]
        p, _, b = d_logits.shape
        last = saved[-1]
        grads = [None] * len(params)
        grads[-2] = torch.bmm(d_logits, last.view(p, -1, b).transpose(1, 2))
        grads[-1] = d_logits.sum(2)
        g = torch.bmm(params[-2].transpose(1, 2), d_logits).view(last.shape)
        _threshold_backward(g, last, 0, grad_input=g)
        for k in reversed(range(n_layers)):
            patches, w = saved[2 * k], params[2 * k]
            if k:
                both = torch.bmm(g, patches.transpose(1, 2))      # (P, out, in x K + 1)
            else:    # the first layer's few taps: this orientation ran 10% faster
                both = torch.bmm(patches, g.transpose(1, 2)).transpose(1, 2)
            grads[2 * k] = both[:, :, :-1].reshape(w.shape)
            grads[2 * k + 1] = both[:, :, -1]
            if k:
                g = _input_gradient(plans[k], g, w, saved[2 * k - 1], b)
        return (None, None, None, *grads)

"""A CNN population's training steps with their backward written out, channels first.

Each member's activations are a matrix (channels, positions x batch), the batch innermost, so a
layer is one batched matmul whose wide side is the batch: its weights and bias
(P, out, in x kernel + 1) times its patches and a row of ones (P, in x kernel + 1,
positions x batch). On one core of this lab's CPU those products ran at 64 GFLOP/s against 44
with the batch on the narrow side (channels last), and the backward folds the patches' gradient
back onto the input and masks it in one or two strided passes per residue of the stride, where
autograd's slice backward zero-filled a tensor per tap. A 32-member training step took 19-20 ms
so against 31-37 ms through autograd over channels-last patches (``cnn._patch_forward``).
bench/RESULTS.md has the figures.

For layer l with input h (in, L, B) zero-padded by ``pad`` to Lp positions, kernel K, stride s
and n outputs, each member computes::

    X[(c, j), (o, b)] = h_pad[c, s o + j, b]                    (the patches, a copy)
    a                 = relu(W X + bias)                       (W viewed as (out, in x K))

and backward, with da the gradient reaching a (g = da where a > 0, else 0)::

    dW        = g X^T,     dbias = g summed over (o, b)        (one matmul, X's row of ones)
    dX        = W^T g,     dh_pad[c, s o + j, b] += dX[(c, j), (o, b)]   (the fold)

The read-out flattens a member's last activations channel by channel (the solo model's
``flatten`` order) and is ``logits = R flat + b``. Differentiable once: methods that need
second derivatives get the autograd forward (``ModelSpec.stacked_forward_for_training``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.autograd.function import once_differentiable

_threshold_backward = torch.ops.aten.threshold_backward.grad_input


def _padded(like: torch.Tensor, channels: int, length: int, batch: int, padding: int):
    """A zero-padded activation buffer (P, C, L + 2 padding, B) and its inner positions
    (P, C, L, B), which a layer's matmul writes into directly as a (P, C, L x B) matrix (BLAS
    takes its row stride)."""
    p = like.shape[0]
    buffer = like.new_empty(p, channels, length + 2 * padding, batch)
    buffer[:, :, :padding].zero_()
    buffer[:, :, padding + length:].zero_()
    return buffer, buffer[:, :, padding:padding + length]


def _windows(padded: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """(P, C, Lp, B) padded -> patches (P, C x kernel + 1, n x B), one column per (output
    position, sample), rows tap-fastest within a channel, then a row of ones: the layer's bias
    is then its weights' last column, added by the matmul (a pass over the output less) and
    its gradient a column of the weights' (the sum over the batch less). The batch innermost:
    the copy moves rows of B floats."""
    p, c, lp, b = padded.shape
    n = (lp - kernel) // stride + 1
    windows = padded.as_strided((p, c, kernel, n, b), (c * lp * b, lp * b, b, stride * b, 1),
                                padded.storage_offset())
    patches = padded.new_empty(p, c * kernel + 1, n * b)
    patches[:, :-1].view(p, c, kernel, n, b).copy_(windows)
    patches[:, -1].fill_(1)
    return patches


def _with_bias(w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(P, out, in, K) weights and (P, out) biases -> (P, out, in x K + 1)."""
    return torch.cat([w.flatten(2), bias.unsqueeze(2)], dim=2)


def _masked_fold(d_patches: torch.Tensor, out: torch.Tensor, kernel: int, stride: int,
                 padding: int) -> torch.Tensor:
    """The gradient reaching the layer below: the patches' gradient (P, C x kernel, n x B)
    summed back onto the input's L positions, where the input (``out``, (P, C, L, B), the layer
    below's ReLU output) is positive; (P, C, L x B).

    Input position i is tap j of output o when i + padding = stride o + j. Positions of one
    residue (i + padding = r mod stride) take taps r, r + stride, ... at successive outputs, so
    each residue's positions are a strided view summed from shifted views of those taps, and
    masked in the same pass where one tap covers them (one to two passes over the gradient,
    against five for a padded buffer, its adds and a mask)."""
    p, c, length, b = out.shape
    n = d_patches.shape[-1] // b
    taps = d_patches.view(p, c, kernel, n, b).unbind(2)
    grad = out.new_empty(p, c, length, b)
    for r in range(stride):
        first = (r - padding) % stride                    # first position of the residue
        target, positive = grad[:, :, first::stride], out[:, :, first::stride]
        m = target.shape[2]
        offset = (first + padding - r) // stride          # output o of tap r at the first position
        # tap r + stride t reaches target index u from output u + offset - t
        parts = []
        for t, j in enumerate(range(r, kernel, stride)):
            shift = offset - t
            lo, hi = max(0, -shift), min(m, n - shift)
            if lo < hi:
                parts.append((taps[j], shift, lo, hi))
        view = lambda part, lo, hi: part[0][:, :, lo + part[1]:hi + part[1]]
        whole = [q for q in parts if q[2:] == (0, m)]
        if not whole:                                     # no tap reaches every position
            target.zero_()
            for part in parts:
                target[:, :, part[2]:part[3]] += view(part, *part[2:])
        elif len(parts) == 1:
            _threshold_backward(view(whole[0], 0, m), positive, 0, grad_input=target)
            continue
        else:
            # the first other tap added to the whole one in one pass, any more added after
            base, (other, *rest) = whole[0], [q for q in parts if q is not whole[0]]
            lo, hi = other[2:]
            torch.add(view(base, lo, hi), view(other, lo, hi), out=target[:, :, lo:hi])
            target[:, :, :lo] = view(base, 0, lo)
            target[:, :, hi:] = view(base, hi, m)
            for part in rest:
                target[:, :, part[2]:part[3]] += view(part, *part[2:])
        _threshold_backward(target, positive, 0, grad_input=target)
    return grad.flatten(2)


def population_logits(layers, padding: int, x: torch.Tensor, params: Sequence[torch.Tensor],
                      saved: list | None = None) -> torch.Tensor:
    """Logits (P, 10, B) of P members' CNNs (``layers``: (kernel, stride) per convolution, all
    padded by ``padding``) on x (P, L, B); ``params`` as the stacked model's, the read-out
    last. ``saved``, when given, receives each layer's patches and ReLU output."""
    p, length, b = x.shape
    padded, inner = _padded(x, 1, length, b, padding)
    inner.copy_(x.unsqueeze(1))
    for k, (kernel, stride) in enumerate(layers):
        w, bias = params[2 * k], params[2 * k + 1]               # (P, out, in, K), (P, out)
        patches = _windows(padded, kernel, stride)
        n = patches.shape[-1] // b
        if k + 1 < len(layers):
            padded, inner = _padded(x, w.shape[1], n, b, padding)
            out = inner.flatten(2)
        else:
            out = x.new_empty(p, w.shape[1], n * b)
        torch.bmm(_with_bias(w, bias), patches, out=out).relu_()
        if saved is not None:
            saved += [patches, out]
    flat = out.view(p, -1, b)                                    # (P, C x n, B), solo's order
    return torch.baddbmm(params[-1].unsqueeze(2), params[-2], flat)


class PopulationCNN(torch.autograd.Function):
    """:func:`population_logits` with the backward of the module docstring."""

    @staticmethod
    def forward(ctx, layers, padding, x, *params):
        saved = []
        logits = population_logits(layers, padding, x, params, saved)
        ctx.layers, ctx.padding = layers, padding
        ctx.save_for_backward(*saved, *params)
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx, d_logits):
        n_layers = len(ctx.layers)
        saved, params = ctx.saved_tensors[:2 * n_layers], ctx.saved_tensors[2 * n_layers:]
        p, _, b = d_logits.shape
        last = saved[-1]
        grads = [None] * len(params)
        grads[-2] = torch.bmm(d_logits, last.view(p, -1, b).transpose(1, 2))
        grads[-1] = d_logits.sum(2)
        d_flat = torch.bmm(params[-2].transpose(1, 2), d_logits)    # (P, C x n, B)
        g = torch.empty_like(last)
        _threshold_backward(d_flat.view(last.shape), last, 0, grad_input=g)
        for k in reversed(range(n_layers)):
            patches = saved[2 * k]
            w = params[2 * k]
            both = torch.bmm(g, patches.transpose(1, 2))          # (P, out, in x K + 1)
            grads[2 * k] = both[:, :, :-1].reshape(w.shape)
            grads[2 * k + 1] = both[:, :, -1]
            if k:
                kernel, stride = ctx.layers[k]
                below = saved[2 * k - 1]                         # (P, C, L x B), strided
                g = _masked_fold(torch.bmm(w.flatten(2).transpose(1, 2), g),
                                 below.view(p, below.shape[1], -1, b), kernel, stride,
                                 ctx.padding)
        return (None, None, None, *grads)

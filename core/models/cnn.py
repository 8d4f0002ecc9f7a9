"""The MNIST-1D paper's CNN: three strided Conv1d layers and a linear read-out (94 % in its table).

Shapes as in greydanus/mnist1d ``notebooks/models.py`` (ConvBase): Conv1d(1, 25, 5, stride 2,
padding 1) -> 19 positions, Conv1d(25, 25, 3, stride 2, padding 1) -> 10, the same again -> 5,
ReLU after each, flattened (25 x 5 = 125) into Linear(125, 10): 5,210 parameters. Weights as
torch's defaults (uniform in +-1/sqrt(fan_in), fan_in = in_channels x kernel), drawn from the
run's generator.

A population of P members trains as one batched matmul per layer over the members' patches and
is evaluated as one grouped convolution per layer (``stacked_cnn_forward``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .spec import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound

# (kernel, stride) of the three layers, all with padding 1, as the paper's ConvBase.
LAYERS = ((5, 2), (3, 2), (3, 2))
PADDING = 1


def _lengths() -> list[int]:
    """Positions after each layer: 40 -> 19 -> 10 -> 5."""
    lengths, n = [], N_INPUT
    for kernel, stride in LAYERS:
        n = (n + 2 * PADDING - kernel) // stride + 1
        lengths.append(n)
    return lengths


LENGTHS = _lengths()


class CNN(nn.Module):
    def __init__(self, channels: int = 25, generator: torch.Generator | None = None):
        super().__init__()
        ins = (1, channels, channels)
        self.conv1, self.conv2, self.conv3 = (
            nn.Conv1d(i, channels, k, stride=s, padding=PADDING)
            for i, (k, s) in zip(ins, LAYERS))
        self.linear = nn.Linear(channels * LENGTHS[-1], N_CLASSES)
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.conv3, self.linear):
                fan_in = layer.weight[0].numel()
                layer.weight.uniform_(-linear_bound(fan_in), linear_bound(fan_in),
                                      generator=generator)
                layer.bias.uniform_(-linear_bound(fan_in), linear_bound(fan_in),
                                    generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.view(-1, 1, x.shape[-1])
        for conv in (self.conv1, self.conv2, self.conv3):
            h = conv(h).relu()
        return self.linear(h.flatten(1))


def cnn_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``CNN.forward`` without module dispatch: the same kernels in the same order."""
    h = x.view(-1, 1, x.shape[-1])
    for k, (_, stride) in enumerate(LAYERS):
        h = F.conv1d(h, params[2 * k], params[2 * k + 1], stride, PADDING).relu()
    return F.linear(h.flatten(1), params[6], params[7])


def stacked_cnn_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (P, 40, B) -> logits (P, 10, B), member p's from its own slice of every tensor.

    Training runs each layer as one batched matmul over its patches: a grouped conv1d with
    ``groups=P`` computes the same, but mkldnn's backward of it costs about P single
    convolutions, and the population ran no faster than its members one after another (0.97-1.04
    of their time at P = 32; 0.62-0.75 with the patches). An evaluation pass (no gradient) keeps
    the grouped convolution: forward only, it is as fast, and 1,000 samples' patches would
    double the pass's peak memory (32 CNN members peaked at +362 MB so, +173 MB grouped)."""
    if torch.is_grad_enabled():
        return _patch_forward(params, x)
    p, _, b = x.shape
    h = x.permute(2, 0, 1)                       # (B, P, 40): member p's signals in channel p
    for k, (_, stride) in enumerate(LAYERS):
        w, bias = params[2 * k], params[2 * k + 1]
        h = F.conv1d(h, w.reshape(-1, *w.shape[2:]), bias.reshape(-1), stride, PADDING,
                     groups=p).relu()
    flat = h.reshape(b, p, -1).permute(1, 2, 0)   # (P, channels x 5, B), solo's flatten order
    return torch.baddbmm(params[7].unsqueeze(2), params[6], flat)


def _patch_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Channels last, (P, B, positions, channels): a layer's patches are its ``kernel`` strided
    slices of the padded input side by side, (P, B x out, kernel x in), times its weights as
    (P, kernel x in, out)."""
    h = x.permute(0, 2, 1).unsqueeze(3)          # (P, B, 40, 1)
    for k, (kernel, stride) in enumerate(LAYERS):
        w, bias = params[2 * k], params[2 * k + 1]           # (P, out, in, kernel), (P, out)
        p, b, length, _ = h.shape
        n = (length + 2 * PADDING - kernel) // stride + 1
        padded = F.pad(h, (0, 0, PADDING, PADDING))
        taps = [padded[:, :, j:j + stride * (n - 1) + 1:stride] for j in range(kernel)]
        patches = torch.cat(taps, dim=3).reshape(p, b * n, -1)
        weights = w.permute(0, 3, 2, 1).reshape(p, -1, w.shape[1])
        h = torch.baddbmm(bias.unsqueeze(1), patches, weights).relu().reshape(p, b, n, -1)
    flat = h.permute(0, 3, 2, 1).reshape(h.shape[0], -1, h.shape[1])   # solo's flatten order
    return torch.baddbmm(params[7].unsqueeze(2), params[6], flat)


def _count(shape) -> int:
    c = shape["channels"]
    return (c * 5 + c) + 2 * (c * c * 3 + c) + (c * LENGTHS[-1] * N_CLASSES + N_CLASSES)


def _macs(shape) -> int:
    c = shape["channels"]
    return (c * 5 * LENGTHS[0] + c * c * 3 * LENGTHS[1] + c * c * 3 * LENGTHS[2]
            + c * LENGTHS[-1] * N_CLASSES)


def _activations(shape) -> int:
    """Floats per sample a training population's forward keeps (a solo run keeps fewer): each
    layer's padded input, its patches and its output before and after ReLU; the input, the
    flattened read-out input and the logits."""
    c = shape["channels"]
    ins, kept = [N_INPUT] + LENGTHS[:-1], N_INPUT + c * LENGTHS[-1] + N_CLASSES
    for k, ((kernel, _), n_in, n_out) in enumerate(zip(LAYERS, ins, LENGTHS)):
        channels_in = 1 if k == 0 else c
        kept += channels_in * (n_in + 2 * PADDING) + kernel * channels_in * n_out + 2 * c * n_out
    return kept


CNN_SPEC = ModelSpec(
    key="cnn",
    display_name="CNN",
    description="Three Conv1d layers (25 channels; kernel 5 stride 2, then 3 stride 2 twice; "
                "padding 1; ReLU) and a linear layer 125 -> 10: 5,210 parameters. Source: the "
                "MNIST-1D paper's ConvBase (greydanus/mnist1d, notebooks/models.py), 94 % test "
                "accuracy in its table.",
    source="greydanus/mnist1d notebooks/models.py: ConvBase",
    knobs=(ShapeKnob("channels", 25, 1, 256, help="Channels of each convolution"),),
    build=lambda shape, generator: CNN(shape["channels"], generator),
    forward=cnn_forward,
    stacked_forward=stacked_cnn_forward,
    parameter_count=_count,
    macs=_macs,
    activations=_activations,
    widest=lambda shape: shape["channels"] * LENGTHS[0],
    sequential_ops=lambda shape: 2 * len(LAYERS) + 1,   # conv, relu, ..., linear
    tensor_names=lambda shape: [f"{layer}.{kind}" for layer in ("conv1", "conv2", "conv3",
                                                                 "linear")
                                for kind in ("weight", "bias")],
    reported_accuracy=0.94,
)

"""The MNIST-1D paper's CNN: three strided Conv1d layers and a linear read-out (94 % in its table).

Shapes as in greydanus/mnist1d ``notebooks/models.py`` (ConvBase): Conv1d(1, 25, 5, stride 2,
padding 1) -> 19 positions, Conv1d(25, 25, 3, stride 2, padding 1) -> 10, the same again -> 5,
ReLU after each, flattened (25 x 5 = 125) into Linear(125, 10): 5,210 parameters. Weights as
torch's defaults (uniform in +-1/sqrt(fan_in), fan_in = in_channels x kernel), drawn from the
run's generator.

A population of P members trains through ``cnn_patches``: channels first, each layer one
batched matmul over its patches, its backward written out (first-order methods; second-order
ones get ``stacked_cnn_forward``'s autograd twin), and is evaluated channels first in slices of
the batch. A solo run trains through its patches, one matmul per layer, channels last
(``training_cnn_forward``), and is evaluated by the module's convolutions (``cnn_forward``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .cnn_patches import PopulationCNN, population_logits
from .spec import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound

# (kernel, stride) of the three layers, all with padding 1, as the paper's ConvBase.
LAYERS = ((5, 2), (3, 2), (3, 2))
PADDING = 1
# An evaluation's slice of the batch, in members x signals: 3,200 was fastest for 8 to 64
# members on this lab's CPU (2-6% ahead of 1,600 and 4,800; the slice's patches stay in cache).
EVALUATION_MEMBER_SIGNALS = 3200


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

    With gradients, each layer is one batched matmul over its patches, channels last, recorded
    by autograd (differentiable twice; first-order methods train through
    ``training_stacked_cnn_forward`` instead). A grouped conv1d with ``groups=P`` computes the
    same, but mkldnn's backward of it costs about P single convolutions. Without gradients (an
    evaluation) the members go channels first (``cnn_patches``) a slice of the batch at a
    time, ``EVALUATION_MEMBER_SIGNALS`` members x signals per slice: 32 members on 1,000
    signals took 60 ms so against 85-89 ms member by member through mkldnn's convolutions (a
    grouped conv1d with P groups: about 190 ms)."""
    if torch.is_grad_enabled():
        return _patch_forward(params, x)
    chunk = max(16, EVALUATION_MEMBER_SIGNALS // x.shape[0])
    return torch.cat([population_logits(LAYERS, PADDING, part, params)
                      for part in x.split(chunk, dim=2)], dim=2)


def _patches(h: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Channels last, (..., positions, channels) -> (..., out positions, kernel x channels): the
    ``kernel`` strided slices of the zero-padded input side by side, tap by tap."""
    n = (h.shape[-2] + 2 * PADDING - kernel) // stride + 1
    padded = F.pad(h, (0, 0, PADDING, PADDING))
    return torch.cat([padded[..., j:j + stride * (n - 1) + 1:stride, :] for j in range(kernel)],
                     dim=-1)


def _patch_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Channels last, (P, B, positions, channels): a layer is its patches, (P, B x out, kernel x
    in), times its weights as (P, kernel x in, out)."""
    h = x.permute(0, 2, 1).unsqueeze(3)          # (P, B, 40, 1)
    for k, (kernel, stride) in enumerate(LAYERS):
        w, bias = params[2 * k], params[2 * k + 1]           # (P, out, in, kernel), (P, out)
        patches = _patches(h, kernel, stride)
        p, b, n, _ = patches.shape
        weights = w.permute(0, 3, 2, 1).reshape(p, -1, w.shape[1])
        h = torch.baddbmm(bias.unsqueeze(1), patches.reshape(p, b * n, -1),
                          weights).relu().reshape(p, b, n, -1)
    flat = h.permute(0, 3, 2, 1).reshape(h.shape[0], -1, h.shape[1])   # solo's flatten order
    return torch.baddbmm(params[7].unsqueeze(2), params[6], flat)


def training_stacked_cnn_forward(params: Sequence[torch.Tensor], x: torch.Tensor
                                 ) -> torch.Tensor:
    """A population's training steps: channels first, the backward written out
    (``cnn_patches.py``), differentiable once."""
    return PopulationCNN.apply(LAYERS, PADDING, x, *params)


def training_cnn_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A solo run's training steps on CPU: each layer its patches times its weights, one matmul
    (channels last). mkldnn's convolutions at these sizes cost more than the arithmetic: a
    forward and backward took 1.24 ms so against 1.68 ms (batch 100, one thread). On CUDA,
    cuDNN's convolutions (``cnn_forward``)."""
    if x.is_cuda:
        return cnn_forward(params, x)
    h = x.unsqueeze(2)                            # (B, 40, 1)
    for k, (kernel, stride) in enumerate(LAYERS):
        w = params[2 * k]                         # (out, in, kernel) -> (out, kernel x in)
        h = F.linear(_patches(h, kernel, stride), w.permute(0, 2, 1).reshape(w.shape[0], -1),
                     params[2 * k + 1]).relu()   # (B, positions, out)
    # the read-out's weights reordered to positions x channels, not the activations
    read_out = params[6].view(params[6].shape[0], h.shape[2], h.shape[1]).transpose(1, 2)
    return F.linear(h.flatten(1), read_out.flatten(1), params[7])


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
    flattened read-out input and the logits. That is autograd's channels-last path (second-order
    methods); ``cnn_patches`` keeps only the patches (the inner outputs live in them) and the
    last output, and the rest of this bound covers its backward's gradients."""
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
    training_forward=training_cnn_forward,
    training_stacked_forward=training_stacked_cnn_forward,
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

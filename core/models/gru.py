"""The MNIST-1D paper's GRU: a bidirectional GRU read out by a linear layer (91 % in its table).

As greydanus/mnist1d ``notebooks/models.py`` (GRUBase): the 40 samples are 40 time steps of a
1-dimensional input; a bidirectional ``nn.GRU`` with hidden size 6 starts from zeros, and its
whole output (40 steps x 2 directions x 6) is flattened into Linear(480, 10): 5,134 parameters.
Weights as torch's defaults (the GRU's uniform in +-1/sqrt(hidden), the linear layer's in
+-1/sqrt(fan_in)), drawn from the run's generator.

A solo run calls torch's own GRU kernel over the module's weights. A population of P members
steps both directions of all members at once: per time step one batched matmul of the hidden
states by the (2P) recurrent weights and the gate arithmetic of ``nn.GRU``'s documentation.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .spec import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound

STEPS = N_INPUT          # one time step per sample of the signal
DIRECTIONS = 2           # bidirectional
_GRU_TENSORS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
NAMES = [f"gru.{n}{suffix}" for suffix in ("", "_reverse") for n in _GRU_TENSORS]


class GRU(nn.Module):
    def __init__(self, hidden_size: int = 6, generator: torch.Generator | None = None):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(DIRECTIONS * hidden_size * STEPS, N_CLASSES)
        with torch.no_grad():
            bound = linear_bound(hidden_size)
            for p in self.gru.parameters():
                p.uniform_(-bound, bound, generator=generator)
            bound = linear_bound(self.linear.in_features)
            self.linear.weight.uniform_(-bound, bound, generator=generator)
            self.linear.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(DIRECTIONS, x.shape[0], self.gru.hidden_size)
        out, _ = self.gru(x.unsqueeze(-1), h0)
        return self.linear(out.flatten(1))


def gru_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``GRU.forward`` without module dispatch: torch's GRU kernel on the same weights."""
    hidden = params[1].shape[1]
    h0 = x.new_zeros(DIRECTIONS, x.shape[0], hidden)
    out, _ = torch.gru(x.unsqueeze(-1), h0, list(params[:8]), True, 1, 0.0, True, True, True)
    return F.linear(out.flatten(1), params[8], params[9])


def stacked_gru_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (P, 40, B) -> logits (P, 10, B). Row block [:P] of every step is the forward direction
    at time t, [P:] the reverse direction at time 40-1-t."""
    p, _, b = x.shape
    hidden = params[1].shape[2]
    w_ih = torch.cat([params[0], params[4]])                  # (2P, 3H, 1)
    w_hh_t = torch.cat([params[1], params[5]]).transpose(1, 2)   # (2P, H, 3H)
    b_ih = torch.cat([params[2], params[6]])                  # (2P, 3H)
    b_hh = torch.cat([params[3], params[7]]).unsqueeze(1)     # (2P, 1, 3H)
    inputs = torch.cat([x, x.flip(1)])                         # (2P, T, B), reverse in time
    # Input projections of every step at once (the input has one feature).
    gates_in = torch.addcmul(b_ih.view(2 * p, 1, 1, -1), inputs.unsqueeze(-1),
                             w_ih.view(2 * p, 1, 1, -1))       # (2P, T, B, 3H)
    h = x.new_zeros(2 * p, b, hidden)
    outputs = []
    # unbind, not gates_in[:, t]: the backward of 40 slices would write 40 full-size gradients
    for gi in gates_in.unbind(1):
        gh = torch.baddbmm(b_hh, h, w_hh_t)                   # (2P, B, 3H)
        i_r, i_z, i_n = gi.chunk(3, dim=2)
        h_r, h_z, h_n = gh.chunk(3, dim=2)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        outputs.append(h)
    forward = torch.stack(outputs, dim=2)[:p]              # (P, B, T, H)
    backward = torch.stack(outputs[::-1], dim=2)[p:]          # (P, B, T, H), in time order
    flat = torch.cat([forward, backward], dim=3).reshape(p, b, -1)   # (P, B, T x 2H)
    return torch.baddbmm(params[9].unsqueeze(2), params[8], flat.transpose(1, 2))


def _count(shape) -> int:
    h = shape["hidden_size"]
    per_direction = 3 * h * 1 + 3 * h * h + 2 * 3 * h
    return DIRECTIONS * per_direction + DIRECTIONS * h * STEPS * N_CLASSES + N_CLASSES


def _macs(shape) -> int:
    h = shape["hidden_size"]
    # per step and direction: input and recurrent projections, and ~4 gate products per unit
    return DIRECTIONS * STEPS * (3 * h + 3 * h * h + 4 * h) + DIRECTIONS * h * STEPS * N_CLASSES


GRU_SPEC = ModelSpec(
    key="gru",
    display_name="GRU (bidirectional)",
    description="A bidirectional GRU (hidden size 6) over the 40 samples as time steps, its "
                "output flattened into a linear layer 480 -> 10: 5,134 parameters. Source: the "
                "MNIST-1D paper's GRUBase (greydanus/mnist1d, notebooks/models.py), 91 % test "
                "accuracy in its table.",
    source="greydanus/mnist1d notebooks/models.py: GRUBase",
    knobs=(ShapeKnob("hidden_size", 6, 1, 128, help="Hidden units of the GRU per direction"),),
    build=lambda shape, generator: GRU(shape["hidden_size"], generator),
    forward=gru_forward,
    stacked_forward=stacked_gru_forward,
    parameter_count=_count,
    macs=_macs,
    # per step and direction: gate inputs, gate outputs, candidate and new state
    activations=lambda shape: DIRECTIONS * STEPS * 12 * shape["hidden_size"] + N_INPUT + N_CLASSES,
    # the input projections of every step and direction
    widest=lambda shape: DIRECTIONS * STEPS * 3 * shape["hidden_size"],
    # ~6 kernels per step and direction (two matmuls, the gates), the directions in turn
    sequential_ops=lambda shape: DIRECTIONS * STEPS * 6 + 1,
    tensor_names=lambda shape: NAMES + ["linear.weight", "linear.bias"],
    reported_accuracy=0.91,
)

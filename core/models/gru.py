"""The MNIST-1D paper's GRU: a bidirectional GRU read out by a linear layer (91 % in its table).

As greydanus/mnist1d ``notebooks/models.py`` (GRUBase): the 40 samples are 40 time steps of a
1-dimensional input; a bidirectional ``nn.GRU`` with hidden size 6 starts from zeros, and its
whole output (40 steps x 2 directions x 6) is flattened into Linear(480, 10): 5,134 parameters.
Weights as torch's defaults (the GRU's uniform in +-1/sqrt(hidden), the linear layer's in
+-1/sqrt(fan_in)), drawn from the run's generator.

``gru_forward`` calls torch's own GRU kernel over the module's weights. A population of P
members steps both directions of all members at once: per time step one batched matmul of the
hidden states by the (2P) recurrent weights and the gate arithmetic of ``nn.GRU``'s
documentation. Training steps of first-order methods run that recurrence with its backward
written out (``gru_recurrence.py``), solo runs as a population of one.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .gru_recurrence import recurrences
from .spec import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound

STEPS = N_INPUT          # one time step per sample of the signal
DIRECTIONS = 2           # bidirectional
_GRU_TENSORS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
# Input-gate floats an evaluation forms at once (16 MB), whatever the population and batch.
EVALUATION_FLOATS = 4 << 20
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


def _directions(params: Sequence[torch.Tensor], x: torch.Tensor):
    """Both directions of all P members as 2P recurrences, time first and batch last: their
    input gates (T, 2P, 3H, B), recurrent weights (2P, 3H, H) and biases (2P, 3H); recurrences
    [P:] read the signal backwards."""
    p = x.shape[0]
    w_ih = torch.cat([params[0], params[4]])                           # (2P, 3H, 1)
    b_ih = torch.cat([params[2], params[6]]).unsqueeze(2)              # (2P, 3H, 1)
    inputs = torch.cat([x, x.flip(1)]).transpose(0, 1).unsqueeze(2)   # (T, 2P, 1, B)
    # Input projections of every step at once (the input has one feature).
    gates_in = torch.addcmul(b_ih, inputs, w_ih)
    return gates_in, torch.cat([params[1], params[5]]), torch.cat([params[3], params[7]])


def _read_out(params: Sequence[torch.Tensor], states: torch.Tensor) -> torch.Tensor:
    """(T, 2P, H, B) hidden states -> (P, 10, B) logits, flattened as ``nn.GRU``'s output
    (time, then direction, then unit)."""
    p = states.shape[1] // 2
    forward = states[:, :p].transpose(0, 1)                            # (P, T, H, B)
    backward = states[:, p:].flip(0).transpose(0, 1)                   # in time order
    flat = torch.cat([forward, backward], dim=2).flatten(1, 2)         # (P, T x 2H, B)
    return torch.baddbmm(params[9].unsqueeze(2), params[8], flat)


def stacked_gru_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (P, 40, B) -> logits (P, 10, B): every step of all 2P recurrences as one batched
    matmul and the gate arithmetic, recorded by autograd (differentiable twice). Without
    gradients (an evaluation) it runs ``gru_recurrence``'s loop a slice of the batch at a time:
    32 members' input gates for 1,000 signals are 184 MB, and in slices that stay in cache the
    pass took about half the time."""
    if not torch.is_grad_enabled():
        per_sample = 2 * x.shape[0] * x.shape[1] * params[1].shape[1]    # 2P x T x 3H floats
        slices = x.split(max(32, EVALUATION_FLOATS // per_sample), dim=2)
        return torch.cat([_read_out(params, recurrences(*_directions(params, part)))
                          for part in slices], dim=2)
    gates_in, w_hh, b_hh = _directions(params, x)
    hidden = w_hh.shape[2]
    b_hh = b_hh.unsqueeze(2)
    h = x.new_zeros(gates_in.shape[1], hidden, x.shape[2])
    states = []
    # unbind, not gates_in[t]: the backward of 40 slices would write 40 full-size gradients
    for gi in gates_in.unbind(0):
        gh = torch.baddbmm(b_hh, w_hh, h)                     # (2P, 3H, B)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        states.append(h)
    return _read_out(params, torch.stack(states))


def training_stacked_gru_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """:func:`stacked_gru_forward` through ``gru_recurrence``: its backward written out,
    differentiable once."""
    gates_in, w_hh, b_hh = _directions(params, x)
    return _read_out(params, recurrences(gates_in, w_hh, b_hh))


def training_gru_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A solo run's training steps on CPU: a population of one through ``gru_recurrence``, in
    less than half the time of torch's GRU kernel there. On CUDA, cuDNN's GRU."""
    if x.is_cuda:
        return gru_forward(params, x)
    return training_stacked_gru_forward([t.unsqueeze(0) for t in params],
                                        x.t().unsqueeze(0))[0].t()


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
    training_forward=training_gru_forward,
    training_stacked_forward=training_stacked_gru_forward,
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

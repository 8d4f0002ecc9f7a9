"""The GRU's hand-written backpropagation through time (core/models/gru_recurrence.py) against
autograd: torch's gradcheck on finite differences, ``nn.GRU`` itself, and a refusal to be
differentiated twice (a second-order method must never get its silent zeros)."""

import pytest
import torch
from torch import nn

from core.models.gru_recurrence import Recurrence, recurrences


def _inputs(steps=5, d=3, b=4, hidden=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, dtype=torch.float64, generator=g).requires_grad_()
    return make(steps, d, 3 * hidden, b), make(d, 3 * hidden, hidden), make(d, 3 * hidden)


def test_backward_matches_finite_differences():
    assert torch.autograd.gradcheck(Recurrence.apply, _inputs())


def test_states_and_gradients_are_nn_grus():
    torch.manual_seed(1)
    gru = nn.GRU(1, 3, batch_first=False).double()
    x = torch.randn(6, 4, 1, dtype=torch.float64)          # (T, B, 1)
    out, _ = gru(x)
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    gates_in = (x.transpose(1, 2) * w_ih + b_ih.unsqueeze(1)).unsqueeze(1)   # (T, 1, 3H, B)
    ours = recurrences(gates_in, w_hh.unsqueeze(0), b_hh.unsqueeze(0))[:, 0].transpose(1, 2)
    torch.testing.assert_close(ours, out, rtol=1e-13, atol=1e-13)
    weights = torch.randn_like(out)
    expected = torch.autograd.grad((out * weights).sum(), list(gru.parameters()))
    got = torch.autograd.grad((ours * weights).sum(), list(gru.parameters()))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_without_gradients_the_states_are_the_same():
    gates_in, w_hh, b_hh = _inputs(seed=2)
    with_graph = recurrences(gates_in, w_hh, b_hh)
    with torch.no_grad():
        assert torch.equal(recurrences(gates_in, w_hh, b_hh), with_graph.detach())


def test_second_derivatives_are_refused():
    gates_in, w_hh, b_hh = _inputs(seed=3)
    (grad,) = torch.autograd.grad(recurrences(gates_in, w_hh, b_hh).square().sum(), w_hh,
                                  create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(grad.sum(), w_hh)

"""The CNN population's hand-written backward (core/models/cnn_patches.py) against autograd
through torch's own conv1d, member by member, for layer shapes beyond the paper's: kernels
below, at and above the stride, padding 0 to 2 (positions no tap reaches, taps that overlap
at the edges), activations stored inside the next layer's patches or in position order, and
zero slots in more than the first layer."""

import pytest
import torch
import torch.nn.functional as F

from core.models.cnn_patches import PopulationCNN, plan, population_logits

CASES = {
    "paper": (((5, 2), (3, 2), (3, 2)), 1),
    "stride one": (((3, 1), (5, 1)), 2),
    "no padding, wide kernels": (((4, 2), (5, 3)), 0),
    "kernel below the stride": (((2, 3), (3, 2)), 1),
    "four layers, zero slots inside": (((3, 2), (3, 2), (3, 2), (3, 2)), 1),
    "kernel 4 does not tile": (((4, 2), (4, 2), (3, 2)), 1),
}


def _members(layers, padding, channels, generator, p=3, length=40):
    params, n = [], length
    for k, (kernel, stride) in enumerate(layers):
        fan_in = 1 if k == 0 else channels
        params += [torch.randn(p, channels, fan_in, kernel, generator=generator,
                               dtype=torch.float64),
                   torch.randn(p, channels, generator=generator, dtype=torch.float64)]
        n = (n + 2 * padding - kernel) // stride + 1
    params += [torch.randn(p, 10, channels * n, generator=generator, dtype=torch.float64),
               torch.randn(p, 10, generator=generator, dtype=torch.float64)]
    return [t.requires_grad_() for t in params]


def _reference(layers, padding, x, params):
    """Member by member through F.conv1d: x (P, L, B) -> (P, 10, B)."""
    out = []
    for i in range(x.shape[0]):
        h = x[i].t().unsqueeze(1)                                       # (B, 1, L)
        for k, (_, stride) in enumerate(layers):
            h = F.conv1d(h, params[2 * k][i], params[2 * k + 1][i], stride, padding).relu()
        out.append(F.linear(h.flatten(1), params[-2][i], params[-1][i]).t())
    return torch.stack(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_and_gradients_are_autograd_through_conv1d(case):
    layers, padding = CASES[case]
    g = torch.Generator().manual_seed(7)
    params = _members(layers, padding, 4, g)
    x = torch.randn(3, 40, 5, generator=g, dtype=torch.float64)
    upstream = torch.randn(3, 10, 5, generator=g, dtype=torch.float64)
    ours = PopulationCNN.apply(layers, padding, x, *params)
    theirs = _reference(layers, padding, x, params)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, params, upstream),
                    torch.autograd.grad(theirs, params, upstream)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(population_logits(layers, padding, x, params), theirs,
                                   rtol=1e-12, atol=1e-12)


def test_gradcheck_on_the_paper_layers():
    layers, padding = CASES["paper"]
    g = torch.Generator().manual_seed(8)
    params = _members(layers, padding, 2, g, p=2)
    x = torch.randn(2, 40, 3, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda *ps: PopulationCNN.apply(layers, padding, x, *ps), params)


def test_it_is_differentiable_once_only():
    layers, padding = CASES["paper"]
    params = _members(layers, padding, 2, torch.Generator().manual_seed(9), p=1)
    x = torch.randn(1, 40, 2, dtype=torch.float64)
    # a squared loss: its gradient reaching the logits depends on the weights
    loss = PopulationCNN.apply(layers, padding, x, *params).square().sum()
    (grad,) = torch.autograd.grad(loss, params[:1], create_graph=True)
    with pytest.raises(RuntimeError, match="once"):
        grad.sum().backward()


def test_the_paper_layers_store_activations_inside_the_next_patches():
    """The fast path is taken: the two inner activations are written as rows of the next
    layer's patches, leaving 9 of 30 and 4 of 15 entries per channel to copy; the first
    layer's output has one zero slot (position 19 of a 20-slot tiling)."""
    first, second, third = plan(*CASES["paper"], 40)
    assert (first.inside_next, second.inside_next, third.inside_next) == (True, True, False)
    assert [sum(x.count for x in lp.copies) for lp in (second, third)] == [9, 4]
    assert first.order.count(-1) == 1 and sorted(first.order)[1:] == list(range(19))
    assert third.order == tuple(range(5))

"""The MLP every method trains, initialised from an explicit generator so runs are paired."""

import math

import torch
from torch import nn


class MLP(nn.Module):
    """40 -> 100 -> 100 -> 10 with ReLU by default (15,210 parameters).

    Weights are drawn like ``nn.Linear``'s default (uniform in +-1/sqrt(fan_in)) but from
    ``generator``, not the global RNG, so concurrent runs in threads cannot disturb each other and
    the same seed gives every method the same initial weights.
    """

    def __init__(self, in_features: int = 40, hidden: tuple[int, ...] = (100, 100),
                 out_features: int = 10, generator: torch.Generator | None = None) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_generator(seed: int) -> torch.Generator:
    """Generator for a run's initial weights (the batch order uses a different stream)."""
    return torch.Generator().manual_seed(int(seed))

"""The MNIST-1D paper's own MLP (MLPBase in greydanus/mnist1d notebooks/models.py) as a plug-in
model: 40 -> width -> width -> 10 with ReLU and a residual connection around the second layer,
h = relu(W1 x); h = h + relu(W2 h); logits = W3 h (15,210 parameters at width 100).

A whole model in one file outside ``core/``: its module, its fast path, its stacked forward for
populations and its ``ModelSpec``. Load it without editing the lab, either way:

    MNIST1D_LAB_MODELS=examples.residual_mlp:RESIDUAL_MLP streamlit run app.py
    MNIST1D_LAB_MODELS=examples.residual_mlp:RESIDUAL_MLP python -m core train --model residual_mlp

or from an installed package that declares it in its pyproject.toml:

    [project.entry-points."mnist1d_lab.models"]
    residual_mlp = "examples.residual_mlp:RESIDUAL_MLP"

``python -m core models`` then measures it next to the paper's 68 % as well.
"""

import torch
import torch.nn.functional as F
from torch import nn

from core.models import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound


class ResidualMLP(nn.Module):
    def __init__(self, width: int = 100, generator: torch.Generator | None = None):
        super().__init__()
        self.linear1 = nn.Linear(N_INPUT, width)
        self.linear2 = nn.Linear(width, width)
        self.linear3 = nn.Linear(width, N_CLASSES)
        with torch.no_grad():   # nn.Linear's own init, drawn from the run's generator
            for layer in (self.linear1, self.linear2, self.linear3):
                bound = linear_bound(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x):
        h = self.linear1(x).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


def forward(params, x):
    """``ResidualMLP.forward`` over its six tensors, without module dispatch."""
    w1, b1, w2, b2, w3, b3 = params
    h = F.linear(x, w1, b1).relu()
    h = h + F.linear(h, w2, b2).relu()
    return F.linear(h, w3, b3)


def stacked_forward(params, x):
    """P members at once: x (P, 40, B) -> logits (P, 10, B), one batched matmul per layer."""
    w1, b1, w2, b2, w3, b3 = params
    h = torch.baddbmm(b1.unsqueeze(2), w1, x).relu()
    h = h + torch.baddbmm(b2.unsqueeze(2), w2, h).relu()
    return torch.baddbmm(b3.unsqueeze(2), w3, h)


def _count(shape):
    w = shape["width"]
    return (N_INPUT * w + w) + (w * w + w) + (w * N_CLASSES + N_CLASSES)


RESIDUAL_MLP = ModelSpec(
    key="residual_mlp",
    display_name="Residual MLP (the paper's)",
    description="The MNIST-1D paper's MLPBase: 40-100-100-10 with ReLU and a residual "
                "connection around the second layer (15,210 parameters). Source: "
                "greydanus/mnist1d notebooks/models.py, 68 % test accuracy in its table.",
    source="greydanus/mnist1d notebooks/models.py: MLPBase",
    knobs=(ShapeKnob("width", 100, 1, 4096, help="Width of both hidden layers"),),
    build=lambda shape, generator: ResidualMLP(shape["width"], generator),
    forward=forward,
    stacked_forward=stacked_forward,
    parameter_count=_count,
    macs=lambda shape: _count(shape) - 2 * shape["width"] - N_CLASSES,
    activations=lambda shape: N_INPUT + 5 * shape["width"] + N_CLASSES,
    widest=lambda shape: shape["width"],
    sequential_ops=lambda shape: 6,
    tensor_names=lambda shape: [f"linear{i}.{kind}" for i in (1, 2, 3)
                                for kind in ("weight", "bias")],
    reported_accuracy=0.68,
)

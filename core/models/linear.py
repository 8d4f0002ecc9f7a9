"""Logistic regression, the MNIST-1D paper's weakest baseline (32 % test accuracy)."""

from .mlp import MLP, dense_forward, stacked_dense_forward
from .spec import N_CLASSES, N_INPUT, ModelSpec

# One linear layer: the MLP with no hidden layer, so it shares its init and both fast paths.
LINEAR_SPEC = ModelSpec(
    key="linear",
    display_name="Linear (logistic regression)",
    description="One linear layer, 40 -> 10 (410 parameters): softmax regression on the raw "
                "signal. Source: the MNIST-1D paper's LinearBase (greydanus/mnist1d, "
                "notebooks/models.py), 32 % test accuracy in its table.",
    source="greydanus/mnist1d notebooks/models.py: LinearBase",
    knobs=(),
    build=lambda shape, generator: MLP(N_INPUT, (), N_CLASSES, generator),
    forward=dense_forward,
    stacked_forward=stacked_dense_forward,
    parameter_count=lambda shape: N_INPUT * N_CLASSES + N_CLASSES,
    macs=lambda shape: N_INPUT * N_CLASSES,
    activations=lambda shape: N_INPUT + N_CLASSES,
    widest=lambda shape: N_CLASSES,
    sequential_ops=lambda shape: 1,
    tensor_names=lambda shape: ["linear.weight", "linear.bias"],
    reported_accuracy=0.32,
)

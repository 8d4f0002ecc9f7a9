"""Hyperparameter checks shared by the optimizers, with PyTorch's message style."""

import math
from numbers import Real


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"Invalid {name}: {value!r} (expected a real number)")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value}")
    return value


def non_negative(name: str, value) -> float:
    """A finite value >= 0 (learning rates, eps, beta, alpha)."""
    value = _real(name, value)
    if value < 0.0:
        raise ValueError(f"Invalid {name}: {value}")
    return value


def unit_interval(name: str, value) -> float:
    """A value in [0, 1): momentum-like decay rates."""
    value = _real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name}: {value} (expected 0 <= {name} < 1)")
    return value


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer >= 1)")
    return value

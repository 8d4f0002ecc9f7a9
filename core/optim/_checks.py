"""Hyperparameter checks shared by the optimizers, with PyTorch's message style."""

import math
from numbers import Integral, Real


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


def non_negative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer >= 0)")
    return value


def unit_factor(name: str, value) -> float:
    """A factor in [0, 1]: a learning-rate multiplier that never raises the lr."""
    value = _real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Invalid {name}: {value} (expected 0 <= {name} <= 1)")
    return value


def seed_value(name: str, value) -> int:
    """A seed torch.Generator.manual_seed takes as given: an integer in [0, 2**64)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < 2 ** 64:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer in [0, 2**64))")
    return int(value)

"""The lab's optimizers (drop-in ``torch.optim`` citizens) and the registry that describes them."""

from .gnw_adam import GNWAdam
from .graph import backward
from .hessian_lr import HessianLRAdaptation
from .meta_curvature import MetaCurvatureLR, hutchinson_trace
from .registry import BASELINE, METHODS, HyperParam, MethodSpec, get_method
from .weight_trajectory import WeightTrajectoryLR
from .wngd import WNGD
from .wrapper import OptimizerWrapper

__all__ = ["GNWAdam", "HessianLRAdaptation", "MetaCurvatureLR", "WeightTrajectoryLR", "WNGD",
           "OptimizerWrapper", "backward", "hutchinson_trace", "BASELINE", "METHODS", "HyperParam", "MethodSpec",
           "get_method"]

"""The lab's optimizers (drop-in ``torch.optim`` citizens) and the registry that describes them.

``MethodSpec`` and ``HyperParam`` are the public API for describing a method, built in or plug-in;
the population-form building blocks are for a plug-in that trains P runs at once.
"""

# The spec API first: loading the registry imports plug-ins, which import it from here.
from .spec import HyperParam, MethodSpec  # isort: skip
from ._population import (PopulationBase, PopulationOptimizer, PopulationWrapper,  # isort: skip
                          member_norms, member_view, over, wrapper_method)
from .gnw_adam import GNWAdam
from .graph import backward
from .hessian_lr import HessianLRAdaptation
from .meta_curvature import MetaCurvatureLR, hutchinson_trace
from .modes import evaluating, set_training
from .muon import MuonWithAdamW
from .registry import BASELINE, METHODS, get_method
from .weight_trajectory import WeightTrajectoryLR
from .wngd import WNGD
from .wrapper import OptimizerWrapper

__all__ = ["GNWAdam", "HessianLRAdaptation", "MetaCurvatureLR", "WeightTrajectoryLR", "WNGD",
           "OptimizerWrapper", "backward", "hutchinson_trace", "BASELINE", "METHODS", "HyperParam",
           "MethodSpec", "get_method", "PopulationBase", "PopulationOptimizer",
           "PopulationWrapper", "member_norms", "member_view", "over", "wrapper_method",
           "MuonWithAdamW", "evaluating", "set_training"]

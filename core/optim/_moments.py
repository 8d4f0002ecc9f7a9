"""What the Adam-family population forms (NAdam, RAdam, ADOPT) share: per-member beta1, beta2
and weight decay, the two moments per tensor, the step count and coupled weight decay."""

import torch

from ._population import PopulationBase, member_view


class PopulationMoments(PopulationBase):
    """A population form with Adam's state: ``exp_avg``, ``exp_avg_sq`` (member on dim 0),
    ``beta1``, ``beta2``, ``weight_decay`` (float64, (P,)) and ``steps``."""

    _member_tensors = PopulationBase._member_tensors + ("beta1", "beta2", "weight_decay")
    _member_tensor_lists = ("exp_avg", "exp_avg_sq")

    def __init__(self, hparams, params):
        super().__init__(hparams, params)
        self.beta1 = self._hyper(h["beta1"] for h in hparams)
        self.beta2 = self._hyper(h["beta2"] for h in hparams)
        self.weight_decay = self._hyper(h["weight_decay"] for h in hparams)
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = 0

    def coupled_decay(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The gradient plus each member's L2 term ``weight_decay * p`` (torch's default)."""
        return g + member_view(self.weight_decay.to(self.dtype), p) * p

    def update_moments(self, m, v, g) -> None:
        """Adam's moments in place: ``m`` towards ``g`` by 1 - beta1, ``v`` towards ``g^2``."""
        b1, b2 = self.beta1.to(self.dtype), self.beta2.to(self.dtype)
        m.lerp_(g, member_view(1.0 - b1, m))
        v.mul_(member_view(b2, v)).addcmul_(g * member_view(1.0 - b2, g), g)

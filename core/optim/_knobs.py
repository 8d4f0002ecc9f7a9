"""The knobs the baselines share, each written once: moment decays and weight decay, with the
ranges every library here accepts (``[0, 1)`` for a decay, ``>= 0`` for weight decay)."""

from .spec import HyperParam

COUPLED = "L2 weight decay added to the gradient (the library's default, coupled)."
DECOUPLED = "Decoupled weight decay: the weights shrink by lr * weight_decay a step."


def beta_param(name: str, default: float, help: str, search=None,
               high: float = 0.99999, low: float = 0.0) -> HyperParam:
    """A moment's decay (beta1, beta2, ...), searched on ``search`` if given."""
    return HyperParam(name, default, low, high, search=search, help=help)


def weight_decay_param(default: float = 0.0, help: str = COUPLED) -> HyperParam:
    """Weight decay, kept at its default by searches (the lr is what they tune)."""
    return HyperParam("weight_decay", default, 0.0, 10.0, help=help)


def adam_betas(beta1: float = 0.9, beta2: float = 0.999, search1=(0.8, 0.99),
               high1: float = 0.999) -> tuple[HyperParam, HyperParam]:
    """beta1 (searched on ``search1``) and beta2 (kept at its default), Adam's meaning."""
    return (beta_param("beta1", beta1, "Decay of the first moment.", search=search1,
                       high=high1),
            beta_param("beta2", beta2, "Decay of the second moment."))

"""pytorch-optimizer's classes as the lab builds them: the library's own class, unchanged but
for copying. ``torch.optim.Optimizer.__getstate__`` keeps only ``defaults``, ``state`` and
``param_groups``, and these classes keep some options as attributes (``maximize``,
``foreach``, ADOPT's ``clip_lambda``, SOAP's ``data_format``), so ``copy.deepcopy``, ``pickle``
and ``torch.save(optimizer)`` gave an optimizer that failed on its next step. Imported when a
method is first built: the library loads its ~100 optimizers on import.
"""

import pytorch_optimizer


class _KeepsAttributes:
    """Copies and pickles carry the instance's own attributes (hooks stay torch's business)."""

    def __getstate__(self):
        state = super().__getstate__()
        state.update({k: v for k, v in vars(self).items()
                      if k not in state and "hook" not in k})
        return state


class Lion(_KeepsAttributes, pytorch_optimizer.Lion):
    """``pytorch_optimizer.Lion``."""


class ADOPT(_KeepsAttributes, pytorch_optimizer.ADOPT):
    """``pytorch_optimizer.ADOPT``."""


class Prodigy(_KeepsAttributes, pytorch_optimizer.Prodigy):
    """``pytorch_optimizer.Prodigy``."""


class SOAP(_KeepsAttributes, pytorch_optimizer.SOAP):
    """``pytorch_optimizer.SOAP``."""

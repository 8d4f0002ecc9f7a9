"""One contiguous buffer behind a list of per-parameter tensors.

A wrapper's elementwise math over the MLP's six small tensors costs six kernel dispatches per
``torch._foreach_*`` call on CPU, and a dispatch, not the arithmetic, is most of the cost at this
size. With its per-parameter state held as views of one flat buffer, the same math is one kernel
per operation; the views keep ``wrapper_state`` per parameter, as ``state_dict`` expects.
"""

import torch


class FlatLayout:
    """The shapes of ``tensors`` laid end to end in one 1-D buffer of their dtype and device."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.shapes = [t.shape for t in tensors]
        self.sizes = [t.numel() for t in tensors]
        self.dtype = tensors[0].dtype
        self.device = tensors[0].device

    @staticmethod
    def fits(tensors: list[torch.Tensor]) -> bool:
        """True when one buffer can hold them all: dense, one dtype, one device."""
        if not tensors:
            return False
        first = tensors[0]
        return all(t.layout == torch.strided and t.dtype == first.dtype and t.device == first.device
                   for t in tensors)

    def empty(self) -> torch.Tensor:
        return torch.empty(sum(self.sizes), dtype=self.dtype, device=self.device)

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """``flat`` cut into tensors of the layout's shapes (views: writes go to ``flat``)."""
        return [v.view(shape) for v, shape in zip(flat.split(self.sizes), self.shapes)]

    def adopt(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A new flat buffer holding the values of ``tensors``, and its views in their place."""
        flat = self.empty()
        views = self.views(flat)
        torch._foreach_copy_(views, tensors)
        return flat, views

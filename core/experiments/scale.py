"""How much of a protocol runs: as written (``FULL``) or shrunk to a smoke test (``QUICK``)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """Caps on trials and epochs. ``FULL`` leaves a protocol as written; ``QUICK`` shrinks it so an
    experiment finishes in under a minute on a 2-core CPU (a smoke run, not evidence)."""

    name: str
    max_trials: int = 10**6
    max_search_epochs: int = 10**6
    max_final_epochs: int = 10**6

    def __post_init__(self):
        if min(self.max_trials, self.max_search_epochs, self.max_final_epochs) < 1:
            raise ValueError("scale caps must be at least 1")

    @property
    def is_full(self) -> bool:
        return self.name == "full"

    def apply(self, p) -> dict[str, int]:
        """The protocol's trial and epoch counts, capped."""
        return {"search_trials": min(p.search_trials, self.max_trials),
                "search_epochs": min(p.search_epochs, self.max_search_epochs),
                "final_epochs": min(p.final_epochs, self.max_final_epochs)}


FULL = Scale("full")
QUICK = Scale("quick", max_trials=4, max_search_epochs=5, max_final_epochs=10)
# The cross-model variants' scale: a CNN epoch costs about 2 MLP epochs, a GRU epoch about 8
# (one thread, measured 2026-12-03), so those re-runs tune with fewer trials and epochs. A real
# run, not a smoke test: its caps are stated with every variant that uses it.
REDUCED = Scale("reduced", max_trials=4, max_search_epochs=10, max_final_epochs=20)
# Scales whose results are evidence (a run at any other scale says it is not).
EVIDENCE = (FULL.name, REDUCED.name)

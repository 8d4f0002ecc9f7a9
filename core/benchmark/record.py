"""A benchmark's results as data: one confirmation run, one cell, the whole record; JSON both ways.

The record keeps what was measured (each cell's best configuration, each seed's scores and
validation-accuracy curve, the cost); everything derived from it (tables, verdicts, the profile)
is :func:`core.benchmark.results.summarize`'s, so a record read back judges the same.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from ..config import EpochMetrics, is_finite_number
from .config import BenchmarkConfig

FORMAT = "mnist1d-lab-benchmark"
VERSION = 1


def _num(x) -> float | None:
    return float(x) if is_finite_number(x) else None


@dataclass(frozen=True)
class SeedRun:
    """One confirmation run of a cell's best configuration on one fresh seed. A diverged run has
    no test scores (None); the divergence rule gives it its workload's worst."""

    seed: int
    test_acc: float | None
    test_loss: float | None
    best_epoch: int | None
    val_acc: tuple = ()       # per epoch trained (None where not finite)
    diverged: bool = False
    reason: str | None = None

    @classmethod
    def from_curve(cls, seed: int, curve: Sequence[EpochMetrics]) -> "SeedRun":
        """Scores at the epoch of minimum validation loss (the honest split reports the test set
        every epoch); a run whose last epoch diverged keeps none of its earlier values."""
        val_acc = tuple(_num(m.val_acc) for m in curve)
        if not curve or curve[-1].diverged:
            reason = curve[-1].reason if curve else "no epoch trained"
            return cls(seed, None, None, None, val_acc, True, reason)
        finite = [m for m in curve if is_finite_number(m.val_loss)]
        if not finite:
            return cls(seed, None, None, None, val_acc, True, "no finite validation loss")
        best = min(finite, key=lambda m: m.val_loss)
        return cls(seed, _num(best.test_acc), _num(best.test_loss), best.epoch, val_acc)

    def epochs_to(self, target: float | None) -> int | None:
        """The first epoch whose validation accuracy reached ``target`` (None: never, or
        diverged)."""
        if target is None or self.diverged:
            return None
        return next((e for e, a in enumerate(self.val_acc, 1) if a is not None and a >= target),
                    None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["val_acc"] = list(self.val_acc)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "SeedRun":
        return cls(**{**d, "val_acc": tuple(d.get("val_acc", ()))})


@dataclass(frozen=True)
class CellResult:
    """One (method entry, workload): its search and its confirmation."""

    method: str                   # MethodEntry.key
    workload: str                 # Workload.key
    best_params: dict | None      # None: the search had no completed trial
    best_value: float | None      # the best trial's best validation loss, on the tuning seed
    trials: int
    states: dict
    runs: tuple                   # SeedRun per confirmation seed
    search_s: float = 0.0
    confirm_s: float = 0.0
    grads_per_step: float = 1.0
    hvps_per_step: float = 0.0
    steps_per_epoch: int = 0
    study: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.workload

    @property
    def diverged(self) -> int:
        return sum(r.diverged for r in self.runs)

    @property
    def failed(self) -> bool:
        """Every confirmation seed diverged (or the search completed no trial)."""
        return all(r.diverged for r in self.runs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [r.to_dict() for r in self.runs]
        d["best_value"] = _num(self.best_value)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "CellResult":
        return cls(**{**d, "runs": tuple(SeedRun.from_dict(r) for r in d["runs"])})


def environment() -> dict:
    import optuna
    import torch
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "optuna": optuna.__version__, "platform": platform.platform(),
            "machine": platform.machine(), "threads": torch.get_num_threads()}


@dataclass(frozen=True)
class BenchmarkRecord:
    """What a benchmark measured, with the protocol it ran under."""

    name: str
    config: BenchmarkConfig
    cells: tuple
    environment: dict = field(default_factory=dict)
    started: str = ""
    wall_s: float = 0.0

    def cell(self, method: str, workload: str) -> CellResult | None:
        return next((c for c in self.cells if c.key == (method, workload)), None)

    def protocol(self) -> dict:
        from ..stats import ALPHA, DIVERGENCE_RULE
        from .config import SPLIT
        from .results import TARGET_RULE
        c = self.config
        startup = c.search_config(*c.cells()[0]).startup_trials
        sampler = (f"random search, {c.trials} trials" if c.sampler == "random" else
                   f"TPE (constant liar), {startup} random start-up trials of {c.trials}")
        return {"split": SPLIT, "seeds": list(c.confirm_seeds), "tuning_seed": c.seed,
                "trials": c.trials, "sampler": sampler, "parallel": c.parallel,
                "divergence_rule": DIVERGENCE_RULE, "target_rule": TARGET_RULE,
                "margins": dict(c.margins), "alpha": ALPHA, "baseline": c.baseline,
                "reference": c.reference,
                "holm": "across every workload and both metrics of the table"}

    def to_dict(self, summary: bool = True) -> dict:
        d = {"format": FORMAT, "version": VERSION, "name": self.name,
             "config": self.config.to_dict(), "protocol": self.protocol(),
             "environment": dict(self.environment), "started": self.started,
             "wall_s": self.wall_s, "cells": [c.to_dict() for c in self.cells]}
        if summary:
            from .results import summarize
            d["summary"] = summarize(self).to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(_clean(self.to_dict()), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping) -> "BenchmarkRecord":
        if d.get("format") != FORMAT:
            raise ValueError(f"not a benchmark record (format {d.get('format')!r}, expected "
                             f"{FORMAT!r})")
        if d.get("version") != VERSION:
            raise ValueError(f"benchmark record version {d.get('version')!r}; this lab reads "
                             f"version {VERSION}")
        return cls(name=d["name"], config=BenchmarkConfig.from_dict(d["config"]),
                   cells=tuple(CellResult.from_dict(c) for c in d["cells"]),
                   environment=dict(d.get("environment", {})), started=d.get("started", ""),
                   wall_s=float(d.get("wall_s", 0.0)))

    @classmethod
    def from_json(cls, text: str) -> "BenchmarkRecord":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error}") from None
        return cls.from_dict(data)


def _clean(obj):
    """JSON-safe: non-finite numbers become None, tuples lists."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj

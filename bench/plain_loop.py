"""The reference the benchmark measures core against: the loop a PyTorch user writes first.

Same model (``core.models.MLP``), same data, batch size and epochs as core's ``train()``, but
with a ``DataLoader`` that shuffles, ``torch.optim.Adam`` with its defaults, ``loss.item()`` per
step and an evaluation pass every epoch. Nothing here is tuned for speed; that is the point.
``plain_run`` and ``plain_cell`` are the same loop for any registry method (its optimizer class,
its schedule as a ``LambdaLR``) and a benchmark cell's trials and seeds done with it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import load_mnist1d, make_split  # noqa: E402
from core.models import MLP, get_model  # noqa: E402


def _plain_data(data, split: str, batch_size: int):
    """The split's training set as a shuffling DataLoader and its validation tensors."""
    s = make_split(data if data is not None else load_mnist1d(), split)
    train_set = TensorDataset(torch.tensor(s.x_train, dtype=torch.float32),
                              torch.tensor(s.y_train, dtype=torch.long))
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    return (loader, torch.tensor(s.x_val, dtype=torch.float32),
            torch.tensor(s.y_val, dtype=torch.long))


def plain_train(epochs: int = 20, lr: float = 1e-3, batch_size: int = 100, seed: int = 0,
                hidden=(100, 100), split: str = "writeup", data=None, model: str = "mlp"
                ) -> Iterator[tuple[int, float, float, float]]:
    """Yield ``(epoch, train_loss, val_loss, val_acc)`` per epoch; ``model`` other than the
    MLP is the registry's module at its default shape (``nn.Conv1d``, ``nn.GRU``), called as
    a module."""
    torch.manual_seed(seed)
    loader, x_val, y_val = _plain_data(data, split, batch_size)
    model = MLP(40, tuple(hidden), 10) if model == "mlp" else \
        get_model(model).make({}, torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = F.cross_entropy(logits, y_val).item()
            val_acc = (logits.argmax(1) == y_val).float().mean().item()
        yield epoch, total / count, val_loss, val_acc


def plain_search(trials: int, epochs: int, seed: int = 0, data=None, model: str = "mlp",
                 split: str = "writeup") -> float:
    """Optuna TPE over Adam's lr (the registry's range, 1e-4..1e-1 log), one trial after
    another with the plain loop on ``model``; returns the best value (best validation loss of a
    trial)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        best = math.inf
        for _, _, val_loss, _ in plain_train(epochs, lr=lr, seed=seed, data=data, model=model,
                                             split=split):
            best = min(best, val_loss)
        return best

    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return study.best_value


def plain_run(config, data=None) -> Iterator[float]:
    """Yield each epoch's validation loss of ``config`` (any registry method, schedule and
    model) trained as a PyTorch user would with the lab's optimizer class: the model called as
    a module, a shuffling DataLoader, ``loss.backward()`` (with ``create_graph`` where the
    method reads second derivatives), a ``LambdaLR`` for the schedule, the optimizer's own
    ``train()``/``eval()`` where it has them (Schedule-Free). A non-finite loss ends the run,
    as a user would stop it."""
    from core.schedules import config_factor, config_is_constant
    from core.training.train import build_run
    torch.manual_seed(config.seed)
    loader, x_val, y_val = _plain_data(data, config.split, config.batch_size)
    model, optimizer = build_run(config, torch.device("cpu"))
    steps = len(loader)
    scheduler = None if config_is_constant(config) else torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: config_factor(config, t, steps))
    second_order = config.spec.needs_create_graph
    for _ in range(config.epochs):
        model.train()
        if hasattr(optimizer, "train"):
            optimizer.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            if not math.isfinite(loss.item()):
                return
            loss.backward(create_graph=second_order)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        model.eval()
        if hasattr(optimizer, "eval"):
            optimizer.eval()
        with torch.no_grad():
            yield F.cross_entropy(model(x_val), y_val).item()


def plain_cell(search, seeds, data=None) -> float:
    """A benchmark cell done plainly: ``search.trials`` Optuna trials one after another over
    the same space (ask and tell, the same sampler seed), each trained by :func:`plain_run`
    and scored by its best validation loss, then the best configuration on ``seeds``."""
    import optuna

    from core.search.study import default_startup_trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search.space()
    sampler = optuna.samplers.TPESampler(seed=search.seed,
                                         n_startup_trials=search.startup_trials
                                         or default_startup_trials(search.trials))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for _ in range(search.trials):
        trial = study.ask(dict(space.distributions))
        losses = list(plain_run(search.run_config(trial.params), data))
        study.tell(trial, min(losses) if losses else math.inf)
    for s in seeds:   # a run that never finished an epoch scored inf, so the best exists
        list(plain_run(search.run_config(study.best_params, seed=s), data))
    return study.best_value

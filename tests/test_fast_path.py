"""core.training.train's fast loop must give the numbers of the plain, obvious loop, bit for bit on CPU.

The reference below is the textbook loop (``model(x)``, ``loss.backward()``, ``step()``,
``zero_grad()``) over the same initial weights and batch order; the fast path may skip Python
work but not change a single kernel or its order.
"""

import pytest
import torch
import torch.nn.functional as F

from core.config import RunConfig
from core.optim import evaluating
from core.data import make_split
from core.optim import METHODS
from core.training.train import BATCH_STREAM_OFFSET, build_run, train


def _simple_loop(config, data):
    split = make_split(data, config.split)
    x = torch.as_tensor(split.x_train, dtype=torch.float32)
    y = torch.as_tensor(split.y_train, dtype=torch.long)
    xv = torch.as_tensor(split.x_val, dtype=torch.float32)
    yv = torch.as_tensor(split.y_val, dtype=torch.long)
    model, opt = build_run(config, torch.device("cpu"))
    order = torch.Generator().manual_seed(config.seed + BATCH_STREAM_OFFSET)
    out = []
    for _ in range(config.epochs):
        perm = torch.randperm(len(y), generator=order)
        total = torch.zeros(())
        for i in range(0, len(y), config.batch_size):
            idx = perm[i:i + config.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            if getattr(opt, "needs_create_graph", False):
                grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
                for p, g in zip(model.parameters(), grads):
                    p.grad = g
            else:
                loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += loss.detach() * len(idx)
        with torch.no_grad(), evaluating(opt):   # Schedule-Free's eval()/train(); else nothing
            logits = model(xv)
            out.append((float(total) / len(y), float(F.cross_entropy(logits, yv)),
                        float((logits.argmax(1) == yv).float().mean()),
                        tuple(float(g["lr"]) for g in opt.param_groups)))
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("key", sorted(METHODS))
def test_fast_train_equals_the_simple_loop_bit_for_bit(key, mnist1d):
    # batch 96 leaves a short last batch, the case where slicing bounds can go wrong.
    config = RunConfig(method=key, epochs=2, seed=5, batch_size=96, device="cpu")
    fast = [(m.train_loss, m.val_loss, m.val_acc, m.lrs) for m in train(config, mnist1d)]
    assert fast == _simple_loop(config, mnist1d)


def test_float64_switch_changes_precision_not_the_run(mnist1d):
    config = RunConfig(epochs=1, seed=2, device="cpu")
    single, double = next(train(config, mnist1d)), next(train(config, mnist1d, dtype=torch.float64))
    assert single.val_loss != double.val_loss
    assert double.val_loss == pytest.approx(single.val_loss, rel=1e-4)

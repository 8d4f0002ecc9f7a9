"""Where a training step's time goes, per method: ``python bench/step_profile.py [METHOD ...]``.

Runs each method's training steps the way ``core.training.train`` does (batches of 100, the layers called
directly, the step without the hook runner) and prints the mean microseconds of forward +
backward and of ``optimizer.step`` inside that loop, next to the step alone on the same
gradients, repeated in a tight loop. The two step columns differ because inside the loop the
backward pass has just filled the caches with other data: what an optimizer costs in training
is the first column. "Alone" alternates two batches' gradients (a method that tracks how the
gradient changes would see zero change with one), and their six assignments are in its time.
A diagnosis aid for bench item 2, not one of its figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core.config import RunConfig  # noqa: E402
from core.data import load_mnist1d  # noqa: E402
from core.optim import METHODS, backward  # noqa: E402
from core.optim._step import loop_step  # noqa: E402
from core.training.train import build_run  # noqa: E402


def profile(method: str, batches, steps: int) -> tuple[float, float, float]:
    """(forward + backward, step in the loop, step alone) in microseconds per step."""
    model, opt = build_run(RunConfig(method=method), torch.device("cpu"))
    params = list(model.parameters())
    forward = RunConfig(method=method).model_spec.forward   # the run's own fast path
    step = loop_step(opt)
    graph = METHODS[method].needs_create_graph
    clock = time.perf_counter
    forward_backward = in_loop = 0.0
    for k in range(-200, steps):   # the first 200 steps warm up and are not counted
        x, y = batches[k % len(batches)]
        t0 = clock()
        loss = F.cross_entropy(forward(params, x), y)
        backward(loss, opt, params) if graph else loss.backward()
        t1 = clock()
        step()
        t2 = clock()
        if k >= 0:
            forward_backward += t1 - t0
            in_loop += t2 - t1
        opt.zero_grad(set_to_none=True)
    alone = float("nan")
    if not graph:   # a create_graph method's step needs a fresh graph each time
        grads = []
        for x, y in batches[:2]:
            F.cross_entropy(forward(params, x), y).backward()
            grads.append([p.grad for p in params])
            opt.zero_grad(set_to_none=True)
        t0 = clock()
        for k in range(steps):
            for p, g in zip(params, grads[k % 2]):
                p.grad = g
            step()
        alone = (clock() - t0) / steps * 1e6
    return forward_backward / steps * 1e6, in_loop / steps * 1e6, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*", metavar="METHOD",
                        help=f"any of {', '.join(METHODS)} (default: all)")
    parser.add_argument("--steps", type=int, default=4000, help="counted steps per method")
    args = parser.parse_args()
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    torch.set_num_threads(1)
    data = load_mnist1d()
    x = torch.as_tensor(data.x, dtype=torch.float32)
    y = torch.as_tensor(data.y, dtype=torch.long)
    batches = [(x[i:i + 100], y[i:i + 100]) for i in range(0, len(y) - 99, 100)]
    print(f"{'method':<20} {'fwd+bwd us':>11} {'step in loop us':>16} {'step alone us':>14}")
    for method in args.methods or list(METHODS):
        fb, in_loop, alone = profile(method, batches, args.steps)
        print(f"{method:<20} {fb:11.1f} {in_loop:16.1f} {alone:14.1f}", flush=True)


if __name__ == "__main__":
    main()

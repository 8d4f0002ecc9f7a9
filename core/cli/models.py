"""``python -m core models``: the MNIST-1D paper's model table, re-measured.

    python -m core models --seeds 5 --threads 1 --markdown results/models.md \\
        --json results/models.json

Every model of the registry that states a reported accuracy (the paper's four by default),
trained by the paper's protocol (core/training/model_table.py), seeds 0..K-1.
"""

import json
import shlex
import sys
import time

from ..models import MODELS
from .outputs import check_output_path, write_atomic


def _run_models(parser, args) -> int:
    import torch

    from ..training.model_table import PAPER_EPOCHS, environment, markdown, measure
    from ..training.train import resolve_device
    models = args.models or [k for k, s in MODELS.items() if s.reported_accuracy is not None]
    if not 1 <= args.seeds <= 20:
        parser.error(f"--seeds must be in [1, 20], got {args.seeds}")
    if not 1 <= args.epochs <= 10_000:
        parser.error(f"--epochs must be in [1, 10000], got {args.epochs}")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        resolve_device(args.device)
        for path in filter(None, (args.json, args.markdown)):
            check_output_path(path)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    rows = measure(models, seeds, epochs=args.epochs, device=args.device,
                   say=lambda line: print(line, flush=True))
    wall = time.perf_counter() - start
    env = environment(args.threads)
    command = "python -m core models " + shlex.join(sys.argv[2:] if args.argv is None
                                                    else args.argv)
    record = {"protocol": {"optimizer": "adam", "lr": 1e-2, "batch_size": 100,
                           "epochs": args.epochs, "paper_epochs": PAPER_EPOCHS,
                           "split": "writeup (validation = test set)", "seeds": seeds},
              "environment": env, "wall_s": round(wall, 1), "command": command,
              "models": [r.to_dict() for r in rows]}
    if args.json:
        write_atomic(args.json, json.dumps(record, indent=1) + "\n")
    text = markdown(rows, seeds=seeds, epochs=args.epochs, env=env, wall_s=wall,
                    command=command)
    if args.markdown:
        write_atomic(args.markdown, text)
    print(text)
    return 0


def register(subparsers) -> None:
    from ..training.model_table import PAPER_EPOCHS
    p = subparsers.add_parser("models", help="the MNIST-1D paper's models under its protocol, "
                                             "over seeds, next to the paper's accuracies")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                   help="which models (default: every one with a reported accuracy)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (default 5)")
    p.add_argument("--epochs", type=int, default=PAPER_EPOCHS,
                   help=f"epochs (default {PAPER_EPOCHS}: the paper's 8000 steps of 100)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--json", metavar="PATH", help="write the record as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the record as Markdown")
    p.set_defaults(handler=_run_models, parser=p, argv=None)

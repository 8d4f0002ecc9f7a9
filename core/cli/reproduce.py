"""``python -m core reproduce NAME|all [--seeds K] [--quick] [--json out.json]``."""

import json
import shlex
import sys
import time

from ..experiments import FULL, PROTOCOLS, QUICK, planned_events, reproduce
from ..experiments.run import measured_epochs
from ..experiments.report import markdown, text_table
from .outputs import check_output_path, write_atomic

QUICK_BANNER = ("QUICK RUN: trials and epochs are shrunk (at most {t} trials x {e} epochs, final "
                "training at most {f} epochs); this checks the pipeline, it is not evidence.")


def _say(text: str = "") -> None:
    print(text, flush=True)


def _progress(ev, done: int, total: int, start: float, last_epoch: int) -> None:
    if ev.kind == "stage":
        _say(f"== {ev.message}")
    elif ev.kind == "trial":
        t = ev.trial
        params = ", ".join(f"{k}={v:.4g}" for k, v in t.params.items())
        value = f"{t.value:.4f}" if t.value is not None else f"{t.state} ({t.reason})"
        _say(f"   {ev.side:8s} trial {t.number:3d}  {value}  {params}")
    elif ev.kind == "epoch":
        m = ev.epoch
        # Honest epochs all report the test set (early stopping reads it at the epoch it picks);
        # the log shows it after the last epoch only, as before.
        last = m.epoch == last_epoch
        if m.epoch == 1 or m.epoch % 10 == 0 or m.diverged or last:
            extra = f"  test {m.test_loss:.4f}" if last and m.test_loss is not None else ""
            # Seeds trained together interleave their epochs: each line names its seed.
            who = f"seed {ev.stage - 1} " if ev.stage else ""
            _say(f"   {ev.side:8s} {who}epoch {m.epoch:3d}  train {m.train_loss:.4f}  "
                 f"val {m.val_loss:.4f}{extra}")
    elif ev.kind == "side":
        measured = ", ".join(f"{k} {v:.4g}" for k, v in ev.run.measured.items())
        pace = (time.perf_counter() - start) / max(done, 1)
        who = f"seed {ev.stage - 1} " if ev.stage else ""
        _say(f"   {ev.side:8s} {who}measured: {measured}   [{done}/{total} steps, about "
             f"{pace * (total - done) / 60:.1f} min left]")


def _run(parser, args) -> int:
    import torch
    names = list(PROTOCOLS) if args.name == "all" else [args.name]
    scale = QUICK if args.quick else FULL
    if args.seeds < 1 or args.seeds > 100:
        parser.error("--seeds must be between 1 and 100")
    for path in (args.json, args.markdown):   # before the run, not after it
        if path:
            try:
                check_output_path(path)
            except ValueError as error:
                parser.error(str(error))
    torch.set_num_threads(args.threads)
    banner = QUICK_BANNER.format(t=scale.max_trials, e=scale.max_search_epochs,
                                 f=scale.max_final_epochs) if not scale.is_full else ""
    if banner:
        _say(f"# {banner}")
    command = "python -m core " + shlex.join(sys.argv[1:] if args.argv is None else args.argv)
    start = time.perf_counter()
    results = []
    total = sum(planned_events(PROTOCOLS[n], args.seeds, scale) for n in names)
    done = 0
    for name in names:
        last_epoch = measured_epochs(scale.apply(PROTOCOLS[name]))
        heading = ""
        for ev in reproduce(name, seeds=args.seeds, scale=scale, device=args.device):
            done += 1
            if ev.kind == "epoch" and ev.label != heading:
                _say(f"== {ev.key}: {ev.label}")     # seeds trained together start
            if ev.kind in ("stage", "epoch"):
                heading = ev.label
            _progress(ev, done, total, start, last_epoch)
            if ev.kind == "result":
                results.append(ev.result)
                _say()
                _say(text_table(ev.result))
                _say(f"-> {ev.result.headline()}")
                _say(f"   {ev.result.as_written_note}")
                _say()
    wall = time.perf_counter() - start
    _say(f"# {len(results)} reproduction(s) in {wall / 60:.1f} min")
    for r in results:
        _say(f"#   {r.protocol.writeup} {r.key}: {r.verdict}")
    if banner:
        _say(f"# {banner}")
    record = {"command": command, "scale": scale.name, "quick": not scale.is_full,
              "seeds": args.seeds, "date": time.strftime("%Y-%m-%d %H:%M"),
              "wall_s": round(wall, 1),
              "experiments": [r.to_dict(curves=args.curves) for r in results]}
    if args.json:
        write_atomic(args.json, json.dumps(record, indent=1) + "\n")
        _say(f"# wrote {args.json}")
    if args.markdown:
        write_atomic(args.markdown, markdown(record["experiments"], command, wall,
                                             record["date"]))
        _say(f"# wrote {args.markdown}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="re-run a write-up as written, then over honest seeds, with a verdict",
        description="Run a write-up's protocol exactly as written (seed 0, write-up split), then "
                    "over K seeds on the honest split, and judge its conclusion.")
    p.add_argument("name", choices=[*PROTOCOLS, "all"], help="the write-up to reproduce, or all")
    p.add_argument("--seeds", type=int, default=5, help="honest seeds (default 5)")
    p.add_argument("--quick", action="store_true",
                   help="shrink trials and epochs (under a minute each); not evidence")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the results as a Markdown record")
    p.add_argument("--curves", action="store_true", help="include every curve in the JSON")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for this small MLP)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(handler=_run, parser=p, argv=None)

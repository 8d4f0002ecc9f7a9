"""``python -m core reproduce NAME|all [--seeds K] [--quick] [--json out.json]``.

Each write-up runs as chosen, then under its variants (``--no-variants`` skips them); a record
of several write-ups adds Holm-adjusted verdicts across their claims, and ``--thread-check``
re-runs one write-up at another thread count to show how far its numbers move.
"""

import json
import shlex
import sys
import time
from dataclasses import replace

from ..experiments import (FULL, PROTOCOLS, QUICK, holm_adjusted, overall, planned_events,
                           planned_events_all, reproduce, reproduce_all_settings)
from ..experiments.constraints import constraints_path, constraints_text, differences
from ..experiments.run import measured_epochs
from ..experiments.report import markdown, text_table
from ..models import MODELS, get_model
from .outputs import check_output_path, write_atomic

QUICK_BANNER = ("QUICK RUN: trials and epochs are shrunk (at most {t} trials x {e} epochs, final "
                "training at most {f} epochs); this checks the pipeline, it is not evidence.")


def _say(text: str = "") -> None:
    print(text, flush=True)


def _progress(ev, done: int, total: int, start: float, last_epoch: int) -> None:
    if ev.kind == "stage":
        _say(f"== {ev.message}")
    elif ev.kind == "sweep" and ev.message.endswith(" epoch 1"):
        _say(f"== {ev.key}: {ev.label}")
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
    if args.seeds is not None and not 1 <= args.seeds <= 100:
        parser.error("--seeds must be between 1 and 100")
    for path in (args.json, args.markdown):   # before the run, not after it
        if path:
            try:
                check_output_path(path)
            except ValueError as error:
                parser.error(str(error))
    if args.thread_check not in (None, "none") and args.thread_check not in names:
        parser.error(f"--thread-check must name a write-up being reproduced ({', '.join(names)})"
                     " or none")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        protocols = {n: on_model(PROTOCOLS[n], args.model) for n in names}
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    for line in differences():
        _say(f"# WARNING: {line}: numbers may differ from results/reproduction.* in the last "
             "bits, enough for a search to pick other values")
    banner = QUICK_BANNER.format(t=scale.max_trials, e=scale.max_search_epochs,
                                 f=scale.max_final_epochs) if not scale.is_full else ""
    if banner:
        _say(f"# {banner}")
    command = "python -m core " + shlex.join(sys.argv[1:] if args.argv is None else args.argv)
    start = time.perf_counter()
    results = []
    check = _thread_check_name(args, names)
    total = sum(planned_events_all(protocols[n], args.seeds, scale, not args.no_variants,
                                   not args.no_sensitivity) for n in names)
    total += planned_events(protocols[check], args.seeds, scale) if check else 0
    done = 0
    for name in names:
        last_epoch = measured_epochs(scale.apply(protocols[name]))
        heading = ""
        for ev in reproduce_all_settings(protocols[name], seeds=args.seeds, scale=scale,
                                         device=args.device,
                                         variants=not args.no_variants,
                                         sensitivity=not args.no_sensitivity):
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
                for line in (*ev.result.robustness, *ev.result.notes):
                    _say(f"   {line}")
                _say()
    thread_check = None
    if check:
        thread_check = run_thread_check(check, results, args, scale, protocols[check])
        done += planned_events(protocols[check], args.seeds, scale)
    wall = time.perf_counter() - start
    results = adjust_record(results)
    holm_rows = holm_table(results)
    _say(f"# {len(results)} reproduction(s) in {wall / 60:.1f} min")
    for r in results:
        _say(f"#   {r.protocol.writeup} {r.key}: {r.headline_verdict} (Holm over {r.family}; "
             f"unadjusted: {r.verdict})")
    for row in holm_rows:
        _say(f"#   {row['writeup']} {row['claim']}: {row['raw']} -> Holm: {row['holm']}")
    if thread_check:
        _say(f"# thread check: {thread_check['summary']}")
    if banner:
        _say(f"# {banner}")
    record = {"command": command, "scale": scale.name, "quick": not scale.is_full,
              "seeds": args.seeds, "date": time.strftime("%Y-%m-%d %H:%M"),
              "wall_s": round(wall, 1), "threads": args.threads,
              "experiments": [r.to_dict(curves=args.curves) for r in results],
              "holm": holm_rows, "thread_check": thread_check,
              "family": family_name(results) if results else "",
              "constraints": str(constraints_path(args.json)) if args.json else ""}
    if args.json:
        write_atomic(args.json, json.dumps(record, indent=1) + "\n")
        _say(f"# wrote {args.json}")
        write_atomic(str(constraints_path(args.json)), constraints_text())
        _say(f"# wrote {constraints_path(args.json)}")
    if args.markdown:
        write_atomic(args.markdown, markdown(record["experiments"], command, wall,
                                             record["date"], holm=holm_rows,
                                             thread_check=thread_check,
                                             constraints=record["constraints"]))
        _say(f"# wrote {args.markdown}")
    return 0


def on_model(protocol, model: str | None):
    """``protocol`` on ``model`` (None: as written), named as the variant it then is."""
    if model is None:
        return protocol
    spec = get_model(model)
    return protocol.on_model(spec.key, f"on {spec.display_name} (`{spec.key}`)")


def _thread_check_name(args, names: list[str]) -> str | None:
    if args.thread_check == "none":
        return None
    if args.thread_check is None:
        return "gnw_adam" if args.name == "all" else None
    return args.thread_check


def family_name(results, variants: bool = False) -> str:
    n = sum(len(r.outcomes) for r in results)
    if variants:
        return f"the record's {n} variant claims"
    if len(results) == 1:
        return f"its own {n} claim(s) only (run alone)"
    return f"all {n} claims of the record's {len(results)} write-ups"


def adjust_record(results) -> list:
    """Each result with its claims Holm-adjusted across the whole record's claims (the
    headline's family), and each variant across all the record's variant claims (their own
    stated family). A write-up run alone keeps the adjustment over its own claims."""
    if len(results) > 1:
        family = family_name(results)
        outcomes = [o for r in results for o in r.outcomes]
        adjusted = holm_adjusted(outcomes, [r.protocol.margin(o.claim.quantity)
                                            for r in results for o in r.outcomes])
        out, i = [], 0
        for r in results:
            mine = tuple(adjusted[i:i + len(r.outcomes)])
            i += len(r.outcomes)
            out.append(replace(r, adjusted=mine, adjusted_verdict=overall(list(mine))[0],
                               family=family))
        results = out
    variants = [v for r in results for v in r.variants]
    if variants:
        family = family_name(variants, variants=True)
        outcomes = [o for v in variants for o in v.outcomes]
        adjusted = holm_adjusted(outcomes, [v.protocol.margin(o.claim.quantity)
                                            for v in variants for o in v.outcomes])
        i, out = 0, []
        for r in results:
            new_variants = []
            for v in r.variants:
                mine = tuple(adjusted[i:i + len(v.outcomes)])
                i += len(v.outcomes)
                new_variants.append(replace(v, adjusted=mine,
                                            adjusted_verdict=overall(list(mine))[0],
                                            family=family))
            out.append(replace(r, variants=tuple(new_variants)))
        results = out
    return results


def holm_table(results) -> list[dict]:
    """Every claim of the record: its raw verdict and the headline's Holm-adjusted one (over
    the family each result states)."""
    rows = []
    for r in results:
        for o, a in zip(r.outcomes, r.adjusted or r.outcomes):
            rows.append({"writeup": r.protocol.writeup, "key": r.key, "claim": o.claim.text,
                         "raw": o.text, "holm": a.text, "family": r.family,
                         "p": None if o.judged is None else o.judged.p,
                         "p_holm": None if a.judged is None else a.judged.p})
    return rows


def run_thread_check(name: str, results, args, scale, protocol=None) -> dict:
    """Re-run ``name`` at one more thread and compare with the record's run: how far the
    honest measured numbers move, whether any search picked other values, the verdict."""
    import torch
    first = next(r for r in results if r.key == name)
    threads = args.threads + 1
    torch.set_num_threads(threads)
    try:
        _say(f"== thread check: {name} again at {threads} threads")
        again = None
        for ev in reproduce(protocol or name, seeds=args.seeds, scale=scale,
                            device=args.device):
            if ev.kind == "stage":
                _say(f"   {ev.message}")
            elif ev.kind == "result":
                again = ev.result
    finally:
        torch.set_num_threads(args.threads)
    moved, picks = 0.0, 0
    for a, b in zip(first.repeats, again.repeats):
        for side in a:
            picks += dict(a[side].params) != dict(b[side].params)
            for q, v in a[side].measured.items():
                w = b[side].measured.get(q)
                if isinstance(v, float) and isinstance(w, float) and v == v and w == w:
                    moved = max(moved, abs(v - w))
    summary = (f"{name} at {args.threads} vs {threads} threads: largest change of a measured "
               f"honest number {moved:.3g}; {picks} of {2 * len(first.repeats)} searches picked "
               f"other values; verdict {first.verdict} vs {again.verdict}")
    return {"key": name, "threads": [args.threads, threads], "max_abs_change": moved,
            "changed_picks": picks, "verdicts": [first.verdict, again.verdict],
            "summary": summary}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="re-run a write-up as written, then over honest seeds, with a verdict",
        description="Run a write-up's protocol exactly as written (seed 0, write-up split), then "
                    "over K seeds on the honest split, and judge its conclusion.")
    p.add_argument("name", choices=[*PROTOCOLS, "all"], help="the write-up to reproduce, or all")
    p.add_argument("--seeds", type=int, default=None,
                   help="honest seeds (default: each protocol's own, 5; 20 for 002)")
    p.add_argument("--no-variants", action="store_true",
                   help="skip the re-runs under the settings the write-ups left open")
    p.add_argument("--no-sensitivity", action="store_true",
                   help="skip the lr-sensitivity curves (both sides, 5 seeds, 5 lrs)")
    p.add_argument("--thread-check", metavar="NAME", default=None,
                   help="re-run this write-up (no variants) at --threads + 1 threads and report "
                        "how far its numbers move (default for 'all': gnw_adam; 'none' skips)")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="run the protocol on this model of the registry, at its default shape "
                        f"({', '.join(MODELS)}; default: the write-up's own MLP). Its margins "
                        "were set on the write-up's model, so it has none; the variants that "
                        "set a knob the model lacks, or change the model, are left out")
    p.add_argument("--quick", action="store_true",
                   help="shrink trials and epochs (under a minute each); not evidence")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the results as a Markdown record")
    p.add_argument("--curves", action="store_true", help="include every curve in the JSON")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for this small MLP)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(handler=_run, parser=p, argv=None)

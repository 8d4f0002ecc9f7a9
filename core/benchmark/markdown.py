"""A benchmark record as markdown: the protocol, the environment, per-workload tables with every
verdict, the win/tie/loss counts and the performance profile."""

from __future__ import annotations

import math

from ..search.outcomes import params_text
from .results import PROFILE_MEASURE, summarize


def _f(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _ci(row: dict, metric: str) -> str:
    mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "low", "high"))
    if mean is None:
        return "-"
    if row["failed"]:     # every seed took the worst value: an interval of it would mislead
        return f"failed (counted as the worst, {mean:.4f})"
    if low is None:
        return f"{mean:.4f}"
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def to_markdown(record) -> str:
    s = summarize(record)
    c = record.config
    p = record.protocol()
    env = record.environment
    lines = [f"# Benchmark `{record.name}`", "",
             f"{len(c.methods)} methods x {len(c.workloads)} workloads; {c.trials} trials per "
             f"cell ({p['sampler']}, tuning seed {c.seed}), then the best configuration "
             f"retrained on {c.seeds} fresh seeds {p['seeds']}, paired across methods. "
             f"Split: {p['split']} (the test set is read at the epoch of best validation "
             f"loss). This run took {record.wall_s:.0f} s, started {record.started or '-'} (a "
             "resumed run's cells found done keep their own times in the tables).", "",
             f"Environment: Python {env.get('python', '-')}, torch {env.get('torch', '-')}, "
             f"Optuna {env.get('optuna', '-')}, {env.get('platform', '-')}, "
             f"{env.get('threads', '-')} thread(s), device {env.get('device', '-')}.", "",
             f"Verdicts: each method against **{c.baseline}** on test accuracy (margin "
             f"+-{c.margin('test_acc'):g}) and test loss (margin +-{c.margin('test_loss'):g}), "
             f"paired t-test at alpha {p['alpha']} with Holm across all {s.family} tests of the "
             "table. A tie is \"equivalent\" or \"not detected\", never a win.", "",
             f"Divergence: {p['divergence_rule']}", "", f"Target: {p['target_rule']}", ""]
    for w in c.workloads:
        target = s.targets.get(w.key)
        lines += [f"## {w.label}: {w.epochs} epochs, batch {w.batch_size}, schedule "
                  f"{w.schedule} (`{w.key}`)", "",
                  f"Target validation accuracy: {_f(target)} (from {c.reference}).", "",
                  "| rank | method | test acc [95%] | test loss [95%] | vs baseline (acc) | "
                  "vs baseline (loss) | epochs to target | wall s | grads/step | HVPs/step | "
                  "best config |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in s.table if r["workload"] == w.key):
            name = r["method_label"] + (" (baseline)" if r["baseline"] else "")
            if r["diverged"]:
                name += f" **diverged on {r['diverged']} of {r['seeds']} seeds**"
            ttt = ("-" if r["epochs_to_target"] is None else f"{r['epochs_to_target']:g}") + \
                f" ({r['reached_target']}/{r['seeds']} reached)"
            params = params_text(r["best_params"], ", ") if r["best_params"] else "none completed"
            lines.append(
                f"| {r['rank']} | {name} | {_ci(r, 'test_acc')} | {_ci(r, 'test_loss')} | "
                f"{r['test_acc_verdict'] or '-'} | {r['test_loss_verdict'] or '-'} | {ttt} | "
                f"{r['wall_s']:.0f} | {r['grads_per_step']:g} | {r['hvps_per_step']:.3g} | "
                f"{params} |")
        lines.append("")
    lines += ["## Across workloads", "", "Against the baseline, on test accuracy:", "",
              "| method | wins | ties | of which equivalent | of which not detected | losses |",
              "|---|---|---|---|---|---|"]
    for r in s.counts:
        lines.append(f"| {r['method_label']} | {r['wins']} | {r['ties']} | {r['equivalent']} | "
                     f"{r['not_detected']} | {r['losses']} |")
    taus = sorted({r["tau"] for r in s.profile})
    lines += ["", f"Performance profile (Dolan-More) on {PROFILE_MEASURE}: the fraction of "
              "workloads on which a method is within a factor tau of the best.", "",
              "| method | " + " | ".join(f"tau={t:g}" for t in taus) + " |",
              "|---|" + "---|" * len(taus)]
    for m in c.methods:
        fr = {r["tau"]: r["fraction"] for r in s.profile if r["method"] == m.key}
        lines.append(f"| {m.label} | " + " | ".join(f"{fr[t]:.2f}" for t in taus) + " |")
    return "\n".join(lines) + "\n"

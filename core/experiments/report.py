"""A Markdown record of reproductions (``results/reproduction.md``) and a plain-text table."""

import datetime as _dt
import json
from pathlib import Path
from typing import Mapping, Sequence

from .protocols import QUANTITIES, get_protocol
from .result import ExperimentResult


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-2 and x != 0 else f"{x:.{digits}f}"
    return str(x)


def text_table(result: ExperimentResult) -> str:
    """Reported vs measured, aligned for a terminal."""
    rows = result.rows()
    head = ["quantity", "side", "reported", "as written", "honest mean [95% CI]", "verdict"]
    body = []
    for r in rows:
        ci = (f"{_fmt(r['honest mean'])} [{_fmt(r['95% CI low'])}, {_fmt(r['95% CI high'])}]"
              if r["honest mean"] is not None else "-")
        body.append([r["quantity"], r["side"], _fmt(r["reported"]), _fmt(r["as written"]), ci,
                     r["verdict"]])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _claim_lines(e: Mapping) -> list[str]:
    return [f"- *{c['text']}*: **{c.get('verdict', c['outcome'])}**"
            + (f" (p = {c['p']:.3g}; 80% power to detect >= {_fmt(c['detectable'])})"
               if c.get("p") is not None else "") for c in e["claims"]]


def _variants_section(e: Mapping) -> list[str]:
    if not e.get("variants") and not e.get("robustness"):
        return []
    out = ["", "*Settings the write-up did not state, and the claims under other choices.* "
           + "; ".join(r["value"] for r in e.get("protocol", [])
                       if r["what"] == "Unstated") + ".", ""]
    if e.get("variants"):
        out += ["| variant | claim | verdict | paired difference [95% CI] | seeds |",
                "|---|---|---|---|---|"]
        for v in e["variants"]:
            for c in v["claims"]:
                d = (v["paired"].get(c["quantity"]) or {}).get("difference") or {}
                ci = (f"{_fmt(d.get('mean'))} [{_fmt(d.get('low'))}, {_fmt(d.get('high'))}]"
                      if d else "-")
                out.append(f"| {v['variant']} | {c['text']} | {c.get('verdict', c['outcome'])} "
                           f"| {ci} | {d.get('n', 0)} |")
        out.append("")
    out += [f"- **{line}**" for line in e.get("robustness", [])]
    out += [f"- Note: {n}" for e2 in (e, *e.get("variants", [])) for n in e2.get("notes", [])]
    return out


def _sensitivity_section(e: Mapping) -> list[str]:
    curves = {k: v for k, v in (e.get("sensitivity") or {}).items() if "rows" in v}
    if not curves:
        return []
    first = next(iter(curves.values()))
    out = ["", f"*lr sensitivity* (honest split, {first['epochs']} epochs, seeds "
           f"{first['seeds'][0]}-{first['seeds'][-1]}, which no search, measured run or "
           "calibration uses; test loss at the epoch of minimum validation loss; mean "
           "[95% CI], * the best point, picked on these same seeds and so **optimistic**; a "
           "diverged seed counts at the worst value of the sweep; other knobs as the protocol "
           "holds them, a tuned one at its default):", ""]
    for side, c in curves.items():
        cells = [f"{r['lr']:.3g}: {_fmt(r['mean'])} [{_fmt(r['low'])}, {_fmt(r['high'])}]"
                 + ("*" if r["best"] else "") + (f" (diverged on {r['diverged']} of "
                                                   f"{r['seeds']} seeds)" if r["diverged"] else "")
                 for r in c["rows"]]
        out.append(f"- {side} ({c['method']}): " + "; ".join(cells))
        conf = c.get("confirmation")
        if conf:
            s, f = conf["sweep"] or {}, conf["fresh"] or {}
            where = ("inside" if conf["inside"] else "outside") if conf["inside"] is not None \
                else "no interval to compare with"
            out.append(f"  - best lr {conf['lr']:.3g}: {_fmt(s.get('mean'))} [{_fmt(s.get('low'))}, "
                       f"{_fmt(s.get('high'))}] on the sweep's seeds (optimistic); "
                       f"**{_fmt(f.get('mean'))} [{_fmt(f.get('low'))}, {_fmt(f.get('high'))}] on "
                       f"fresh seeds {conf['seeds'][0]}-{conf['seeds'][-1]}** ({where} the "
                       "sweep's interval)"
                       + (f"; diverged on {conf['diverged']} of {len(conf['seeds'])} seeds"
                          if conf["diverged"] else ""))
        else:
            out.append("  - best point: not confirmed (no point without a diverged seed)")
        out += [f"  - {w}" for w in c.get("warnings", [])]
    minima = (e.get("sensitivity") or {}).get("minima")
    if minima:
        out.append(f"- The two sides' best points, method - Adam, paired on the confirmation "
                   f"seeds: **{minima['verdict']}**"
                   + (f" ({minima['reason']})" if minima.get("reason") else ""))
    return out


def _holm_section(holm: Sequence[Mapping]) -> list[str]:
    if not holm:
        return []
    out = ["", f"## Holm-adjusted verdicts ({len(holm)} claims)", "",
           "Each claim tested at 5% alone, and again with Holm's adjustment across all the claims "
           "of this record (family-wise error 5%; the variants are not in the family).", "",
           "| write-up | claim | verdict | p | Holm-adjusted verdict | Holm p |",
           "|---|---|---|---|---|---|"]
    out += [f"| {h['writeup']} | {h['claim']} | {h['raw']} | {_fmt(h['p'])} | {h['holm']} | "
            f"{_fmt(h['p_holm'])} |" for h in holm]
    return out


def markdown(experiments: Sequence[Mapping], command: str, wall_s: float,
             date: str | None = None, holm: Sequence[Mapping] = (),
             thread_check: Mapping | None = None) -> str:
    """The record, from ``ExperimentResult.to_dict()`` dicts (so it can be rebuilt from JSON)."""
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    env = experiments[0]["environment"] if experiments else {}
    quick = any(e["quick"] for e in experiments)
    out = ["# Reproducing the five write-ups", ""]
    if quick:
        out += ["> **QUICK RUN.** Trials and epochs were shrunk (see each protocol's settings); "
                "these numbers check that the pipeline works and are not evidence about the "
                "write-ups.", ""]
    out += [f"- Command: `{command}`", f"- Date: {date}",
            "- Versions: " + ", ".join(f"{k} {v}" for k, v in env.items()),
            f"- Run time: {wall_s / 60:.1f} min in all "
            + "(" + ", ".join(f"{e['key']} {e['duration_s'] / 60:.1f} min"
                              for e in experiments) + ")",
            "",
            "Each write-up is run twice over: once **as written** (seed 0; the write-up's split, "
            "where the validation set is the test set) and then over **honest seeds** (the same "
            "protocol, tuning and early stopping on 800 samples carved from the training set; "
            "honest seed i searches on seed i and its chosen values are trained on the fresh "
            "seed 1000+i, which the search never saw; losses and accuracies read on the "
            "untouched test set). Each claim is judged by the paired difference *method - Adam* "
            "over the honest seeds: **reproduced** (a two-sided paired t-test at 5% agrees with "
            "the claim), **reversed** (it shows the opposite), **equivalent within +-m** (two "
            "one-sided tests with the protocol's margin m, fixed before the run) or **not "
            "detected (could detect >= X)**, where X is the smallest true difference these "
            "seeds would detect with 80% power given the spread they showed (exact, noncentral "
            "t). Then each claim is re-run under settings the write-up left open.", "",
            "| write-up | verdict | as written (1 seed) |", "|---|---|---|"]
    for e in experiments:
        out.append(f"| {e['writeup']} {e['title']} | **{e['verdict']}** | "
                   f"{e['as_written_note'].removeprefix('as written (1 seed): ')} |")
    for e in experiments:
        p = get_protocol(e["key"])
        s = e["settings"]
        out += ["", f"## {p.writeup} - {p.title} (`{p.key}`)", "",
                f"*Hypothesis.* {p.hypothesis}", "",
                f"*Write-up's conclusion.* {p.conclusion}", "",
                "*Protocol run.* "
                + (f"{s['search_trials']} trials x {s['search_epochs']} epochs per side"
                   if s["search_trials"] else "no search")
                + (f", final training {s['final_epochs']} epochs" if s["final_epochs"]
                   else ", no final training")
                + f"; {len(e['seeds'])} honest seeds; {e['duration_s'] / 60:.1f} min. "
                "Choices where the write-up is silent: " + "; ".join(p.choices) + ".", "",
                "| quantity | side | reported | as written | honest measure | honest mean "
                "[95% CI] | verdict |", "|---|---|---|---|---|---|---|"]
        for row in e["table"]:
            ci = (f"{_fmt(row['honest mean'])} [{_fmt(row['95% CI low'])}, "
                  f"{_fmt(row['95% CI high'])}]" if row["honest mean"] is not None else "-")
            out.append(f"| {row['quantity']} | {row['side']} | {_fmt(row['reported'])} | "
                       f"{_fmt(row['as written'])} | {row['honest measure']} | {ci} | "
                       f"{row['verdict']} |")
        out += ["", f"**Verdict: {e['verdict']}.**", *_claim_lines(e)]
        out += _variants_section(e)
        out += _sensitivity_section(e)
    out += _holm_section(holm)
    if thread_check:
        out += ["", "## Thread count", "", f"{thread_check['summary']}. Runs are bit for bit "
                "repeatable on one machine, torch build and thread count only; this is a cheap "
                "stand-in for another machine."]
    out += ["", "Quantities: " + "; ".join(f"*{a}* (honest: {b})"
                                           for a, b in QUANTITIES.values()) + "."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    """``python -m core.experiments.report RECORD.json OUT.md``: rebuild the record's Markdown."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(main.__doc__)
        return 2
    record = json.loads(Path(args[0]).read_text())
    Path(args[1]).write_text(markdown(record["experiments"], record["command"],
                                      record["wall_s"], record["date"],
                                      record.get("holm", ()), record.get("thread_check")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

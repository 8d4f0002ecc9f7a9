"""A Markdown record of reproductions (``results/reproduction.md``) and a plain-text table.

The record is built from ``ExperimentResult.to_dict()`` dicts, so ``python -m
core.experiments.report RECORD.json OUT.md`` rebuilds it from its JSON. Its headline is the
Holm-adjusted verdict over a stated family, the unadjusted one beside it; every verdict names
the metric it rests on, what that measures, the accuracy beside it with its own verdict, and
how many seeds diverged.
"""

import datetime as _dt
import json
from pathlib import Path
from typing import Mapping, Sequence

from ..stats import DIVERGENCE_RULE
from .pinned_margins import CALIBRATION_SEEDS, HISTORY, RATIONALE, SET_BY
from .protocols import ACCURACY_OF, QUANTITIES, get_protocol
from .result import ExperimentResult
from .writeup_gaps import GAPS


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


def _diverged(pair) -> str:
    """"diverged on k of n seeds" from a [method, baseline] count and n."""
    if not pair:
        return ""
    (m, b), n = pair
    parts = [f"method diverged on {m} of {n} seeds" if m else "",
             f"Adam diverged on {b} of {n} seeds" if b else ""]
    return "; ".join(p for p in parts if p)


def _accuracy_beside(e: Mapping, quantity: str) -> str:
    acc = ACCURACY_OF.get(quantity)
    pc = (e.get("paired") or {}).get(acc) if acc else None
    if not pc:
        return "none (no accuracy is recorded on the training set)" if acc is None else "-"
    d = pc["difference"]
    div = _diverged((pc.get("diverged"), d["n"])) if pc.get("diverged") else ""
    return (f"{QUANTITIES[acc][1]}: {_fmt(d['mean'])} [{_fmt(d['low'])}, {_fmt(d['high'])}], "
            f"{pc['verdict']}" + (f"; {div}" if div else ""))


def _claim_lines(e: Mapping) -> list[str]:
    out = []
    for c in e["claims"]:
        head = c.get("adjusted_verdict", c["verdict"])
        p = f"Holm p = {_fmt(c.get('p_adjusted'))}; " if c.get("p_adjusted") is not None else ""
        raw = f"unadjusted: {c['verdict']}" + (f", p = {c['p']:.3g}" if c.get("p") is not None
                                                 else "")
        div = _diverged((c.get("diverged"), c.get("seeds", 0)))
        margin = f"margin +-{c['margin']:.2g}" if c.get("margin") is not None else "no margin"
        out.append(f"- *{c['text']}* (rests on **{c.get('measures', c['quantity'])}**; {margin}): "
                   f"**{head}** ({p}{raw})" + (f"; {div}" if div else "")
                   + f". Accuracy beside it: {_accuracy_beside(e, c['quantity'])}.")
    return out


def _as_written_gap(e: Mapping) -> list[str]:
    """How far the lab's as-written numbers sit from the write-up's own, side by side."""
    rows = [r for r in e["table"] if r["reported"] is not None and r["as written"] is not None
            and "paired" not in r["side"] and r["quantity"] not in ("best learning rate",
                                                                     "best beta")]
    if not rows:
        return ["", "*As written against the write-up's own numbers.* The write-up reports no "
                "loss to set beside the lab's."]
    cells = [f"{r['side']} {r['quantity']}: {_fmt(r['as written'])} here vs "
             f"{_fmt(r['reported'])} reported ({r['as written'] - r['reported']:+.4f})"
             for r in rows]
    out = ["", "*As written against the write-up's own numbers.* " + "; ".join(cells) + "."]
    gap = GAPS.get(e["writeup"])
    if gap:
        out[-1] += " " + gap
    return out


def _variants_section(e: Mapping) -> list[str]:
    if not e.get("variants") and not e.get("robustness"):
        return []
    out = ["", "*Settings the write-up did not state, and the claims under other choices.* "
           + "; ".join(r["value"] for r in e.get("protocol", [])
                       if r["what"] == "Unstated") + ".", ""]
    if e.get("variants"):
        family = e["variants"][0].get("family", "")
        out += [f"| variant | claim | verdict (Holm over {family or 'its own claims'}) | "
                "unadjusted | paired difference [95% CI] | seeds |",
                "|---|---|---|---|---|---|"]
        for v in e["variants"]:
            for c in v["claims"]:
                d = (v["paired"].get(c["quantity"]) or {}).get("difference") or {}
                ci = (f"{_fmt(d.get('mean'))} [{_fmt(d.get('low'))}, {_fmt(d.get('high'))}]"
                      if d else "-")
                out.append(f"| {v['variant']} | {c['text']} | "
                           f"{c.get('adjusted_verdict', c['verdict'])} | {c['verdict']} "
                           f"| {ci} | {d.get('n', 0)} |")
        out.append("")
    out += [f"- **{line}** (unadjusted verdicts)" for line in e.get("robustness", [])]
    out += [f"- Note ({'as chosen' if run is e else 'variant ' + run['variant']}): {n}"
            for run in (e, *e.get("variants", [])) for n in run.get("notes", [])]
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
            out.append(f"  - best lr {conf['lr']:.3g}: {_fmt(s.get('mean'))} [{_fmt(s.get('low'))}"
                       f", {_fmt(s.get('high'))}] on the sweep's seeds (optimistic); "
                       f"**{_fmt(f.get('mean'))} [{_fmt(f.get('low'))}, {_fmt(f.get('high'))}] "
                       f"on fresh seeds {conf['seeds'][0]}-{conf['seeds'][-1]}** ({where} the "
                       "sweep's interval)"
                       + (f"; diverged on {conf['diverged']} of {len(conf['seeds'])} seeds"
                          if conf["diverged"] else ""))
        else:
            out.append("  - best point: not confirmed (no point without a diverged seed)")
        out += [f"  - {w}" for w in c.get("warnings", [])]
    minima = (e.get("sensitivity") or {}).get("minima")
    if minima:
        out.append("- The two sides' best points, method - Adam, paired on the confirmation "
                   f"seeds: **{minima['verdict']}**"
                   + (f" ({minima['reason']})" if minima.get("reason") else "")
                   + ". This is the only test of the minima: the curves' own minima are "
                   "optimistic and are not compared.")
    return out


def _holm_section(holm: Sequence[Mapping], experiments: Sequence[Mapping]) -> list[str]:
    if not holm:
        return []
    family = holm[0].get("family") or f"{len(holm)} claims"
    out = ["", "## The headline's family", "",
           f"Holm's adjustment across {family} (family-wise error 5%). A write-up run alone "
           "is adjusted over its own claims only, and says so. The variants form their own "
           "family (their table above).", "",
           "| write-up | claim | Holm-adjusted verdict (headline) | Holm p | unadjusted | p |",
           "|---|---|---|---|---|---|"]
    out += [f"| {h['writeup']} | {h['claim']} | {h['holm']} | {_fmt(h['p_holm'])} | "
            f"{h['raw']} | {_fmt(h['p'])} |" for h in holm]
    return out


def _rules(quick: bool) -> list[str]:
    return [
        "Each write-up is run twice over: once **as written** (seed 0; the write-up's split, "
        "where the validation set is the test set) and then over **honest seeds** (the same "
        "protocol, tuning and early stopping on 800 samples carved from the training set; "
        "honest seed i searches on seed i and its chosen values are trained on the fresh seed "
        "1000+i, which the search never saw; losses and accuracies read on the untouched test "
        "set).", "",
        "**How a claim is judged.** By the paired difference *method - Adam* over the honest "
        "seeds, against the metric's margin m, three ways: **reproduced** / **reversed** (a "
        "two-sided paired t-test at 5% is significant and the difference reaches outside +-m); "
        "**significant but within +-m: negligible** (significant, and two one-sided tests show "
        "it inside +-m: never a strong verdict); **equivalent within +-m** (not significant, "
        "inside +-m); otherwise **not detected (could detect >= X, a point estimate from n "
        "seeds)**, X being the smallest true difference these seeds would detect with 80% "
        "power at the family's adjusted level, given the spread they showed (exact, "
        "noncentral t). Identical runs read \"identical: no difference\"; differences that "
        "vary by less than float32 resolution read \"no seed-to-seed variation, no test "
        "possible\".", "",
        f"**Margins.** Each metric of each write-up has its own: {RATIONALE}; {SET_BY}. "
        f"**{HISTORY}**", "",
        f"**Divergence.** {DIVERGENCE_RULE} Every verdict says on how many seeds a side "
        "diverged.", "",
        "**The headline** is the Holm-adjusted verdict, over the family stated beside it, with "
        "the unadjusted verdict next to it. Each claim is then re-run under settings the "
        "write-up left open (the variants, their own family): where the method behaves like "
        "an lr decay, against Adam with a warm-up + cosine schedule tuned the same way; and on "
        "other models of the lab's registry, tuned by the same protocol at a reduced scale "
        "(stated with each such variant) and without margins, which were set on the "
        "write-up's model, so there no claim can read as equivalent."
        + (" *Quick run: the verdicts below are not evidence.*" if quick else "")]


def markdown(experiments: Sequence[Mapping], command: str, wall_s: float,
             date: str | None = None, holm: Sequence[Mapping] = (),
             thread_check: Mapping | None = None, constraints: str = "") -> str:
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
                              for e in experiments) + ")"]
    if constraints:
        out.append(f"- Made with the versions in `{constraints}`; `python -m core reproduce` "
                   "warns when the installed ones differ")
    out += ["", *_rules(quick), ""]
    family = experiments[0].get("family", "") if experiments else ""
    out += [f"| write-up | headline (Holm over {family or 'each one its own claims'}) | "
            "unadjusted | the claims rest on | accuracy beside the loss | as written (1 seed) |",
            "|---|---|---|---|---|---|"]
    for e in experiments:
        rests = "; ".join(f"{c.get('measures', c['quantity'])}"
                          + (f" ({d})" if (d := _diverged((c.get('diverged'), c.get('seeds', 0))))
                             else "") for c in e["claims"])
        accuracy = "; ".join(dict.fromkeys(_accuracy_beside(e, c["quantity"])
                                           for c in e["claims"]))
        out.append(f"| {e['writeup']} {e['title']} | **{e.get('adjusted_verdict') or e['verdict']}"
                   f"** | {e['verdict']} | {rests} | {accuracy} | "
                   f"{e['as_written_note'].removeprefix('as written (1 seed): ')} |")
    for e in experiments:
        p = get_protocol(e["key"])
        s = e["settings"]
        out += ["", f"## {p.writeup} - {p.title} (`{p.key}`)", "",
                *([f"*Run {e['variant']}*, not on the write-up's model; no margins were "
                   "set on this workload, so no claim can read as equivalent.", ""]
                  if e.get("variant") else []),
                f"*Hypothesis.* {p.hypothesis}", "",
                f"*Write-up's conclusion.* {p.conclusion}", "",
                "*Protocol run.* "
                + (f"{s['search_trials']} trials x {s['search_epochs']} epochs per side"
                   if s["search_trials"] else "no search")
                + (f", final training {s['final_epochs']} epochs" if s["final_epochs"]
                   else ", no final training")
                + f"; {len(e['seeds'])} honest seeds; {e['duration_s'] / 60:.1f} min. "
                "Choices where the write-up is silent: " + "; ".join(p.choices) + ".", "",
                "*Margins* (" + RATIONALE + "): "
                + ", ".join(f"{QUANTITIES[q][1]} +-{m:.2g}"
                            for q, m in (e.get("margins") or {}).items()) + ".", "",
                "| quantity | side | reported | as written | honest measure | honest mean "
                "[95% CI] | verdict |", "|---|---|---|---|---|---|---|"]
        for row in e["table"]:
            ci = (f"{_fmt(row['honest mean'])} [{_fmt(row['95% CI low'])}, "
                  f"{_fmt(row['95% CI high'])}]" if row["honest mean"] is not None else "-")
            out.append(f"| {row['quantity']} | {row['side']} | {_fmt(row['reported'])} | "
                       f"{_fmt(row['as written'])} | {row['honest measure']} | {ci} | "
                       f"{row['verdict']} |")
        head = e.get("adjusted_verdict") or e["verdict"]
        out += ["", f"**Verdict: {head}** (Holm over {e.get('family') or 'its own claims'}; "
                f"unadjusted: {e['verdict']}).", *_claim_lines(e)]
        out += _as_written_gap(e)
        out += _variants_section(e)
        out += _sensitivity_section(e)
    out += _holm_section(holm, experiments)
    if thread_check:
        out += ["", "## Thread count", "", f"{thread_check['summary']}. Runs are bit for bit "
                "repeatable on one machine, torch build and thread count only; this is a cheap "
                "stand-in for another machine."]
    out += ["", "Quantities: " + "; ".join(f"*{a}* (honest: {b})"
                                           for a, b in QUANTITIES.values()) + ".",
            "", f"Calibration seeds {CALIBRATION_SEEDS[0]}-{CALIBRATION_SEEDS[-1]} set the "
            "margins and are used by nothing else."]
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
                                      record.get("holm", ()), record.get("thread_check"),
                                      record.get("constraints", "")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

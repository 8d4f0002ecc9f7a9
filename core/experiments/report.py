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


def markdown(experiments: Sequence[Mapping], command: str, wall_s: float,
             date: str | None = None) -> str:
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
            "protocol, tuning and early stopping on 800 samples carved from the training set, "
            "losses read on the untouched test set). The verdict judges the write-up's own "
            "conclusion by the paired difference *method - Adam* over the honest seeds: "
            "**reproduced** (the 95% interval agrees with the claim), **not reproduced** (it "
            "shows the opposite) or **within noise** (it contains zero).", "",
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
        reason = e["reason"]
        out += ["", f"**Verdict: {e['verdict']}.** {reason[:1].upper()}{reason[1:]}."]
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
                                      record["wall_s"], record["date"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The Search page's confirmations: a search's best retrained on fresh seeds, and a duel's
summary, each with its 95% intervals and the seeds the search never trained on."""

import pandas as pd
import streamlit as st

from core.optim.registry import METHODS
from core.search.duel import ConfirmationRun, DuelSummary, confirmation_intervals
from ui.search_charts import side_name


def seeds_text(seeds) -> str:
    return ", ".join(str(s) for s in seeds)


def confirmations(items: list, confirm_job, search_seed: int) -> None:
    """What a duel's job yielded (its ConfirmationRuns and DuelSummary) and what the page's own
    confirmation job (``confirm_job``, None when none started) has so far."""
    confirm = [i for i in items if isinstance(i, ConfirmationRun)]
    if confirm_job is not None:
        confirm += confirm_job.items()
        if not confirm_job.done():
            st.progress(len(confirm) / max(1, confirm_job.total or 1),
                        text="Confirming the best configuration on fresh seeds")
        elif confirm:
            best_ci, final_ci = confirmation_intervals(confirm)
            if best_ci is None:
                st.warning("Confirmation: a seed diverged, so there is no interval to report.")
            else:
                st.markdown(f"**Confirmation** ({len(confirm)} seeds: "
                            f"{seeds_text([c.seed for c in confirm])}; the search trained on "
                            f"seed {search_seed} only; mean and 95% interval): "
                            f"best val loss {best_ci.mean:.4f} [{best_ci.low:.4f}, "
                            f"{best_ci.high:.4f}], final {final_ci.mean:.4f} "
                            f"[{final_ci.low:.4f}, {final_ci.high:.4f}]")
    if confirm:
        st.dataframe(pd.DataFrame([{"method": side_name(c.side), "seed": c.seed,
                                    "best val loss": "-" if c.best is None else c.best,
                                    "final val loss": "-" if c.final is None else c.final,
                                    "note": c.reason or ""}
                                   for c in confirm]).astype(object), hide_index=True,
                     key="search.confirm_t")
    summary = next((i for i in items if isinstance(i, DuelSummary)), None)
    if summary is not None:
        def ci(i):
            return "-" if i is None else f"{i.mean:.4f} [{i.low:.4f}, {i.high:.4f}]"
        st.markdown(
            f"**Confirmation** ({len(summary.seeds)} fresh seeds "
            f"{seeds_text(summary.seeds)} x {summary.epochs} epochs; the searches trained on "
            f"seed {search_seed} only; mean and 95% interval)  \n"
            f"{METHODS[summary.method.side].display_name}: best {ci(summary.method.best_loss)}, "
            f"final {ci(summary.method.final_loss)}  \n"
            f"{METHODS[summary.baseline.side].display_name}: best "
            f"{ci(summary.baseline.best_loss)}, final {ci(summary.baseline.final_loss)}")
        st.info(summary.verdict)

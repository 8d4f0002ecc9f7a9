"""mnist1d Optimizer Lab: ``streamlit run app.py``.

The entry point: page config, navigation over ``pages/`` and the shared sidebar. Pages hold UI
only; training, statistics and the background runner live in ``core``.
"""

from pathlib import Path

import streamlit as st

from core.training import runner
from core.training.train import available_devices
from ui.entry import mark_entry
from ui.session import (install_owner_check, put_handle_in_url, server_settings, session_id,
                        take_handle_from_url, warm_up)
from ui.share import begin_page, end_page

ROOT = Path(__file__).parent
# A local icon: a :material/...: favicon is fetched from a font host, which fails offline.
st.set_page_config(page_title="mnist1d Optimizer Lab", page_icon=str(ROOT / "static/favicon.png"),
                   layout="wide")
install_owner_check()
warm_up()
mark_entry()

# (file, title, icon, url path). Pages of other features join the menu when their file exists.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", "home"),
    ("pages/train.py", "Train", ":material/monitoring:", "train"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("pages/sensitivity.py", "Sensitivity", ":material/tune:", "sensitivity"),
    ("pages/search.py", "Search", ":material/travel_explore:", "search"),
    ("pages/reproduce.py", "Reproduce", ":material/fact_check:", "reproduce"),
    ("pages/benchmark.py", "Benchmark", ":material/leaderboard:", "benchmark"),
]
pages = [st.Page(path, title=title, icon=icon, url_path=url, default=(url == "home"))
         for path, title, icon, url in PAGES if (ROOT / path).exists()]
page = st.navigation(pages)
take_handle_from_url(page.url_path)   # before the sidebar counts this session's jobs


def server_counts() -> None:
    running, queued = runner.RUNNER.counts()
    mine = runner.RUNNER.jobs(session_id())
    st.caption(f"Devices here: {', '.join(available_devices())}  \n"
               f"Server: {running} of {runner.RUNNER.max_concurrent} training slots busy, "
               f"{queued} queued  \nYour active jobs: {len(mine)}")


# The counts redraw on their own: every 2 s while any job runs, so they follow a streaming run;
# every 15 s on an idle page too, so a page drawn while nothing ran learns of other visitors'
# runs (its own Start redraws the whole page anyway). An idle tab costs one small script run
# per 15 s, drawing three lines.
BUSY_POLL_S, IDLE_POLL_S = 2.0, 15.0
with st.sidebar:
    st.fragment(server_counts, run_every=BUSY_POLL_S if runner.RUNNER.jobs() else IDLE_POLL_S)()

problems = server_settings()[1]
if problems:
    st.error("This server's settings are invalid, so it starts no runs until its operator "
             "fixes them:\n" + "\n".join(f"- {p}" for p in problems), icon=":material/error:")
begin_page()
page.run()
end_page()     # the page's widget settings into its URL, now that they are drawn
put_handle_in_url(page.url_path)   # after the settings: they rewrite the query string

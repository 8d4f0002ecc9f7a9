"""mnist1d Optimizer Lab: ``streamlit run app.py``.

The entry point: page config, navigation over ``pages/`` and the shared sidebar. Pages hold UI
only; training, statistics and the background runner live in ``core``.
"""

from pathlib import Path

import streamlit as st

from core.training import runner
from core.training.train import available_devices
from ui.entry import mark_entry
from ui.session import install_owner_check, session_id, warm_up

ROOT = Path(__file__).parent
st.set_page_config(page_title="mnist1d Optimizer Lab", page_icon=":material/science:",
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
]
pages = [st.Page(path, title=title, icon=icon, url_path=url, default=(url == "home"))
         for path, title, icon, url in PAGES if (ROOT / path).exists()]
page = st.navigation(pages)

with st.sidebar:
    running, queued = runner.RUNNER.counts()
    mine = runner.RUNNER.jobs(session_id())
    st.caption(f"Devices here: {', '.join(available_devices())}  \n"
               f"Server: {running} of {runner.RUNNER.max_concurrent} training slots busy, "
               f"{queued} queued  \nYour active jobs: {len(mine)}")
page.run()

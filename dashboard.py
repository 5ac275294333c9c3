"""Voice to Image dashboard: ``streamlit run dashboard.py``."""

import logging

import streamlit as st

from core import V2IError
from ui import auth, render, resources

st.set_page_config(page_title="Voice to Image", page_icon=":material/graphic_eq:", layout="wide")
auth.require_access()  # a shared password or st.login, when configured in .streamlit/secrets.toml
try:
    resources.settings()
except ValueError as err:  # a mistyped V2I_* variable: say which, rather than show a traceback
    render.error(f"The dashboard's configuration is not valid: {err}")
    st.stop()

# Once st.navigation is called the pages/ folder is not auto-discovered: every page is listed here.
navigation = st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/generate.py", title="Generate", icon=":material/mic:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/similarity.py", title="Similarity", icon=":material/grid_on:"),
])
try:
    resources.sidebar()
    resources.worker()  # one background worker per server process, started with the app
    navigation.run()
except V2IError as err:  # a full disk, a damaged database...: a plain message (the server log keeps the traceback)
    logging.getLogger("v2i").exception("a page stopped")
    render.error(f"The dashboard cannot do that right now: {err}")

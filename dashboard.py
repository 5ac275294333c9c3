"""Voice to Image dashboard: ``streamlit run dashboard.py``."""

import streamlit as st

from ui import auth, resources

st.set_page_config(page_title="Voice to Image", page_icon=":material/graphic_eq:", layout="wide")
auth.require_access()  # a shared password or st.login, when configured in .streamlit/secrets.toml

# Once st.navigation is called the pages/ folder is not auto-discovered: every page is listed here.
navigation = st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/generate.py", title="Generate", icon=":material/mic:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/similarity.py", title="Similarity", icon=":material/grid_on:"),
])
resources.sidebar()
resources.worker()  # one background worker per server process, started with the app
navigation.run()

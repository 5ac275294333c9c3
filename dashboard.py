"""Voice to Image dashboard: ``streamlit run dashboard.py``."""

import logging

import streamlit as st

from core import V2IError, provenance
from ui import auth, notify, render, resources

st.set_page_config(page_title="Voice to Image", page_icon=":material/graphic_eq:", layout="wide")
# Once st.navigation is called the pages/ folder is not auto-discovered: every page is listed here.
PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/generate.py", title="Generate", icon=":material/mic:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/similarity.py", title="Similarity", icon=":material/grid_on:"),
    st.Page("pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("pages/insights.py", title="Insights", icon=":material/insights:"),
]
# The gate alone until the person is in (or a broken configuration alone): no page is listed before sign-in, and the
# link they opened is kept; the sidebar's list comes once they are in.
st.navigation(PAGES, position="hidden")
try:
    settings = resources.settings()
    provenance.check_signing(settings)  # a C2PA key that cannot sign: closed, naming the setting
except (ValueError, V2IError) as err:  # a mistyped V2I_* variable: say which, rather than show a traceback
    render.error(f"The dashboard's configuration is not valid: {err}")
    st.stop()
try:
    # Who is this? Sign-in (st.login), personal or shared passwords when configured in .streamlit/secrets.toml,
    # else the local user. Inside the guard: an identity that cannot be used is a message, not a crash.
    person = auth.require_access(settings, resources.store)
    navigation = st.navigation(PAGES)
    resources.set_person(person)
    resources.sidebar()
    resources.worker()  # one background worker per server process, started with the app
    with st.sidebar:
        auth.sign_out_button(resources.store)
        notify.job_notifications()  # toasts when this person's jobs end, and their count in the tab's title
    navigation.run()
except V2IError as err:  # a full disk, a damaged database...: a plain message (the server log keeps the traceback)
    logging.getLogger("v2i").exception("a page stopped")
    render.error(f"The dashboard cannot do that right now: {err}")

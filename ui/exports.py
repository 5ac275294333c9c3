"""History's exports: what the filters select, as CSV, as a ZIP of images, or a collection with its manifest."""

from __future__ import annotations

import streamlit as st

from core import (
    LINKS, HistoryFilter, Person, Store, V2IError, audit, export_collection, export_csv, export_to_temp, export_zip,
)
from ui import render, serving


EXPORTS = [("Export CSV", export_csv, "generations.csv", "text/csv"),
           ("Export images (ZIP)", export_zip, "images.zip", "application/zip"),
           ("Export the collection (ZIP with manifest)", export_collection, "collection.zip", "application/zip")]


def exports(store: Store, person: Person, where: HistoryFilter) -> None:
    """Export what the filters select (a collection also as one ZIP with a manifest): written to a file, served
    from disk behind a link that works for a quarter of an hour, so no export is held in the server's memory."""
    if not serving.MOUNTED:  # run without app.py's routes (a page test): Streamlit's own download buttons
        return download_buttons(store, where)
    choices = EXPORTS if where.collection else EXPORTS[:2]
    columns = st.columns(3)
    for column, (label, export, filename, mime) in zip(columns, choices):
        if column.button(label, key=f"export-{filename}"):
            try:
                link = st.session_state["export-link"] = LINKS.create(export, store, where, filename, mime)
                audit.record(store, person, "export", filename, f"{link.size} bytes")
            except (V2IError, OSError) as err:
                render.error(f"Could not export: {err}")
    link = st.session_state.get("export-link")
    if link is not None and LINKS.get(link.token) is not None:
        st.link_button(f"Download {link.filename} ({link.size / 2**20:.1f} MB)", f"exports/{link.token}",
                       icon=":material/download:")
        st.caption("The link works for 15 minutes, for whoever has it.")


def download_buttons(store: Store, where: HistoryFilter) -> None:
    """Streamlit's own download buttons, where app.py's export routes are not mounted (a page test)."""
    columns = st.columns(3)
    columns[0].download_button("Export CSV", data=lambda: export_to_temp(export_csv, store, where),
                               file_name="generations.csv", mime="text/csv", on_click="ignore")
    columns[1].download_button("Export images (ZIP)", data=lambda: export_to_temp(export_zip, store, where),
                               file_name="images.zip", mime="application/zip", on_click="ignore")
    if where.collection:
        columns[2].download_button("Export the collection (ZIP with manifest)", on_click="ignore",
                                   data=lambda: export_to_temp(export_collection, store, where),
                                   file_name="collection.zip", mime="application/zip")

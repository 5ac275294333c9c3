"""Two images compared in place: a slider moves the split between them (Streamlit's own slider: no component
script from a CDN, works offline and with the keyboard)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import contact_sheet


def slider_compare(left: Path, right: Path, labels: tuple[str, str], key: str) -> None:
    """The two images as one, split where the slider says; each side named."""
    if not (left.is_file() and right.is_file()):
        st.warning("An image file of this pair is missing from the data folder.")
        return
    position = st.slider(f"Slide from {labels[0]} (left) to {labels[1]} (right)", 0, 100, 50, key=f"{key}-split",
                         format="%d%%")
    st.image(contact_sheet.wipe(left, right, position), width="stretch",
             caption=f"left of the line: {labels[0]} · right of it: {labels[1]}",
             alt=f"{labels[0]} and {labels[1]}, split at {position}% of the width")

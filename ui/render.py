"""Small renderers. User text (transcripts, prompts, file names) always goes through ``st.text`` or
data widgets, never markdown or HTML."""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from pathlib import Path
from typing import Any

import streamlit as st

from core import TIMED_STAGES, V2IError


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail_data_uri(path: str, mtime: float, size: int = 96) -> str | None:
    """A small PNG as a data URI for the table's image column (cached per file and modification time)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def thumbnail(path: Path) -> str | None:
    try:
        return thumbnail_data_uri(str(path), path.stat().st_mtime)
    except OSError:
        return None


def timing_chart(row: dict[str, Any]):
    import plotly.graph_objects as go

    values = [row.get(f"t_{stage}") or 0.0 for stage in TIMED_STAGES]
    figure = go.Figure(go.Bar(x=values, y=list(TIMED_STAGES), orientation="h", text=[f"{v:.2f} s" for v in values]))
    figure.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), title="Seconds per stage",
                         yaxis=dict(autorange="reversed"))
    return figure


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def escape_markdown(text: str) -> str:
    """Backslash-escape everything markdown (and Streamlit's :colour[...] and :emoji: syntax) would read."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


# What HTML or markdown would read, written as character references instead (in one pass, so none is read twice).
_HTML_OR_MARKDOWN = re.compile(r"""[&"'\\`*_{}\[\]()#+\-.!|<>~:$]""")


def html_text(text: str) -> str:
    """People's text inside HTML that Streamlit's markdown renders (``unsafe_allow_html``): every character HTML
    or markdown would read becomes a character reference, so ``**x**`` or ``[a](http://host)`` stays text."""
    return _HTML_OR_MARKDOWN.sub(lambda m: f"&#{ord(m.group())};", text)


def chart_text(text: Any) -> str:
    """Text for a Plotly label, legend, axis or hover (Plotly renders a subset of HTML there, links included):
    escaped to stay text."""
    return html.escape(str(text))


def said(template: str, **values: Any) -> str:
    """A message for markdown-reading elements (toasts, captions, info boxes) with people's text filled in as
    text: every value is escaped, so a collection named ``![x](http://host/t.png)`` neither loads nor links."""
    return template.format(**{name: escape_markdown(str(value)) for name, value in values.items()})


def hover_text(text: str, limit: int = 60) -> str:
    """User text for a Plotly hover label, shortened to ``limit`` characters and escaped."""
    return chart_text(text[:limit])


def error(message: str) -> None:
    """An error box whose message may carry user text (file names, paths): shown literally."""
    st.error(escape_markdown(message), icon=":material/error:")


def shows_errors(function):
    """For fragments, which rerun on their own outside dashboard.py's guard: a V2IError (a full disk, a damaged
    database...) becomes a plain error box rather than a traceback."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except V2IError as err:
            error(f"The dashboard cannot do that right now: {err}")

    return guarded


def model_name(model_id: str) -> str:
    """A model as people may see it: a hub id as it is (``openai/clip-vit-base-patch32``), a local folder or file by
    its last part, never the server's path to it."""
    text = str(model_id)
    name, _, variant = text.partition("#")
    if name.startswith(("/", "~", ".")) or "\\" in name or Path(name).is_absolute():
        name = Path(name).name
    return name + (f"#{variant}" if variant else "")


def labelled_text(label: str, value: Any) -> None:
    """A fixed label, then user text shown as text."""
    st.caption(label)
    st.text("" if value is None else str(value))


def alt_text(row: dict[str, Any]) -> str:
    """What a screen reader says for a generation's image: the words it was made from."""
    words = " ".join(str(row.get("prompt") or row.get("transcript") or "").split())
    return f"image for: {words[:200]}" if words else "a generated image"


def show_image_or_missing(path: Path, caption: str | None = None, alt: str = "a generated image") -> bool:
    """The image (with its alternative text, and a caption when given), or a plain note that its file is gone."""
    if path.is_file():
        st.image(str(path), width="stretch", caption=caption, alt=alt)
        return True
    st.warning("The image file is missing from the data folder.")
    return False

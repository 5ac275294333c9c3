"""The Generate page's forms for every job it queues: the image settings and the team's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import (
    COMMON_SIZES, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, RECIPES, SCHEDULERS, STYLES, GenerationOptions, V2IError,
    set_vocabulary, vocabulary,
)
from ui import render, resources


@dataclass(frozen=True)
class PageSettings:
    """What the "Image settings" expander says, for every job this page queues."""

    style: str
    recipe: str
    scheduler: str | None
    steps: int | None
    guidance: float
    seed_text: str
    size: int
    negative: str
    translate: bool

    def options(self) -> GenerationOptions:
        """The generation options; a seed that is not a whole number raises ValueError naming it."""
        seed = None
        if self.seed_text.strip():
            try:
                seed = int(self.seed_text.strip())
            except ValueError:
                raise ValueError(f"The seed must be a whole number from 0 to {MAX_SEED}, "
                                 f"not {self.seed_text.strip()!r}.") from None
        chosen = {"steps": int(self.steps)} if self.steps else {}
        if self.scheduler:
            chosen["scheduler"] = self.scheduler
        return GenerationOptions.from_recipe(self.recipe, guidance=float(self.guidance), seed=seed,
                                             width=int(self.size), height=int(self.size), **chosen)


def settings_form() -> PageSettings:
    """The "Image settings" expander: what every job from the page asks for."""
    with st.expander("Image settings", expanded=False):
        left, middle, right = st.columns(3)
        style = left.selectbox("Style", list(STYLES), key="opt-style")
        st.session_state.setdefault("opt-recipe", resources.settings().recipe)  # the server's default (V2I_RECIPE)
        recipe = left.selectbox("Recipe", list(RECIPES), key="opt-recipe",
                                format_func=lambda name: f"{name}: {RECIPES[name].note}")
        scheduler = middle.selectbox("Scheduler", [None, *SCHEDULERS], key="opt-scheduler",
                                     format_func=lambda name: "the recipe's" if name is None else name)
        steps = middle.number_input("Steps (empty: the recipe's)", min_value=1, max_value=MAX_STEPS, value=None,
                                    key="opt-steps")
        guidance = middle.number_input("Guidance", min_value=0.0, max_value=MAX_GUIDANCE,
                                       value=GenerationOptions.guidance, step=0.5, key="opt-guidance")
        seed_text = right.text_input("Seed (empty for random)", key="opt-seed")
        size = right.selectbox("Size", COMMON_SIZES, key="opt-size")
        negative = st.text_input("Negative prompt (empty for the default)", key="opt-negative")
        translate = st.checkbox("Translate speech into English first", key="opt-translate")
    return PageSettings(style, recipe, scheduler, steps, guidance, seed_text, size, negative, translate)


def vocabulary_form() -> None:
    """Names, products and jargon whisper mishears: the whole team's, passed to whisper as its prompt."""
    store = resources.store()
    with st.expander("Team vocabulary", expanded=False):
        terms = vocabulary(store)
        typed = st.text_area("One term per line (names, products, jargon)", value="\n".join(terms),
                             key="vocabulary-text")
        if st.button("Save the vocabulary"):
            try:
                saved = set_vocabulary(store, typed.splitlines(), resources.person())
                st.toast(f"Saved {len(saved)} terms")
            except V2IError as err:
                render.error(str(err))

"""Sweeps and A/B runs on the pages: the form that queues a sweep (Generate) and a run's images, votes, contact
sheet and slider (Insights)."""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from core import GenerationRequest, Person, Store, V2IError, abtest, contact_sheet, factors, roles, sweep
from ui import compare, render

# What a sweep's value box starts with, for the settings typed as numbers (the others are chosen from lists).
EXAMPLES = {"steps": "4, 8, 20", "guidance": "1, 4, 7.5", "seed": "1, 2, 3"}


def sweep_form(name: str, data: bytes, key: str, make_request: Callable[[], GenerationRequest | None], queue,
               person: Person, wake: Callable[[], None]) -> None:
    """Paint this recording over a grid of one to three settings; the team votes for the best cell on Insights."""
    with st.expander("Sweep: paint this recording over a grid of settings"):
        st.caption(f"Choose 1 to {sweep.MAX_AXES} settings and 2 to {sweep.MAX_VALUES} values of each (at most "
                   f"{sweep.MAX_CELLS} images), for example steps 4, 8, 20 by guidance 1, 4, 7.5. Every cell uses "
                   "one seed unless the seed is varied; the images are queued as one run.")
        names = st.multiselect("Vary", list(sweep.AXES), max_selections=sweep.MAX_AXES, key=f"sweep-axes-{key}")
        chosen: dict[str, Any] = {}
        for axis in names:
            if axis in sweep.CHOICES:
                chosen[axis] = st.multiselect(f"Values of {axis}", sweep.CHOICES[axis], key=f"sweep-{axis}-{key}",
                                              max_selections=sweep.MAX_VALUES)
            else:
                typed = st.text_input(f"Values of {axis} (separated by commas)", EXAMPLES[axis],
                                      key=f"sweep-{axis}-{key}")
                chosen[axis] = [v for v in typed.split(",") if v.strip()]
        if st.button("Start the sweep", key=f"sweep-start-{key}"):
            try:
                axes = [sweep.axis(axis, values) for axis, values in chosen.items()]
                request = make_request()
                if request is None:
                    return
                st.session_state[f"sweep-run-{key}"] = sweep.start(queue, data, request, axes, person)
            except (V2IError, ValueError) as err:
                render.error(f"{name}: {err}")
                return
            wake()
        if run_id := st.session_state.get(f"sweep-run-{key}"):
            st.page_link("pages/insights.py", label="Queued: see the grid and vote on Insights",
                         query_params={"run": run_id}, icon=":material/grid_view:")


def vote_button(store: Store, run: dict[str, Any], generation: dict[str, Any], person: Person, label: str) -> None:
    chosen = run["mine"] == generation["id"]
    if roles.allowed(person, "vote") and st.button(
            "Your pick" if chosen else label, key=f"vote-{generation['id']}",
            disabled=chosen or len(run["generations"]) < 2):
        sweep.vote(store, run["id"], generation["id"], person)
        st.rerun()


def ab_run(store: Store, run: dict[str, Any], person: Person) -> None:
    """A one-axis run: its images side by side, a vote under each, and a slider over two of them."""
    columns = st.columns(max(1, len(run["generations"])))
    for column, generation in zip(columns, run["generations"]):
        with column:
            render.show_image_or_missing(store.file_path(generation["image_path"]),
                                         caption=abtest.arm_of(generation, run["variable"]),
                                         alt=render.alt_text(generation))
            vote_button(store, run, generation, person, "This one is better")
            st.text(f"votes: {run['votes'][generation['id']]}")


def sweep_grid(store: Store, run: dict[str, Any], cells: list, person: Person) -> None:
    """A sweep's cells (:func:`core.judging.sweep.grid`) in its contact sheet's layout: each with its label, a link to open
    it and a vote."""
    plan = contact_sheet.layout(sweep.axes_of(run))
    for b, block in enumerate(plan.blocks):
        if block:
            st.markdown(f"**{render.escape_markdown(block)}**")
        for r, row_label in enumerate(plan.rows):
            columns = st.columns([1] + [2] * len(plan.columns))
            columns[0].text(row_label)
            for (k, i, j), cell in zip(plan.places, cells):
                if (k, i) != (b, r):
                    continue
                with columns[j + 1]:
                    if cell.generation is None:
                        st.caption(f"{cell.label}: not painted yet")
                        continue
                    render.show_image_or_missing(store.file_path(cell.generation["image_path"]), caption=cell.label,
                                                 alt=render.alt_text(cell.generation))
                    st.page_link("pages/history.py", label="Open", query_params={"id": cell.generation["id"]},
                                 icon=":material/open_in_new:")
                    vote_button(store, run, cell.generation, person, "Best")
                    st.text(f"votes: {cell.votes}")


def slider_of_two(store: Store, run: dict[str, Any], cells: list) -> None:
    painted = [cell for cell in cells if cell.generation is not None]
    if len(painted) < 2:
        return
    with st.expander("Compare two of them with a slider"):
        labels = [cell.label for cell in painted]
        pick = st.columns(2)
        a = pick[0].selectbox("Left", range(len(painted)), format_func=labels.__getitem__, key=f"wipe-a-{run['id']}")
        b = pick[1].selectbox("Right", range(len(painted)), index=1, format_func=labels.__getitem__,
                              key=f"wipe-b-{run['id']}")
        compare.slider_compare(*(store.file_path(painted[i].generation["image_path"]) for i in (a, b)),
                               (labels[a], labels[b]), f"wipe-{run['id']}")


def show_run(store: Store, run: dict[str, Any], person: Person) -> None:
    """One run in a bordered box: what it varied, its images and votes, its sheet to download, a slider."""
    with st.container(border=True):
        axes, cells = sweep.axes_of(run), sweep.grid(run)  # the grid once, for the cells and the slider
        varied = " by ".join(f"{a.name} {', '.join(a.text(v) for v in a.values)}" for a in axes)
        st.text(f"{run['filename']} · {varied} · seed {run['seed']}")
        if len(run["generations"]) < len(run["arms"]):
            st.caption(f"{len(run['generations'])} of {len(run['arms'])} images made so far.")
        if len(axes) == 1 and len(run["arms"]) <= abtest.MAX_ARMS:
            ab_run(store, run, person)
        else:
            sweep_grid(store, run, cells, person)
        st.download_button("Download the contact sheet (PNG)", lambda: contact_sheet.contact_sheet(store, run),
                           file_name=f"sweep-{run['id'][:8]}.png", mime="image/png", key=f"sheet-{run['id']}",
                           icon=":material/download:")
        slider_of_two(store, run, cells)


@st.fragment(run_every=5.0)
@render.shows_errors
def runs_panel(store: Store, person: Person, linked: str | None) -> None:
    """The win rates and the latest runs (or the one a link names), redrawn every few seconds while the page is
    open: colleagues' votes and newly painted cells appear without rerunning the page, which would take the focus.
    A vote of one's own reruns it at once."""
    if table := factors.win_rates(store):
        st.dataframe([{"compares": r["variable"], "arm": r["key"], "votes (n)": r["n"], "wins": r["wins"],
                       "win rate": r["win_rate"], "95% interval": f"[{r['win_rate_lo']:.2f}, {r['win_rate_hi']:.2f}]"}
                      for r in table], hide_index=True, width="stretch")
    shown = sweep.runs(store, person.id)
    if linked:
        shown = [run for run in shown if run["id"] == linked] or sweep.runs(store, person.id, run_id=linked) or shown
    if not shown:
        st.info("No sweeps or A/B runs yet.")
    for run in shown:
        show_run(store, run, person)

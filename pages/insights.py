"""Insights: what makes a good image, and for whom. Ratings, CLIP alignment and seconds by recipe, style,
scheduler, language, task and person (each mean with its count and 95% interval), sweeps and A/B runs and their
votes, the stage most likely at fault for each weak image, fairness across spoken languages, and whether the
team's raters agree (with the preference data to download)."""

import plotly.graph_objects as go
import streamlit as st

from core import ModelLoadError, factors, statistics
from ui import judging, render, resources, runs

resources.ensure_navigation()
# Images scored here per run at most: the worker's upkeep scores the rest when the queue is quiet, so a large
# history never makes this page wait for all of them.
ALIGN_PER_RUN = 200

store, cache, person = resources.store(), resources.embedding_cache(), resources.person()
st.title("Insights")
st.caption("Every mean comes with its count (n) and a 95% interval that stays on its scale; under three values: "
           "\"too few\", no interval. \"vs rest\" compares a group with all the others, and a table's verdicts keep "
           "the false discovery rate at 5%: \"not significant\" means the difference may be chance. A generation's "
           "rating is the mean of its stars; its alignment is the CLIP similarity of its image and its prompt.")
with st.expander("How these numbers are made"):
    st.markdown("\n".join(f"- **{what}**: {how}" for what, how in statistics.METHODS.items()))
reading_choice = st.columns(2)
reading = factors.Reading(
    blind_only=reading_choice[0].toggle("Blind ratings only", key="reading-blind",
                                        help="Count only stars given on the Review page, before the maker and "
                                             "others' stars were shown."),
    adjusted=reading_choice[1].toggle("Adjust for each rater", key="reading-adjusted",
                                      help="Read each rating less its rater's offset (how much harsher or kinder "
                                           "than the team they are on the same images)."))

try:
    with st.spinner("Scoring images that have no alignment yet..."):
        factors.record_alignment(store, cache, compute=True, limit=ALIGN_PER_RUN)
except ModelLoadError as err:
    render.error(str(err))
    st.stop()
report = factors.report(store, cache.model_id, reading)
if report.generations == 0:
    st.info("No generations yet: make a few on Generate, rate them on History, and come back.")
    st.stop()
counts = st.columns(3)
counts[0].metric("Generations", report.generations)
counts[1].metric("Rated", report.rated)
counts[2].metric("With alignment", report.aligned)


def group_table(rows: list[factors.GroupRow], label: str) -> None:
    st.dataframe([{
        label: row.key, "n": row.n, "rating": row.rating.text(), "rating vs rest": row.rating_vs_rest,
        "alignment": row.alignment.text(3), "alignment vs rest": row.alignment_vs_rest,
        "seconds p50": row.seconds_p50, "seconds p95": row.seconds_p95,
    } for row in rows], hide_index=True, width="stretch", column_config={
        "seconds p50": st.column_config.NumberColumn(format="%.1f"),
        "seconds p95": st.column_config.NumberColumn(format="%.1f")})


def interval_chart(rows: list[factors.GroupRow], measure: str, title: str) -> None:
    """Means with their intervals as error bars; every label carries its n. Groups without a mean are left out."""
    shown = [(row, getattr(row, measure)) for row in rows if getattr(row, measure).mean is not None]
    if not shown:
        st.caption(f"No {title.lower()} yet.")
        return
    figure = go.Figure(go.Scatter(
        x=[e.mean for _, e in shown], y=[render.chart_text(f"{row.key} (n={e.n})") for row, e in shown], mode="markers",
        error_x=dict(type="data", symmetric=False, array=[(e.hi - e.mean) if e.hi is not None else 0 for _, e in shown],
                     arrayminus=[(e.mean - e.lo) if e.lo is not None else 0 for _, e in shown]),
        marker=dict(size=10, color=["#d62728" if row.flagged else "#1f77b4" for row, _ in shown]),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    figure.update_layout(title=title, height=120 + 40 * len(shown), margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(figure, width="stretch")


works_tab, ab_tab, blame_tab, languages_tab, agreement_tab = st.tabs(
    ["What works", "Sweeps and A/B runs", "Stage blame", "Languages", "Agreement"])

# 1. What works, by one dimension at a time.
with works_tab:
    dimension = st.radio("By", [d for d in factors.DIMENSIONS if d not in ("languages", "tasks")], horizontal=True,
                         format_func=lambda d: factors.DIMENSIONS[d][0])
    label = factors.DIMENSIONS[dimension][0]
    group_table(report.sections[dimension], label)
    charts = st.columns(2)
    with charts[0]:
        interval_chart(report.sections[dimension], "rating", "Mean rating (stars)")
    with charts[1]:
        interval_chart(report.sections[dimension], "alignment", "Mean CLIP alignment")

# 2. Sweeps and A/B runs: the images in their grid, a vote each, the contact sheet, and the win rates.
with ab_tab:
    st.caption("Start a run on Generate under a recording: an A/B run (several recipes or styles) or a sweep (a "
               "grid of up to three settings), at one seed. Vote for the best image; a later vote replaces yours. "
               "In a sweep a vote counts for each of the cell's values.")
    runs.runs_panel(store, person, st.query_params.get("run"))

# 3. Stage blame: which stage let each weak image down, over time.
with blame_tab:
    st.caption(f"Weak images: rated {factors.LOW_STARS:.0f} stars or less, or in the history's lowest "
               f"{factors.LOW_ALIGNMENT_QUANTILE:.0%} of alignment (from {factors.MIN_FOR_QUANTILE} aligned images). "
               "The cause: transcription (whisper unsure or hearing no speech), prompt (cut, or drifted from the "
               "words), else generation.")
    st.dataframe([{"cause": r["cause"], "n": r["n"], "of": r["of"], "share": r["share"],
                   "95% interval": None if r["share_lo"] is None else f"[{r['share_lo']:.2f}, {r['share_hi']:.2f}]"}
                  for r in report.blame], hide_index=True, width="stretch")
    if report.blamed:
        figure = go.Figure()
        for cause in factors.CAUSES:
            items = [b for b in report.blamed if b.cause == cause]
            figure.add_trace(go.Scatter(
                x=[b.created_at[:19] for b in items], y=[cause] * len(items), mode="markers", name=render.chart_text(cause),
                customdata=[b.id for b in items], text=[render.hover_text(b.why) for b in items],
                hovertemplate="%{x}<br>%{text}<extra></extra>"))
        figure.update_layout(height=300, title="Causes over time (select points to open them)")
        event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode=("points", "box"),
                                key="blame-chart")
        for point in (event.selection.points if event else [])[:20]:
            st.page_link("pages/history.py", label=f"Open {point['customdata'][:8]}",
                         query_params={"id": point["customdata"]}, icon=":material/open_in_new:")
        st.dataframe([{"when": b.created_at[:19], "cause": b.cause, "why": b.why, "stars": b.stars,
                       "alignment": b.alignment, "transcript": b.transcript, "open": f"history?id={b.id}"}
                      for b in reversed(report.blamed)], hide_index=True, width="stretch",
                     column_config={"open": st.column_config.LinkColumn(display_text="open")})

    # What a misheard word costs: each "fix and generate again" (History) against the image it fixed.
    st.subheader("What mishearing costs")
    if report.fixes:
        st.caption("Pairs of an image and its repaint from corrected words (same seed and recipe), per spoken "
                   "language: the change in mean stars and in CLIP alignment after the fix, with 95% intervals.")
        st.dataframe([{"language": r["language"], "pairs": r["pairs"], "stars before": r["stars_before"],
                       "stars after": r["stars_after"], "stars gain": r["stars_gain"],
                       "alignment before": r["alignment_before"], "alignment after": r["alignment_after"],
                       "alignment gain": r["alignment_gain"]} for r in report.fixes], hide_index=True, width="stretch")
    else:
        st.caption("No fixes yet: on History, \"Fix the words and generate again\" repaints an image from "
                   "corrected words with the same seed and recipe, and the pair shows here.")

# 4. Fairness across languages, and transcribe versus translate.
with languages_tab:
    for name in ("languages", "tasks"):
        label = factors.DIMENSIONS[name][0]
        for row in report.sections[name]:
            if row.flagged:
                st.warning(render.escape_markdown(
                    f"{label} {row.key} does significantly worse than the rest: rating {row.rating.text()} "
                    f"({row.rating_vs_rest}), alignment {row.alignment.text(3)} ({row.alignment_vs_rest})."))
        group_table(report.sections[name], label)
    interval_chart(report.sections["languages"], "alignment", "Mean CLIP alignment by spoken language")
    interval_chart(report.sections["languages"], "rating", "Mean rating by spoken language")

# 5. Whether the team agrees, each rater's offset, and the preference data.
with agreement_tab:
    judging.agreement_panel(store, report)

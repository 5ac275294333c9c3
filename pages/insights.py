"""Insights: what makes a good image, and for whom. Ratings, CLIP alignment and seconds by recipe, style,
scheduler, language, task and person (each mean with its count and 95% interval), A/B runs and their votes,
the stage most likely at fault for each weak image, and fairness across spoken languages."""

import plotly.graph_objects as go
import streamlit as st

from core import ModelLoadError, abtest, insights, roles
from ui import render, resources

resources.ensure_navigation()

store, cache, person = resources.store(), resources.embedding_cache(), resources.person()
st.title("Insights")
st.caption("Every mean comes with its count (n) and a 95% interval. \"vs rest\" compares a group with all the others "
           "(Welch's t-test at 5%): \"not significant\" means the difference may be chance. A generation's rating is "
           "the mean of its stars; its alignment is the CLIP similarity of its image and its prompt.")

try:
    with st.spinner("Scoring images that have no alignment yet..."):
        insights.record_alignment(store, cache, compute=True)
except ModelLoadError as err:
    render.error(str(err))
    st.stop()
report = insights.report(store, cache.model_id)
if report.generations == 0:
    st.info("No generations yet: make a few on Generate, rate them on History, and come back.")
    st.stop()
counts = st.columns(3)
counts[0].metric("Generations", report.generations)
counts[1].metric("Rated", report.rated)
counts[2].metric("With alignment", report.aligned)


def group_table(rows: list[insights.GroupRow], label: str) -> None:
    st.dataframe([{
        label: row.key, "n": row.n, "rating": row.rating.text(), "rating vs rest": row.rating_vs_rest,
        "alignment": row.alignment.text(3), "alignment vs rest": row.alignment_vs_rest,
        "seconds p50": row.seconds_p50, "seconds p95": row.seconds_p95,
    } for row in rows], hide_index=True, width="stretch", column_config={
        "seconds p50": st.column_config.NumberColumn(format="%.1f"),
        "seconds p95": st.column_config.NumberColumn(format="%.1f")})


def interval_chart(rows: list[insights.GroupRow], measure: str, title: str) -> None:
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


works_tab, ab_tab, blame_tab, languages_tab = st.tabs(["What works", "A/B runs", "Stage blame", "Languages"])

# 1. What works, by one dimension at a time.
with works_tab:
    dimension = st.radio("By", [d for d in insights.DIMENSIONS if d not in ("languages", "tasks")], horizontal=True,
                         format_func=lambda d: insights.DIMENSIONS[d][0])
    label = insights.DIMENSIONS[dimension][0]
    group_table(report.sections[dimension], label)
    charts = st.columns(2)
    with charts[0]:
        interval_chart(report.sections[dimension], "rating", "Mean rating (stars)")
    with charts[1]:
        interval_chart(report.sections[dimension], "alignment", "Mean CLIP alignment")

# 2. A/B runs: the images side by side, a vote each, and the win rates.
with ab_tab:
    st.caption("Start a run on Generate (\"A/B run\" under a recording): one recording, several recipes or styles, "
               "one seed. Vote for the better image; a later vote replaces yours.")
    if report.ab:
        st.dataframe([{"compares": r["variable"], "arm": r["key"], "votes (n)": r["n"], "wins": r["wins"],
                       "win rate": r["win_rate"], "95% interval": f"[{r['win_rate_lo']:.2f}, {r['win_rate_hi']:.2f}]"}
                      for r in report.ab], hide_index=True, width="stretch")
    linked = st.query_params.get("run")
    runs = abtest.runs(store, person.id)
    if linked:
        runs = [run for run in runs if run["id"] == linked] or runs
    if not runs:
        st.info("No A/B runs yet.")
    for run in runs:
        with st.container(border=True):
            st.text(f"{run['filename']} · {run['variable']}: {' vs '.join(run['arms'])} · seed {run['seed']}")
            if len(run["generations"]) < len(run["arms"]):
                st.caption(f"{len(run['generations'])} of {len(run['arms'])} images made so far.")
            columns = st.columns(max(1, len(run["generations"])))
            for column, generation in zip(columns, run["generations"]):
                with column:
                    render.show_image_or_missing(store.file_path(generation["image_path"]),
                                                 caption=abtest.arm_of(generation, run["variable"]),
                                                 alt=render.alt_text(generation))
                    chosen = run["mine"] == generation["id"]
                    if roles.allowed(person, "vote") and st.button(
                            "Your pick" if chosen else "This one is better", key=f"vote-{generation['id']}",
                            disabled=chosen or len(run["generations"]) < 2):
                        abtest.vote(store, run["id"], generation["id"], person.id)
                        st.rerun()
                    st.text(f"votes: {run['votes'][generation['id']]}")

# 3. Stage blame: which stage let each weak image down, over time.
with blame_tab:
    st.caption(f"Weak images: rated {insights.LOW_STARS:.0f} stars or less, or in the history's lowest "
               f"{insights.LOW_ALIGNMENT_QUANTILE:.0%} of alignment (from {insights.MIN_FOR_QUANTILE} aligned images). "
               "The cause: transcription (whisper unsure or hearing no speech), prompt (cut, or drifted from the "
               "words), else generation.")
    st.dataframe([{"cause": r["cause"], "n": r["n"], "of": r["of"], "share": r["share"],
                   "95% interval": None if r["share_lo"] is None else f"[{r['share_lo']:.2f}, {r['share_hi']:.2f}]"}
                  for r in report.blame], hide_index=True, width="stretch")
    if report.blamed:
        figure = go.Figure()
        for cause in insights.CAUSES:
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
        label = insights.DIMENSIONS[name][0]
        for row in report.sections[name]:
            if row.flagged:
                st.warning(render.escape_markdown(
                    f"{label} {row.key} does significantly worse than the rest: rating {row.rating.text()} "
                    f"({row.rating_vs_rest}), alignment {row.alignment.text(3)} ({row.alignment_vs_rest})."))
        group_table(report.sections[name], label)
    interval_chart(report.sections["languages"], "alignment", "Mean CLIP alignment by spoken language")
    interval_chart(report.sections["languages"], "rating", "Mean rating by spoken language")

"""Overview: totals, speed per stage over time, the queue, the latest images, languages spoken."""

import plotly.graph_objects as go
import streamlit as st

from core import TIMING_COLUMNS, HistoryFilter, alignment, alignment_summary, names_of, aggregates
from ui import render, resources, safety

resources.ensure_navigation()

SOURCES = {"dashboard": "dashboard", "cli": "command line", "api": "API", "unknown": "before this was recorded"}
store = resources.store()
st.title("Voice to Image")
resources.executor_warning()

totals = aggregates.totals(store)
if totals["all"] == 0:
    st.info("No generations yet. Open **Generate**, upload or record a few words, and press Transcribe, then Generate.")
    st.page_link("pages/generate.py", label="Start on the Generate page", icon=":material/mic:")
    safety.audit_trail(store, resources.person())
    st.stop()

columns = st.columns(4)
columns[0].metric("All generations", totals["all"])
columns[1].metric("Today", totals["today"])
columns[2].metric("This week", totals["this_week"])
queue_counts = resources.queue().counts()
columns[3].metric("Queued / running", f"{queue_counts['queued']} / {queue_counts['running']}")
if reason := resources.queue().waiting_for_room():
    st.warning(render.escape_markdown(f"The queue waits for disk space: {reason}."), icon=":material/storage:")
safety.queue_controls(resources.queue(), resources.person())

st.subheader("Seconds per stage over time")
rows = aggregates.stage_timings(store)
quantile = st.radio("Statistic", ["median", "p95"], horizontal=True)
q = 0.5 if quantile == "median" else 0.95
figure = go.Figure()
for column in TIMING_COLUMNS:
    series = aggregates.percentile_by_day(rows, column, q)
    figure.add_trace(go.Scatter(x=list(series), y=list(series.values()), mode="lines+markers", name=column[2:]))
figure.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="seconds", xaxis_title="day",
                     xaxis_type="category")  # one tick per day that has generations
st.plotly_chart(figure, width="stretch")

left, right = st.columns([3, 1])
with left:
    st.subheader("Latest images")
    latest = store.query_generations(limit=6)
    for column, row in zip(st.columns(6), latest):
        with column:
            render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))
            st.text(row["transcript"][:60])
with right:
    st.subheader("Languages spoken")
    st.dataframe([{"language": lang, "generations": n} for lang, n in aggregates.languages(store)], hide_index=True)
    came = aggregates.sources(store)
    st.caption("Generations by where they came from: " +
               " · ".join(f"{SOURCES.get(name, name)} {n}" for name, n in came.items()))
    st.caption(f"Queued jobs (the dashboard's and the API's; the command line's generate paints at once): "
               f"{queue_counts['done']} done, {queue_counts['failed']} failed, {queue_counts['cancelled']} cancelled")

summary = alignment_summary(alignment(resources.embedding_cache(), store.query_generations(limit=500), compute=False))
if summary:
    st.subheader("Does the prompt enhancement help?")
    st.text(f"Over the latest {summary['count']} generations with CLIP embeddings: image vs what was said "
            f"{summary['transcript']:.3f}, image vs the enhanced prompt {summary['prompt']:.3f}; the enhanced "
            f"prompt is the closer one in {100 * summary['helped']:.0f}% of them.")

# People: who makes what, how long they wait, and what the team liked this week.
st.subheader("People")
made = aggregates.per_person_per_day(store)
names = names_of(store, [r["created_by"] for r in made])
left, right = st.columns([3, 2])
with left:
    figure = go.Figure()
    for person_id in sorted({r["created_by"] for r in made}):
        mine = [r for r in made if r["created_by"] == person_id]
        figure.add_trace(go.Bar(x=[r["day"] for r in mine], y=[r["n"] for r in mine],
                                name=render.chart_text(names.get(person_id, person_id))))
    figure.update_layout(barmode="stack", height=280, margin=dict(l=10, r=10, t=10, b=10), xaxis_type="category",
                         yaxis_title="generations", xaxis_title="day")
    st.plotly_chart(figure, width="stretch")
with right:
    waits = aggregates.waits_per_person(store)
    wait_names = names_of(store, [w["created_by"] for w in waits])
    st.dataframe([{"person": wait_names.get(w["created_by"], w["created_by"]), "jobs": w["jobs"],
                   "median wait s": round(w["median_wait_s"], 1), "median run s": round(w["median_run_s"], 1)}
                  for w in waits], hide_index=True)
best = store.query_generations(HistoryFilter(since=aggregates.week_start(), min_rating=1), sort="rating_mean", limit=6)
if best:
    st.caption("This week's top-rated images")
    for column, row in zip(st.columns(6), best):
        with column:
            render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))
            st.text(f"{row['rating_mean']:.1f} of 5 ({row['rating_count']})")
            st.page_link("pages/history.py", label="open", query_params={"id": row["id"]})
safety.audit_trail(store, resources.person())
safety.backup_status(store, resources.settings())
safety.storage(store)
safety.provenance_status(resources.settings())

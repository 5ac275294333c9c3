"""A person's jobs on the Generate page: each with its place and ETA, its progress and live preview while it
runs, its failure (the recording kept, to download or submit again) or its image; refreshed every second."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import streamlit as st

from core import (
    ACTIVE, DONE, DOWNLOADS, FAILED, PREVIEWS, QUEUED, RUNNING, TIMINGS, JobQueue, Pace, Person, V2IError, catalog,
    stage_words, sweep,
)
from ui import forms, render, resources


def elapsed(job) -> float:
    if not job["started_at"]:
        return 0.0
    end = datetime.fromisoformat(job["finished_at"]) if job["finished_at"] else datetime.now(timezone.utc)
    return max(0.0, (end - datetime.fromisoformat(job["started_at"])).total_seconds())


def time_left(job, step: int, total: int) -> str:
    """How long the painting has left, once the pace of its steps is steady (core's :class:`Pace`, smoothed and
    kept per job in this session while the page watches it)."""
    if job["stage"] != "generate" or not total:
        return ""
    paces = st.session_state.setdefault("job-paces", {})
    now = time.monotonic()
    pace = paces[job["id"]] = paces[job["id"]].seen(step, now) if job["id"] in paces else Pace.start(step, now)
    left = pace.seconds_left(total)
    return ", estimating the time left" if left is None else f", about {left:.0f} s left"


def show_job(queue: JobQueue, person: Person, job, outlook: dict, paints: str = "") -> None:
    """One job; ``outlook`` is every queued job's place and ETA, read once per refresh (JobQueue.outlook);
    ``paints``: its recipe and style, or its cell's swept values."""
    with st.container(border=True):
        st.text(f"{job['audio_filename']}  ·  {job['status']}")
        if paints:
            st.caption(render.escape_markdown(paints))
        if job["status"] == QUEUED and job["id"] in outlook:
            place, eta = outlook[job["id"]]
            st.text(f"place in queue: {place}"
                    + (f", done in about {eta / 60:.0f} min" if eta is not None and eta >= 90 else
                       f", done in about {eta:.0f} s" if eta is not None else ""))
        elif job["status"] == RUNNING:
            step, total = job["step"] or 0, job["total_steps"] or 0
            if job["stage"] == "download":  # a first run: the models come down before the job can start
                for model, (done, size) in DOWNLOADS.get(job["id"]).items():
                    st.progress(done / size if size else 0.0, text=f"downloading {model}: "
                                f"{catalog.size_text(done)} of {catalog.size_text(size)}")
            else:
                st.progress(step / total if total else 0.0, text=stage_words(job["stage"], step, total))
            st.text(f"elapsed {elapsed(job):.0f} s{time_left(job, step, total)}")
            if (preview := PREVIEWS.get(job["id"])) is not None:  # the image as it forms, refreshed every second
                st.image(preview, caption="as it forms", width=192, alt="the image as it forms")
        elif job["status"] == FAILED:
            render.error(job["error"] or "failed")
            failed_job_actions(job)
        if job["status"] in ACTIVE:
            st.button("Cancel", key=f"cancel-{job['id']}", on_click=queue.cancel, args=(job["id"],))
        if job["status"] == DONE and job["generation_id"]:
            show_result(person, job["generation_id"])


def failed_job_actions(job) -> None:
    """A failed job keeps its recording (for V2I_FAILED_KEEP_DAYS days): download it, or submit it again; one the
    doubt guard stopped opens on this page with its words to fix."""
    if not job["upload_path"]:
        st.caption("Its recording is no longer kept.")
        return
    left, right = st.columns(2)
    path = resources.store().file_path(job["upload_path"])
    left.download_button("Download the recording", data=lambda: open(path, "rb"), key=f"recording-{job['id']}",
                         file_name=f"{job['id']}{path.suffix}", on_click="ignore")
    if not job["doubtful_words"]:
        right.button("Submit again", key=f"again-{job['id']}", on_click=submit_again, args=([job["id"]],))
    elif right.button("Fix the words and generate again", key=f"fix-{job['id']}", type="primary"):
        fixing = st.session_state.setdefault("fixing", [])
        if job["id"] not in fixing:
            fixing.append(job["id"])
        st.rerun(scope="app")  # the whole page: the recording opens above, its words heard again to fix


def submit_again(job_ids: list[str]) -> None:
    for job_id in job_ids:
        try:
            resources.queue().resubmit(job_id, resources.person().id)
        except (V2IError, OSError) as err:
            render.error(f"Could not submit it again: {err}")
            return
    resources.worker().wake()
    st.toast(f"Queued {len(job_ids)} again")


def show_result(person: Person, generation_id: str) -> None:
    store = resources.store()
    try:
        row = store.get_generation(generation_id)
    except V2IError:
        st.text("This generation has since been deleted.")
        return
    path = store.file_path(row["image_path"])
    left, right = st.columns([2, 3])
    with left:
        if render.show_image_or_missing(path, alt=render.alt_text(row)):
            st.download_button("Download PNG", data=path.read_bytes(), file_name=f"{row['id']}.png", mime="image/png",
                               key=f"download-{row['id']}")
    with right:
        render.labelled_text("Transcript", row["transcript"])
        render.labelled_text("Prompt", row["prompt"])
        render.labelled_text("Seconds per stage", "  ".join(f"{s}: {row[f't_{s}']:.2f}" for s in TIMINGS))
        st.page_link("pages/history.py", label="Open in History", query_params={"id": row["id"]},
                     icon=":material/open_in_new:")
        forms.collection_picker(store, row["id"], person, key=f"collect-{row['id']}")


@st.fragment(run_every=1.0)
@render.shows_errors
def jobs_panel() -> None:
    """This person's jobs (across reloads, sessions and restarts), refreshed every second while the page is open."""
    queue, person = resources.queue(), resources.person()
    jobs = queue.list(person.id, limit=20)
    if jobs:
        st.subheader("Your jobs")
        resources.executor_warning()
    retry = [job["id"] for job in jobs if job["status"] == FAILED and job["upload_path"] and not job["doubtful_words"]]
    if len(retry) > 1:
        st.button(f"Submit all {len(retry)} failed jobs again", on_click=submit_again, args=(retry,))
    outlook = queue.outlook(resources.typical_seconds()) if any(j["status"] == QUEUED for j in jobs) else {}
    if outlook and (reason := queue.waiting_for_room()):
        st.warning(render.escape_markdown(f"The queue waits for disk space: {reason}."), icon=":material/storage:")
    cells = sweep.job_cells(queue.store, jobs)
    runs: dict[str, list[dict]] = {}
    for job in jobs:  # a run's cells together, under the run, where its newest job is
        runs.setdefault(cells[job["id"]].run_id or job["id"], []).append(job)
    for group in runs.values():
        first = cells[group[0]["id"]]
        if first.run_id is None:
            show_job(queue, person, group[0], outlook, first.paints)
            continue
        with st.container(border=True):
            st.markdown(f"**{render.escape_markdown(first.run)}** · {len(group)} of its jobs")
            for job in group:
                show_job(queue, person, job, outlook, cells[job["id"]].paints)

"""One generation in detail, as History opens it: the image and its recording (every word whisper heard), who made
it and when, the team's stars, its similarity notes, and what may be done with it (generate again, use its settings,
fix the words)."""

from __future__ import annotations

import json

import streamlit as st

from core import (
    COMMON_SIZES, GenerationRequest, Person, Store, V2IError, alignment, names_of, novelty_of, rate, rating_of, roles,
    timefmt,
)
from ui import forms, render, resources, words


def share_link(generation_id: str) -> str:
    """The address colleagues can open: V2I_PUBLIC_URL's when set (behind a proxy the page's own may be loopback),
    else this page's."""
    if public := resources.settings().public_url:
        return f"{public.rstrip('/')}/history?id={generation_id}"
    page_url = getattr(st.context, "url", None) or ""  # this page's address, when the browser sent one
    return f"{page_url.split('?')[0].rsplit('/', 1)[0]}/history?id={generation_id}"


def ratings(store: Store, person: Person, row: dict, place: str) -> None:
    """This person's stars and favourite mark, and everyone's mean (a viewer sees the mean only)."""
    if not roles.allowed(person, "rate"):
        if row["rating_count"]:
            st.text(f"Rated {row['rating_mean']:.1f} of 5 by {row['rating_count']}")
        return
    mine = rating_of(store, row["id"], person.id)
    stars = st.feedback("stars", key=f"{place}-stars-{row['id']}", default=None if mine["stars"] is None else mine["stars"] - 1)
    if stars is not None and stars + 1 != mine["stars"]:
        rate(store, row["id"], person, stars=stars + 1)
        st.rerun()
    favourite = st.toggle("One of my favourites", value=mine["favourite"], key=f"{place}-favourite-{row['id']}")
    if favourite != mine["favourite"]:
        rate(store, row["id"], person, favourite=favourite)
        st.rerun()
    if row["rating_count"]:
        st.text(f"Rated {row['rating_mean']:.1f} of 5 by {row['rating_count']}")


def detail(store: Store, person: Person, row: dict, place: str, tz: str | None = None) -> None:
    """One generation: image, recording, words, who made it, ratings, collections, timings and actions.
    ``place`` keeps its widgets apart when the same generation shows twice (linked, and opened below)."""
    with st.container(border=True):
        left, right = st.columns([1, 1])
        with left:
            render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))
            ratings(store, person, row, place)
            if roles.allowed(person, "collect"):
                forms.collection_picker(store, row["id"], person, key=f"{place}-collect-{row['id']}")
        with right:
            audio_path = store.file_path(row["audio_path"])
            heard = json_list_of_words(row.get("words"))
            if not audio_path.is_file():
                st.warning("The audio file is missing from the data folder.")
                words.word_player(heard, None, f"{place}-{row['id']}", heard=row.get("heard"))
            elif heard:  # the words as whisper heard them, doubtful ones marked; a word plays from where it was said
                words.word_player(heard, audio_path.read_bytes(), f"{place}-{row['id']}", heard=row.get("heard"))
            else:
                st.audio(str(audio_path))
            render.labelled_text("Made by", names_of(store, [row["created_by"]]).get(row["created_by"], "unknown"))
            st.caption("Made")  # as words; the exact time on hover (and in exports)
            st.text(timefmt.readable(row["created_at"], tz=tz), help=timefmt.exact(row["created_at"], tz))
            render.labelled_text("Link", share_link(row["id"]))
            render.labelled_text("Original file", row["audio_filename"])
            render.labelled_text("Transcript", row["transcript"])
            render.labelled_text("Prompt", row["prompt"])
            if removed := json_list(row.get("speech_removed")):
                render.labelled_text("Left out of the speech for the prompt", "; ".join(removed))
            if terms := json_list(row.get("vocabulary")):
                render.labelled_text("Team vocabulary whisper was given", ", ".join(terms))
            render.labelled_text("Negative prompt", row["negative_prompt"])
            st.plotly_chart(render.timing_chart(row), width="stretch", key=f"{place}-timings-{row['id']}")
            similarity_notes(store, row)
        with st.expander("All parameters"):
            st.json({k: v for k, v in row.items() if k not in ("transcript", "prompt", "negative_prompt")})
        actions(person, row, audio_path, place)


def json_list_of_words(text: str | None) -> list[dict]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [w for w in value if isinstance(w, dict) and {"word", "start", "end", "probability"} <= set(w)] \
        if isinstance(value, list) else []


def json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def similarity_notes(store: Store, row: dict) -> None:
    """CLIP alignment and novelty, from stored embeddings only: opening a row never loads CLIP (the worker computes
    them when the queue is quiet)."""
    cache = resources.embedding_cache()
    scores = alignment(cache, [row], compute=False).get(row["id"])
    novelty = novelty_of(store, cache.model_id, row["id"])
    if scores:
        st.text(f"CLIP alignment: image vs transcript {scores['transcript']:.3f}, image vs prompt "
                f"{scores['prompt']:.3f} (enhancement {scores['gain']:+.3f})")
    if novelty is not None:
        st.text(f"Novelty: closest earlier image at {novelty:.3f}")
    if not scores:
        st.caption("CLIP alignment and novelty appear once the embeddings are computed (on the Similarity "
                   "page, or by the worker when the queue is quiet).")


def actions(person: Person, row: dict, audio_path, place: str) -> None:
    """Generate again, use these settings on Generate, or fix the words first (members and admins)."""
    if not roles.allowed(person, "generate"):
        return
    buttons = st.columns(2)
    if buttons[0].button("Generate again with the same settings", key=f"{place}-again-{row['id']}"):
        try:
            resources.queue().submit(audio_path.read_bytes(), GenerationRequest.from_row(row), created_by=person.id)
            resources.worker().wake()
            st.success("Queued: follow it on the Generate page.")
        except (V2IError, ValueError, OSError) as err:
            render.error(f"Could not queue it: {err}")
    if buttons[1].button("Use these settings", key=f"{place}-use-{row['id']}"):
        request = GenerationRequest.from_row(row)
        options = request.options
        st.session_state["prefill"] = {
            "style": request.style, "recipe": options.recipe, "scheduler": options.scheduler, "steps": options.steps,
            "guidance": float(options.guidance), "seed": str(options.seed), "negative": request.negative_prompt or "",
        }
        if row["width"] in COMMON_SIZES and row["width"] == row["height"]:
            st.session_state["prefill"]["size"] = row["width"]
        st.switch_page("pages/generate.py")
    fix_and_generate_again(person, row, audio_path, place)


def fix_and_generate_again(person: Person, row: dict, audio_path, place: str) -> None:
    """Correct what whisper misheard and paint again with the same seed and recipe; the two are linked, so Insights
    can tell what the misheard words cost."""
    with st.expander("Fix the words and generate again"):
        fixed = st.text_area("What was said", value=row["transcript"], key=f"{place}-fix-{row['id']}")
        if st.button("Fix and generate again", key=f"{place}-fix-go-{row['id']}"):
            try:
                request = GenerationRequest.fixing(row, fixed)
                resources.queue().submit(audio_path.read_bytes(), request, created_by=person.id)
                resources.worker().wake()
                st.success("Queued with the same seed and recipe: follow it on the Generate page.")
            except (V2IError, ValueError, OSError) as err:
                render.error(f"Could not queue it: {err}")

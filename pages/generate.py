"""Generate: upload or record speech, transcribe it, edit the prompt, queue the image, watch it being made."""

import hashlib

import streamlit as st

from core import (
    RECIPES, STYLES, Doubts, GenerationRequest, V2IError, Word, abtest, catalog, doubt_of, doubts_in,
    edited, roles, speech_prompt, transcribe_recording, vocabulary,
)
from ui import render, resources, runs, words
from ui.image_settings import PageSettings, settings_form, vocabulary_form
from ui.jobs import jobs_panel

resources.ensure_navigation()

AUDIO_TYPES = ["wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "weba"]
PREVIEW_LIMIT = 20 * 2**20  # bytes: larger recordings get no player on the page


def source_key(data: bytes) -> str:
    """Names this recording's widgets and draft, so they follow the content, not its place in the list."""
    return hashlib.sha256(data).hexdigest()[:16]


def read_sources(uploads, recorded, fixed=()) -> tuple[list[tuple[str, memoryview, str]], list[str]]:
    """The recordings as (name, content, key), one per distinct content, and the names of repeated ones; ``fixed``:
    failed jobs' recordings being fixed, first. The content is a view of the uploaded file's own buffer: an upload
    is held once, never copied."""
    sources, seen, repeated = [], set(), []
    candidates = [(name, data) for name, data, _ in fixed] + [(f.name, f.getbuffer()) for f in uploads or []]
    if recorded is not None:
        candidates.append(("browser-recording.wav", recorded.getbuffer()))
    for name, data in candidates:
        key = source_key(data)
        if key in seen:
            repeated.append(name)
            continue
        seen.add(key)
        sources.append((name, data, key))
    return sources, repeated


def page_request(name: str, data: bytes, key: str, chosen: PageSettings) -> GenerationRequest | None:
    """What this recording's panel asks for, with the transcript and prompt the person sees (transcribed first
    when they were not: the worker never paints words nobody was shown); None (with the reason shown at the top of
    the panel) when nothing may be queued."""
    try:
        options = chosen.options()
    except ValueError as err:
        render.error(str(err))
        return None
    draft = drafts.get(key) or transcribe_source(name, data, key, chosen)
    if draft is None:
        return None
    force = bool(st.session_state.get(f"force-{key}"))
    if (doubts := doubts_of(draft, key)) and not force:
        notices.setdefault(key, []).append(f"{name}: {doubts.message()}")
        return None
    return GenerationRequest(
        filename=name, style=chosen.style, negative_prompt=chosen.negative or None, translate=chosen.translate,
        options=options, transcript=st.session_state.get(f"transcript-{key}"), language=draft["language"],
        transcribe_seconds=draft["transcribe_s"], prompt=st.session_state.get(f"prompt-{key}"),
        vocabulary=vocabulary(resources.store()), force=force, heard=draft.get("heard"),
        words=tuple(Word(**w) for w in draft.get("words", ())),
        speech_cut=tuple(tuple(span) for span in draft.get("speech_cut", ())),
    )


def doubts_of(draft: dict, key: str) -> Doubts:
    """What stops this recording's job now: whisper's doubted words still in the prompt and the recording's doubt,
    while the person has not changed the words (then they are theirs). The tiny profile's random-weight whisper
    doubts every word it makes up: only its recording-level doubt counts."""
    return doubts_in(whisper_words(draft), draft.get("doubt", ""), prompt=st.session_state.get(f"prompt-{key}") or "",
                     built=draft.get("built", ""), transcript=st.session_state.get(f"transcript-{key}"),
                     heard=draft.get("heard"))


def whisper_words(draft: dict) -> list[dict]:
    """Whisper's words with their confidence, when they count (none for the tiny profile's random whisper)."""
    return [] if settings.whisper_is_random else draft.get("words", [])


def heard_doubts(draft: dict) -> Doubts:
    """The doubts of the words as whisper gave them (before any change of the person's)."""
    built = draft.get("built", "")
    return doubts_in(whisper_words(draft), draft.get("doubt", ""), prompt=built, built=built)


def submit(name: str, data: bytes, key: str, chosen: PageSettings) -> bool:
    """Queue one recording (a failed job's, being fixed, replaces that job); False when nothing was queued."""
    request = page_request(name, data, key, chosen)
    if request is None:
        return False
    try:
        if fixing := fixing_jobs.get(key):  # the failed job's recording, its words fixed: that job again
            queue.resubmit(fixing, person.id, request)
            st.session_state["fixing"].remove(fixing)
        else:
            queue.submit(data, request, created_by=person.id)
    except (V2IError, ValueError) as err:
        notices.setdefault(key, []).append(f"{name}: {err}")
        return False
    resources.worker().wake()
    st.toast(render.said("{name}: queued again, with its words fixed", name=name) if fixing else "Queued")
    return True


def ab_run_form(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """Paint this recording with two to four recipes or styles at one seed; the team votes on Insights."""
    with st.expander("A/B run: compare recipes or styles on this recording"):
        variable = st.radio("Compare", abtest.VARIABLES, horizontal=True, key=f"ab-variable-{key}")
        values = st.multiselect(f"{variable.capitalize()}s (2 to {abtest.MAX_ARMS})",
                                list(RECIPES if variable == "recipe" else STYLES), key=f"ab-values-{key}",
                                max_selections=abtest.MAX_ARMS)
        if st.button("Start the A/B run", key=f"ab-start-{key}"):
            request = checked_request(name, data, key, chosen)
            if request is None:
                return
            try:
                run_id = abtest.start(queue, data, request, variable, values, person)
            except (V2IError, ValueError) as err:
                render.error(f"{name}: {err}")
                return
            resources.worker().wake()
            st.session_state[f"ab-run-{key}"] = run_id
        if run_id := st.session_state.get(f"ab-run-{key}"):
            st.page_link("pages/insights.py", label="Queued: vote on Insights when the images are made",
                         query_params={"run": run_id}, icon=":material/compare:")


def checked_request(name: str, data: bytes, key: str, chosen: PageSettings) -> GenerationRequest | None:
    """:func:`page_request` for a form lower in the panel (A/B runs, sweeps): what stops it is shown right there."""
    request = page_request(name, data, key, chosen)
    show_notices(key)
    return request


def show_notices(key: str) -> None:
    """Why this recording's last request queued nothing, once."""
    for text in notices.pop(key, []):
        render.error(text)


def transcribe_source(name: str, data: bytes, key: str, chosen: PageSettings) -> dict | None:
    """Whisper's transcript and the enhanced prompt, left in editable text areas; the draft they came from (None,
    with the reason among the notices, when the recording cannot be heard)."""
    try:
        with st.spinner("Transcribing..."):
            result = transcribe_recording(data, settings=settings, models=resources.models(),
                                          translate=chosen.translate, vocabulary=vocabulary(resources.store()))
        enhanced, spoken = speech_prompt(result.transcript.text, result.transcript.language, chosen.style,
                                         negative_prompt=chosen.negative or None)
    except (V2IError, ValueError) as err:
        notices.setdefault(key, []).append(f"{name}: {err}")
        return None
    drafts[key] = {"language": result.transcript.language, "transcribe_s": result.transcribe_s,
                   "avg_logprob": result.transcript.avg_logprob, "no_speech_prob": result.transcript.no_speech_prob,
                   "note": enhanced.note, "removed": spoken.note, "notes_for": enhanced.prompt,
                   "doubt": doubt_of(result, settings), "heard": result.transcript.text, "built": enhanced.prompt,
                   "words": [w.to_json() for w in result.transcript.words],
                   "speech_cut": [list(span) for span in result.transcript.speech_cut]}
    st.session_state[f"transcript-{key}"] = result.transcript.text
    st.session_state[f"prompt-{key}"] = enhanced.prompt
    st.session_state.pop(f"force-{key}", None)  # a new hearing: "Generate anyway" is asked again
    return drafts[key]


def rebuild_prompt(key: str, draft: dict, chosen: PageSettings) -> None:
    """The prompt built again from the transcript as it is now, with the notes about what it left out."""
    try:
        enhanced, spoken = speech_prompt(st.session_state[f"transcript-{key}"], draft["language"], chosen.style,
                                         negative_prompt=chosen.negative or None)
    except ValueError as err:
        notices.setdefault(key, []).append(str(err))
        return
    st.session_state[f"prompt-{key}"] = enhanced.prompt
    draft.update(note=enhanced.note, removed=spoken.note, notes_for=enhanced.prompt)


def doubt_view(draft: dict, key: str) -> None:
    """What stops the job now and the way past it, or that the person's changes made the words theirs."""
    doubts = doubts_of(draft, key)
    if doubts.words:
        st.warning(render.escape_markdown(f"{doubts.words_line()}. Listen to them above and fix them (in the "
                                          "transcript, then rebuild the prompt, or in the prompt) before generating."))
    if doubts.reason:
        st.warning(render.escape_markdown(f"Is this what was said? {doubts.reason}."))
    if doubts:
        st.checkbox("Generate anyway", key=f"force-{key}")
    elif heard_doubts(draft):  # there were doubts, and the person's changes made the words theirs
        st.caption("You changed the words: they are yours now, and whisper's doubts no longer hold the job back.")


def draft_view(draft: dict, key: str, chosen: PageSettings) -> None:
    """The transcript and the prompt to edit, the notes that still describe them, and the doubts."""
    if draft.get("speech_cut"):
        cut = sum(b - a for a, b in draft["speech_cut"])
        st.caption(f"{cut:.1f} s without speech (silence, long pauses) was left out before whisper.")
    english_only = f" (whisper {settings.whisper_model} hears English only)" \
        if settings.whisper_model.endswith(".en") else ""
    st.text(f"language: {draft['language']}{english_only}   confidence: mean log-prob "
            f"{draft['avg_logprob']:.2f}, no-speech {draft['no_speech_prob']:.2f}")
    st.text_area("Transcript", key=f"transcript-{key}")
    st.button("Rebuild the prompt from the transcript", key=f"rebuild-{key}", on_click=rebuild_prompt,
              args=(key, draft, chosen))
    st.text_area("Prompt", key=f"prompt-{key}")
    if not edited(st.session_state.get(f"prompt-{key}"), draft.get("notes_for")):  # notes follow the prompt
        if draft.get("removed"):
            render.labelled_text("Cleaned for the prompt", draft["removed"])
        if draft.get("note"):
            st.caption("Note")
            st.text(draft["note"])
    doubt_view(draft, key)


def source_panel(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """One recording: listen, transcribe, edit, generate."""
    with st.container(border=True):
        st.text(name + ("  ·  a failed job's recording: fix its words and generate again" if key in fixing_jobs
                        else ""))
        playable = len(data) <= PREVIEW_LIMIT  # a player would keep one more copy of a larger one in memory
        if not playable:
            st.caption(f"{len(data) / 2**20:.0f} MB: too large to play here; it is transcribed all the same.")
        buttons = st.columns([1, 1, 4])
        if buttons[0].button("Transcribe", key=f"transcribe-{key}"):
            transcribe_source(name, data, key, chosen)
        if buttons[1].button("Generate", key=f"generate-{key}", type="primary"):
            if submit(name, data, key, chosen) and key in fixing_jobs:  # heard first when it was not: see below
                st.rerun()  # no longer a failed job's recording: its panel goes, the job is below
        show_notices(key)
        draft = drafts.get(key)
        if draft and draft.get("words"):  # the words as heard, doubtful ones marked; a word plays from its second
            words.word_player(draft["words"], bytes(data) if playable else None, key)
        elif playable:
            st.audio(bytes(data))
        if draft:
            draft_view(draft, key, chosen)
        ab_run_form(name, data, key, chosen)
        runs.sweep_form(name, data, key, lambda: checked_request(name, data, key, chosen), queue, person,
                        resources.worker().wake)


def fixing_sources() -> dict[str, str]:
    """The failed jobs whose words this person came to fix ("Fix the words and generate again"), by their
    recording's key; a job that is gone (or whose recording is) is left out."""
    fixing = {}
    for job_id in list(st.session_state.get("fixing", [])):
        try:
            job = queue.get(job_id)
            data = memoryview(queue.upload_bytes(job)) if job["upload_path"] else None
        except (V2IError, OSError):
            data = None
        if data is None:
            st.session_state["fixing"].remove(job_id)
            continue
        key = source_key(data)
        fixing[key] = job_id
        fixed.append((job["audio_filename"] or f"job {job_id}", data, key))
    return fixing


# The page.
settings, queue, person = resources.settings(), resources.queue(), resources.person()
drafts = st.session_state.setdefault("drafts", {})
# Why each recording's last request queued nothing; shown once in its panel (kept across a rerun).
notices: dict[str, list[str]] = st.session_state.setdefault("notices", {})
# "Use these settings" on History leaves its values here; widgets read them once.
for setting, value in st.session_state.pop("prefill", {}).items():
    st.session_state[f"opt-{setting}"] = value

st.title("Generate")
# 0. A first run: which models are missing, how big, and the command (before anyone records).
if note := catalog.first_run_note(settings, st.session_state.get("opt-recipe", settings.recipe), resources.device()):
    st.warning(note, icon=":material/download:")
if not roles.allowed(person, "generate"):  # a viewer browses, searches, compares and downloads
    st.info(render.escape_markdown(f"{person.name}, you are a viewer here: you can browse, search, compare and "
                                   "download what the team made, but not make images. Ask an admin to make you a "
                                   "member."))
    jobs_panel()
    st.stop()
# 1. The recordings (one panel per distinct content), with any failed job's this person came to fix.
fixed: list[tuple[str, memoryview, str]] = []
fixing_jobs = fixing_sources()
sources, repeated = read_sources(st.file_uploader("Recordings", type=AUDIO_TYPES, accept_multiple_files=True),
                                 st.audio_input("Or record in the browser"), fixed)
if repeated:
    st.info(render.escape_markdown("Same recording as another one above, shown once: " + ", ".join(repeated)))
# 2. The settings every job from this page uses, and the team's vocabulary.
chosen = settings_form()
vocabulary_form()
# 3. Transcribe, edit, generate: one recording at a time, or all at once (each heard first, each guarded).
if len(sources) > 1 and st.button("Transcribe and generate all"):
    if [key for name, data, key in sources if submit(name, data, key, chosen) and key in fixing_jobs]:
        st.rerun()
for name, data, key in sources:
    if key in fixing_jobs and key not in drafts:  # they came to fix its words: show them at once
        transcribe_source(name, data, key, chosen)
    source_panel(name, data, key, chosen)
# 4. This person's jobs.
jobs_panel()

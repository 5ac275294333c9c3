"""Generate: upload or record speech, transcribe it, edit the prompt, queue the image, watch it being made."""

import hashlib

import streamlit as st

from core import (
    RECIPES, STYLES, GenerationRequest, V2IError, Word, abtest, catalog, doubt_of, doubtful_words_in, roles,
    speech_prompt, transcribe_recording, vocabulary,
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


def read_sources(uploads, recorded) -> tuple[list[tuple[str, memoryview, str]], list[str]]:
    """The recordings as (name, content, key), one per distinct content, and the names of repeated ones.
    The content is a view of the uploaded file's own buffer: an upload is held once, never copied."""
    sources, seen, repeated = [], set(), []
    candidates = [(f.name, f.getbuffer()) for f in uploads or []]
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


def page_request(name: str, key: str, chosen: PageSettings) -> GenerationRequest | None:
    """What this recording's panel asks for, with the transcript and prompt the person edited if they transcribed
    first; None (with the reason shown) when nothing may be queued."""
    try:
        options = chosen.options()
    except ValueError as err:
        render.error(str(err))
        return None
    draft = drafts.get(key)
    if draft and draft.get("doubt") and not st.session_state.get(f"force-{key}"):
        render.error(f"{name}: nothing was queued. The words may not be what was said: tick \"Generate anyway\" "
                     "if they are right, or edit the transcript.")
        return None
    if draft and (doubted := misheard(draft, key)) and not st.session_state.get(f"force-{key}"):
        render.error(f"{name}: nothing was queued. {len(doubted)} word(s) may be misheard: {', '.join(doubted)}. "
                     "Fix them in the transcript (then rebuild the prompt) or in the prompt, or tick \"Generate "
                     "anyway\" if they are right.")
        return None
    return GenerationRequest(
        filename=name, style=chosen.style, negative_prompt=chosen.negative or None, translate=chosen.translate,
        options=options,
        transcript=st.session_state.get(f"transcript-{key}") if draft else None,
        language=draft["language"] if draft else None,
        transcribe_seconds=draft["transcribe_s"] if draft else None,
        prompt=st.session_state.get(f"prompt-{key}") if draft else None,
        vocabulary=vocabulary(resources.store()), force=bool(st.session_state.get(f"force-{key}")),
        heard=draft.get("heard") if draft else None,
        words=tuple(Word(**w) for w in draft.get("words", ())) if draft else (),
        speech_cut=tuple(tuple(span) for span in draft.get("speech_cut", ())) if draft else (),
    )


def misheard(draft: dict, key: str) -> list[str]:
    """The words whisper doubted that would reach the image: still in the prompt about to be painted (none for the
    tiny profile's random-weight whisper, which doubts every word it makes up)."""
    if settings.whisper_is_random:
        return []
    return doubtful_words_in(draft.get("words", ()), st.session_state.get(f"prompt-{key}") or "")


def submit(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """Queue one recording."""
    request = page_request(name, key, chosen)
    if request is None:
        return
    try:
        queue.submit(data, request, created_by=person.id)
    except (V2IError, ValueError) as err:
        render.error(f"{name}: {err}")
        return
    resources.worker().wake()
    st.toast("Queued")


def ab_run_form(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """Paint this recording with two to four recipes or styles at one seed; the team votes on Insights."""
    with st.expander("A/B run: compare recipes or styles on this recording"):
        variable = st.radio("Compare", abtest.VARIABLES, horizontal=True, key=f"ab-variable-{key}")
        values = st.multiselect(f"{variable.capitalize()}s (2 to {abtest.MAX_ARMS})",
                                list(RECIPES if variable == "recipe" else STYLES), key=f"ab-values-{key}",
                                max_selections=abtest.MAX_ARMS)
        if st.button("Start the A/B run", key=f"ab-start-{key}"):
            request = page_request(name, key, chosen)
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


def transcribe_source(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """Whisper's transcript and the enhanced prompt, left in editable text areas."""
    try:
        with st.spinner("Transcribing..."):
            result = transcribe_recording(data, settings=settings, models=resources.models(),
                                          translate=chosen.translate, vocabulary=vocabulary(resources.store()))
        enhanced, spoken = speech_prompt(result.transcript.text, result.transcript.language, chosen.style,
                                         negative_prompt=chosen.negative or None)
    except (V2IError, ValueError) as err:
        render.error(f"{name}: {err}")
        return
    drafts[key] = {"language": result.transcript.language, "transcribe_s": result.transcribe_s,
                   "avg_logprob": result.transcript.avg_logprob, "no_speech_prob": result.transcript.no_speech_prob,
                   "note": enhanced.note, "removed": spoken.note, "doubt": doubt_of(result, settings),
                   "heard": result.transcript.text, "words": [w.to_json() for w in result.transcript.words],
                   "speech_cut": [list(span) for span in result.transcript.speech_cut]}
    st.session_state[f"transcript-{key}"] = result.transcript.text
    st.session_state[f"prompt-{key}"] = enhanced.prompt


def source_panel(name: str, data: bytes, key: str, chosen: PageSettings) -> None:
    """One recording: listen, transcribe, edit, generate."""
    with st.container(border=True):
        st.text(name)
        playable = len(data) <= PREVIEW_LIMIT  # a player would keep one more copy of a larger one in memory
        if not playable:
            st.caption(f"{len(data) / 2**20:.0f} MB: too large to play here; it is transcribed all the same.")
        buttons = st.columns([1, 1, 4])
        if buttons[0].button("Transcribe", key=f"transcribe-{key}"):
            transcribe_source(name, data, key, chosen)
        draft = drafts.get(key)
        if draft and draft.get("words"):  # the words as heard, doubtful ones marked; a word plays from its second
            words.word_player(draft["words"], bytes(data) if playable else None, key)
        elif playable:
            st.audio(bytes(data))
        if draft and draft.get("speech_cut"):
            cut = sum(b - a for a, b in draft["speech_cut"])
            st.caption(f"{cut:.1f} s without speech (silence, long pauses) was left out before whisper.")
        if draft:
            english_only = f" (whisper {settings.whisper_model} hears English only)" \
                if settings.whisper_model.endswith(".en") else ""
            st.text(f"language: {draft['language']}{english_only}   confidence: mean log-prob "
                    f"{draft['avg_logprob']:.2f}, no-speech {draft['no_speech_prob']:.2f}")
            st.text_area("Transcript", key=f"transcript-{key}")
            if st.button("Rebuild the prompt from the transcript", key=f"rebuild-{key}"):
                try:
                    st.session_state[f"prompt-{key}"] = speech_prompt(
                        st.session_state[f"transcript-{key}"], draft["language"], chosen.style,
                        negative_prompt=chosen.negative or None)[0].prompt
                    st.rerun()
                except ValueError as err:
                    render.error(str(err))
            st.text_area("Prompt", key=f"prompt-{key}")
            if draft.get("removed"):
                render.labelled_text("Cleaned for the prompt", draft["removed"])
            if draft.get("note"):
                st.caption("Note")
                st.text(draft["note"])
            doubted = misheard(draft, key)
            if doubted:
                st.warning(render.escape_markdown(f"{len(doubted)} word(s) may be misheard: {', '.join(doubted)}. "
                                                  "Listen to them above and fix them before generating."))
            if draft.get("doubt"):
                st.warning(render.escape_markdown(f"Is this what was said? {draft['doubt']}."))
            if doubted or draft.get("doubt"):
                st.checkbox("Generate anyway", key=f"force-{key}")
        if buttons[1].button("Generate", key=f"generate-{key}", type="primary"):
            submit(name, data, key, chosen)
        ab_run_form(name, data, key, chosen)
        runs.sweep_form(name, data, key, lambda: page_request(name, key, chosen), queue, person,
                        resources.worker().wake)


# The page.
settings, queue, person = resources.settings(), resources.queue(), resources.person()
drafts = st.session_state.setdefault("drafts", {})
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
# 1. The recordings (one panel per distinct content).
sources, repeated = read_sources(st.file_uploader("Recordings", type=AUDIO_TYPES, accept_multiple_files=True),
                                 st.audio_input("Or record in the browser"))
if repeated:
    st.info(render.escape_markdown("Same recording as another one above, shown once: " + ", ".join(repeated)))
# 2. The settings every job from this page uses, and the team's vocabulary.
chosen = settings_form()
vocabulary_form()
# 3. Transcribe, edit, generate.
for name, data, key in sources:
    source_panel(name, data, key, chosen)
if len(sources) > 1 and st.button("Transcribe and generate all"):
    for name, data, key in sources:
        submit(name, data, key, chosen)
# 4. This person's jobs.
jobs_panel()

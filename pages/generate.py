"""Generate: upload or record speech, transcribe it, edit the prompt, queue the image, watch it being made."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

import streamlit as st

from core import (
    ACTIVE, COMMON_SIZES, DONE, DOWNLOADS, FAILED, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, PREVIEWS, QUEUED, RECIPES,
    RUNNING, SCHEDULERS, STYLES, TIMINGS, GenerationOptions, GenerationRequest, V2IError, abtest, catalog, doubt_of,
    roles, set_vocabulary, speech_prompt, transcribe_recording, vocabulary, Word, doubtful_words_in,
)
from ui import forms, render, resources, runs, words

resources.ensure_navigation()

AUDIO_TYPES = ["wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "weba"]
PREVIEW_LIMIT = 20 * 2**20  # bytes: larger recordings get no player on the page


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


def settings_form() -> PageSettings:
    with st.expander("Image settings", expanded=False):
        left, middle, right = st.columns(3)
        style = left.selectbox("Style", list(STYLES), key="opt-style")
        st.session_state.setdefault("opt-recipe", settings.recipe)  # the server's default (V2I_RECIPE)
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
                saved = set_vocabulary(store, typed.splitlines(), person.id)
                st.toast(f"Saved {len(saved)} terms")
            except V2IError as err:
                render.error(str(err))


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
                run_id = abtest.start(queue, data, request, variable, values, person.id)
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


def elapsed(job) -> float:
    if not job["started_at"]:
        return 0.0
    end = datetime.fromisoformat(job["finished_at"]) if job["finished_at"] else datetime.now(timezone.utc)
    return max(0.0, (end - datetime.fromisoformat(job["started_at"])).total_seconds())


def show_job(job, outlook: dict) -> None:
    """One job; ``outlook`` is every queued job's place and ETA, read once per refresh (JobQueue.outlook)."""
    with st.container(border=True):
        st.text(f"{job['audio_filename']}  ·  {job['status']}")
        if job["status"] == QUEUED and job["id"] in outlook:
            place, eta = outlook[job["id"]]
            st.text(f"place in queue: {place}"
                    + (f", done in about {eta / 60:.0f} min" if eta is not None and eta >= 90 else
                       f", done in about {eta:.0f} s" if eta is not None else ""))
        elif job["status"] == RUNNING:
            step, total = job["step"] or 0, job["total_steps"] or 0
            seconds = elapsed(job)
            eta = f", about {seconds / step * (total - step):.0f} s left" if step and total else ""
            if job["stage"] == "download":  # a first run: the models come down before the job can start
                for model, (done, size) in DOWNLOADS.get(job["id"]).items():
                    st.progress(done / size if size else 0.0, text=f"downloading {model}: "
                                f"{catalog.size_text(done)} of {catalog.size_text(size)}")
            else:
                st.progress(step / total if total else 0.0, text=f"{job['stage']}: step {step}/{total}")
            st.text(f"elapsed {seconds:.0f} s{eta}")
            if (preview := PREVIEWS.get(job["id"])) is not None:  # the image as it forms, refreshed every second
                st.image(preview, caption="as it forms", width=192, alt="the image as it forms")
        elif job["status"] == FAILED:
            render.error(job["error"] or "failed")
            failed_job_actions(job)
        if job["status"] in ACTIVE:
            st.button("Cancel", key=f"cancel-{job['id']}", on_click=queue.cancel, args=(job["id"],))
        if job["status"] == DONE and job["generation_id"]:
            show_result(job["generation_id"])


def failed_job_actions(job) -> None:
    """A failed job keeps its recording (for V2I_FAILED_KEEP_DAYS days): download it, or submit it again."""
    if not job["upload_path"]:
        st.caption("Its recording is no longer kept.")
        return
    left, right = st.columns(2)
    path = resources.store().file_path(job["upload_path"])
    left.download_button("Download the recording", data=lambda: open(path, "rb"), key=f"recording-{job['id']}",
                         file_name=f"{job['id']}{path.suffix}", on_click="ignore")
    right.button("Submit again", key=f"again-{job['id']}", on_click=submit_again, args=([job["id"]],))


def submit_again(job_ids: list[str]) -> None:
    for job_id in job_ids:
        try:
            queue.resubmit(job_id, person.id)
        except (V2IError, OSError) as err:
            render.error(f"Could not submit it again: {err}")
            return
    resources.worker().wake()
    st.toast(f"Queued {len(job_ids)} again")


def show_result(generation_id: str) -> None:
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
        forms.collection_picker(resources.store(), row["id"], person.id, key=f"collect-{row['id']}")


@st.fragment(run_every=1.0)
@render.shows_errors
def jobs_panel() -> None:
    """This person's jobs (across reloads, sessions and restarts), refreshed every second while the page is open."""
    jobs = queue.list(person.id, limit=20)
    if jobs:
        st.subheader("Your jobs")
        resources.executor_warning()
    retry = [job["id"] for job in jobs if job["status"] == FAILED and job["upload_path"]]
    if len(retry) > 1:
        st.button(f"Submit all {len(retry)} failed jobs again", on_click=submit_again, args=(retry,))
    outlook = queue.outlook(resources.typical_seconds()) if any(j["status"] == QUEUED for j in jobs) else {}
    if outlook and (reason := queue.waiting_for_room()):
        st.warning(render.escape_markdown(f"The queue waits for disk space: {reason}."), icon=":material/storage:")
    for job in jobs:
        show_job(job, outlook)


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

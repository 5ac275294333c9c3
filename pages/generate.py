"""Generate: upload or record speech, transcribe it, edit the prompt, queue the image, watch it being made."""

import hashlib
from datetime import datetime, timezone

import streamlit as st

from core import RECIPES, SCHEDULERS, STYLES, GenerationOptions, V2IError, enhance_prompt, transcribe_recording
from core.generate import COMMON_SIZES
from core.jobs import ACTIVE, DONE, FAILED, QUEUED, JobSpec
from ui import render, resources

resources.ensure_navigation()

AUDIO_TYPES = ["wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "weba"]
settings, queue, owner = resources.settings(), resources.queue(), resources.owner()
drafts = st.session_state.setdefault("drafts", {})

# "Use these settings" on History leaves its values here; widgets read them once.
for name, value in st.session_state.pop("prefill", {}).items():
    st.session_state[f"opt-{name}"] = value

st.title("Generate")

# 1. The recordings.
uploads = st.file_uploader("Recordings", type=AUDIO_TYPES, accept_multiple_files=True)
recorded = st.audio_input("Or record in the browser")
sources = [(f.name, f.getvalue()) for f in uploads or []]
if recorded is not None:
    sources.append(("browser-recording.wav", recorded.getvalue()))

# 2. The settings every job from this page uses.
with st.expander("Image settings", expanded=False):
    left, middle, right = st.columns(3)
    style = left.selectbox("Style", list(STYLES), key="opt-style")
    recipe = left.selectbox("Recipe", list(RECIPES), key="opt-recipe",
                            format_func=lambda name: f"{name}: {RECIPES[name].note}")
    scheduler = middle.selectbox("Scheduler", [None, *SCHEDULERS], key="opt-scheduler",
                                 format_func=lambda name: "the recipe's" if name is None else name)
    steps = middle.number_input("Steps (empty: the recipe's)", min_value=1, max_value=150, value=None, key="opt-steps")
    guidance = middle.number_input("Guidance", min_value=0.0, max_value=30.0, value=GenerationOptions.guidance,
                                   step=0.5, key="opt-guidance")
    seed_text = right.text_input("Seed (empty for random)", key="opt-seed")
    size = right.selectbox("Size", COMMON_SIZES, key="opt-size")
    negative = st.text_input("Negative prompt (empty for the default)", key="opt-negative")
    translate = st.checkbox("Translate speech into English first", key="opt-translate")


def options() -> GenerationOptions | None:
    seed = None
    if seed_text.strip():
        try:
            seed = int(seed_text.strip())
        except ValueError:
            render.error(f"The seed must be a whole number from 0 to 4294967295, not {seed_text.strip()!r}.")
            return None
    chosen = {"steps": int(steps)} if steps else {}
    if scheduler:
        chosen["scheduler"] = scheduler
    return GenerationOptions.from_recipe(recipe, guidance=float(guidance), seed=seed, width=int(size),
                                         height=int(size), **chosen)


def submit(name: str, data: bytes, key: str) -> None:
    opts = options()
    if opts is None:
        return
    draft = drafts.get(key)
    spec = JobSpec(
        filename=name, style=style, negative_prompt=negative or None, translate=translate, options=opts,
        transcript=st.session_state.get(f"transcript-{key}") if draft else None,
        language=draft["language"] if draft else None,
        transcribe_seconds=draft["transcribe_s"] if draft else None,
        prompt=st.session_state.get(f"prompt-{key}") if draft else None,
    )
    try:
        queue.submit(data, spec, owner=owner)
    except (V2IError, ValueError) as err:
        render.error(f"{name}: {err}")
        return
    resources.worker().wake()
    st.toast("Queued")


def transcribe(name: str, data: bytes, key: str) -> None:
    try:
        with st.spinner("Transcribing..."):
            result = transcribe_recording(data, settings=settings, models=resources.models(), translate=translate)
        enhanced = enhance_prompt(result.transcript.text, style, negative_prompt=negative or None)
    except (V2IError, ValueError) as err:
        render.error(f"{name}: {err}")
        return
    drafts[key] = {"language": result.transcript.language, "transcribe_s": result.transcribe_s,
                   "avg_logprob": result.transcript.avg_logprob, "no_speech_prob": result.transcript.no_speech_prob,
                   "note": enhanced.note}
    st.session_state[f"transcript-{key}"] = result.transcript.text
    st.session_state[f"prompt-{key}"] = enhanced.prompt


def source_key(data: bytes) -> str:
    """Names this recording's widgets and draft, so they follow the content, not its place in the list."""
    return hashlib.sha256(data).hexdigest()[:16]


# 3. One panel per recording: transcribe, edit, generate.
for name, data in sources:
    key = source_key(data)
    with st.container(border=True):
        st.text(name)
        st.audio(data)
        buttons = st.columns([1, 1, 4])
        if buttons[0].button("Transcribe", key=f"transcribe-{key}"):
            transcribe(name, data, key)
        draft = drafts.get(key)
        if draft:
            st.text(f"language: {draft['language']}   confidence: mean log-prob {draft['avg_logprob']:.2f}, "
                    f"no-speech {draft['no_speech_prob']:.2f}")
            st.text_area("Transcript", key=f"transcript-{key}")
            if st.button("Rebuild the prompt from the transcript", key=f"rebuild-{key}"):
                try:
                    st.session_state[f"prompt-{key}"] = enhance_prompt(
                        st.session_state[f"transcript-{key}"], style, negative_prompt=negative or None).prompt
                    st.rerun()
                except ValueError as err:
                    render.error(str(err))
            st.text_area("Prompt", key=f"prompt-{key}")
            if draft.get("note"):
                st.caption("Note")
                st.text(draft["note"])
        if buttons[1].button("Generate", key=f"generate-{key}", type="primary"):
            submit(name, data, key)

if len(sources) > 1 and st.button("Transcribe and generate all"):
    for name, data in sources:
        submit(name, data, source_key(data))


# 4. This person's jobs, refreshed every second while the page is open.
def elapsed(job) -> float:
    if not job["started_at"]:
        return 0.0
    end = datetime.fromisoformat(job["finished_at"]) if job["finished_at"] else datetime.now(timezone.utc)
    return max(0.0, (end - datetime.fromisoformat(job["started_at"])).total_seconds())


def show_job(job) -> None:
    with st.container(border=True):
        st.text(f"{job['audio_filename']}  ·  {job['status']}")
        if job["status"] == QUEUED:
            st.text(f"place in queue: {queue.position(job['id'])}")
        elif job["status"] == "running":
            step, total = job["step"] or 0, job["total_steps"] or 0
            seconds = elapsed(job)
            eta = f", about {seconds / step * (total - step):.0f} s left" if step and total else ""
            st.progress(step / total if total else 0.0, text=f"{job['stage']}: step {step}/{total}")
            st.text(f"elapsed {seconds:.0f} s{eta}")
        elif job["status"] == FAILED:
            render.error(job["error"] or "failed")
        if job["status"] in ACTIVE:
            st.button("Cancel", key=f"cancel-{job['id']}", on_click=queue.cancel, args=(job["id"],))
        if job["status"] == DONE and job["generation_id"]:
            show_result(job["generation_id"])


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
        if render.show_image_or_missing(path):
            st.download_button("Download PNG", data=path.read_bytes(), file_name=f"{row['id']}.png", mime="image/png",
                               key=f"download-{row['id']}")
    with right:
        render.labelled_text("Transcript", row["transcript"])
        render.labelled_text("Prompt", row["prompt"])
        render.labelled_text("Seconds per stage", "  ".join(
            f"{s}: {row[f't_{s}']:.2f}" for s in ("decode", "transcribe", "enhance", "generate", "total")))


@st.fragment(run_every=1.0)
def jobs_panel() -> None:
    jobs = queue.list(owner=owner, limit=20)
    if jobs:
        st.subheader("Your jobs")
    for job in jobs:
        show_job(job)


jobs_panel()

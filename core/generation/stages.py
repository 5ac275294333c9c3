"""The stages of a generation, named once: what progress reports, what is timed and stored."""

# What ``progress(stage, step, total)`` reports, in order; ``step/total`` count denoising steps while generating.
PROGRESS_STAGES = ("load", "download", "decode", "transcribe", "enhance", "generate", "save")
# What is timed per generation, each stored as ``t_<stage>``; ``total`` spans them all.
TIMED_STAGES = ("decode", "transcribe", "enhance", "generate")
TIMINGS = (*TIMED_STAGES, "total")
TIMING_COLUMNS = tuple(f"t_{stage}" for stage in TIMINGS)


def timings_of(row: dict) -> dict[str, float | None]:
    """A stored row's seconds per stage, keyed by stage name."""
    return {stage: row.get(f"t_{stage}") for stage in TIMINGS}

"""One generation, from a recording to a painted image: ``audio`` decodes, ``vad`` cuts silence, ``transcribe``
(openai-whisper) or ``faster`` (faster-whisper) hear it as a ``transcript``, ``speech`` and ``prompt`` make the
prompt, ``recipes`` and ``request`` say what may be asked (no model loaded), ``diffusion`` paints, ``stages`` names the
timed steps, and ``pipeline`` tells the whole story. ``synth`` makes recordings in code for tests and demos."""

"""One generation's parts, from a recording to a painted image, with no store: ``audio`` decodes, ``vad`` cuts
silence, ``transcribe`` (openai-whisper) or ``faster`` (faster-whisper) hear it as a ``transcript``, ``doubts``
holds back the words whisper doubted, ``speech`` and ``prompt`` make the prompt, ``request`` says what may be asked, ``diffusion`` paints, ``stages`` names the timed
steps. ``synth`` makes recordings in code for tests and demos. The whole story, kept in the history, is
:mod:`core.execution.pipeline`'s; the recipes a request starts from are :mod:`core.config.recipes`."""

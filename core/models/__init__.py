"""The models: ``loaders`` load them, ``cache`` keeps them (once per process), ``backends`` chooses whisper's
(openai-whisper or faster-whisper) and finds its model, ``steady`` makes faster-whisper's fallback repeat itself,
``adapters`` owns a shared UNet's LoRAs and ``weights`` its exact weights, ``lowmem`` decodes with less memory,
``tiny`` builds the random-weight test models, ``whisper_ct2`` converts CTranslate2's whisper, ``hub`` knows caches
and pins, ``catalog`` says which models and whether cached, ``downloads`` fetches them and ``mirror`` checks what a
mirror sends. Below the generation, which runs them."""

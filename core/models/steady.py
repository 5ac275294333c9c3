"""faster-whisper's model with a fallback that repeats itself.

When a segment fails whisper's checks at temperature 0 (too unsure, too repetitive), whisper decodes it again by
sampling at rising temperatures. CTranslate2 seeds its sampler once per worker thread, so that sampling cannot
repeat itself from one call to the next, and sending the recording to openai-whisper's seeded sampling instead
loaded a second model and decoded up to five more times (a hard 2.4 s clip took ten times an easy one). Here the
fallback is beam search at temperature 0 on the same encoder output, once per failing segment: deterministic, one
more decode, no second model. Which result failed whisper's checks even so is left to the caller to read
(:mod:`core.generation.faster` marks it not understood).
"""

from __future__ import annotations

import functools
from dataclasses import replace

FALLBACK_BEAM = 5  # openai-whisper's own beam size (its command line's default)


def passes_checks(decoded, options) -> bool:
    """Whether one decode of a segment (faster-whisper's ``(result, avg_logprob, temperature, compression_ratio)``)
    passes whisper's checks: sure and not repetitive enough, or silence (skipped, not retried)."""
    result, avg_logprob, _, compression_ratio = decoded
    unsure = options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold
    repetitive = options.compression_ratio_threshold is not None and compression_ratio > options.compression_ratio_threshold
    silent = options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold and unsure
    return silent or not (unsure or repetitive)


class SteadyFallback:
    """Mixed into faster-whisper's ``WhisperModel`` (:func:`steady`): its temperature fallback is beam search at
    temperature 0. The fallback runs when the call asks for one (more than one temperature); the temperatures
    themselves are not sampled."""

    fallback_beam = FALLBACK_BEAM

    def generate_with_fallback(self, encoder_output, prompt, tokenizer, options):
        greedy = replace(options, temperatures=[0.0], beam_size=1)
        first = super().generate_with_fallback(encoder_output, prompt, tokenizer, greedy)
        if len(options.temperatures) <= 1 or passes_checks(first, options):
            return first
        beam = replace(options, temperatures=[0.0], beam_size=self.fallback_beam, patience=1.0)
        return super().generate_with_fallback(encoder_output, prompt, tokenizer, beam)


@functools.cache
def steady(model_class: type) -> type:
    """``model_class`` (faster-whisper's ``WhisperModel``, imported on first use) with :class:`SteadyFallback`
    first in its order."""
    return type(f"Steady{model_class.__name__}", (SteadyFallback, model_class), {"__module__": __name__})

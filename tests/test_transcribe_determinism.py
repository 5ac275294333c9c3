"""The same recording, the same words: whisper's temperature fallback samples with a seed derived from the
recording; words that fail whisper's own checks at every temperature are refused, not kept (issue 32, 16)."""

import numpy as np
import pytest

from core.generation.transcribe import TranscribeOptions, not_understood, not_understood_reason, seed_of, transcribe


def test_the_seed_follows_the_recording():
    a = np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    assert seed_of(a) == seed_of(a.copy()) and seed_of(a) != seed_of(a[::-1].copy())


@pytest.mark.parametrize("segments, refused", [
    ([], False),
    ([{"temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.2}], False),
    ([{"temperature": 1.0, "avg_logprob": -2.9, "compression_ratio": 1.2}], True),
    ([{"temperature": 1.0, "avg_logprob": -1.5, "compression_ratio": 1.2}], False),  # unsure, but mostly words
    ([{"temperature": 1.0, "avg_logprob": -0.5, "compression_ratio": 3.1}], True),
    ([{"temperature": 1.0, "avg_logprob": -0.5, "compression_ratio": 1.1}], False),  # passed at the last try
    ([{"temperature": 1.0, "avg_logprob": -2.9, "compression_ratio": 1.2},
      {"temperature": 0.2, "avg_logprob": -0.4, "compression_ratio": 1.3}], False),  # one segment was understood
])
def test_words_that_failed_every_temperature_are_not_understood(segments, refused):
    assert not_understood(segments) is refused


@pytest.fixture(scope="module")
def random_whisper(tiny_models_dir):
    import whisper
    from helpers import random_whisper as path_of

    return whisper.load_model(path_of(tiny_models_dir), device="cpu")


def test_a_random_whisper_with_every_fallback_gives_the_same_outcome_twice(random_whisper):
    """Random weights fail every check, so every temperature samples: the outcome must still repeat."""
    import torch

    samples = (np.random.default_rng(3).standard_normal(16_000 * 2) * 0.1).astype(np.float32)
    options = TranscribeOptions(sample_len=6)  # the fallback on (not greedy), short decodes
    torch.manual_seed(0)
    outcomes = [transcribe(random_whisper, samples, options) for _ in range(2)]
    after = torch.rand(1)
    assert outcomes[0] == outcomes[1]
    assert not outcomes[0].understood  # random weights never pass whisper's checks
    assert "did not understand" in not_understood_reason(outcomes[0])
    torch.manual_seed(0)
    assert torch.rand(1) == after  # the process's own random state is as the caller left it

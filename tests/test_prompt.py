import pytest

from core.generation.prompt import DEFAULT_NEGATIVE_PROMPT, STYLES, enhance_prompt, estimate_tokens


def test_the_default_style_appends_quality_modifiers_after_the_speakers_words():
    result = enhance_prompt("a red fox in the snow")
    assert result.prompt == "a red fox in the snow, detailed, high quality, photorealistic"
    assert result.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert not result.truncated


def test_modifiers_are_never_appended_twice():
    once = enhance_prompt("a red fox in the snow").prompt
    assert enhance_prompt(once).prompt == once


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_keeps_the_speakers_words_first(style):
    result = enhance_prompt("A lighthouse at dusk.", style)
    assert result.prompt.startswith("A lighthouse at dusk")
    assert result.style == style


def test_the_none_style_adds_nothing():
    assert enhance_prompt("a quiet harbour", "none").prompt == "a quiet harbour"


def test_an_unknown_style_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        enhance_prompt("a cat", "baroque")
    assert "'baroque'" in str(err.value)
    for name in STYLES:
        assert name in str(err.value)


def test_the_person_can_give_their_own_negative_prompt():
    assert enhance_prompt("a cat", negative_prompt="dogs").negative_prompt == "dogs"


def test_an_empty_transcript_is_refused():
    with pytest.raises(ValueError, match="empty"):
        enhance_prompt("  \n\t ")


def test_control_characters_are_removed_and_whitespace_collapsed():
    assert enhance_prompt("a\x00 cat\x1b[31m\n\non  a mat", "none").prompt == "a cat [31m on a mat"


def test_a_long_transcript_is_cut_at_the_token_window_and_says_so():
    words = " ".join(f"word{i % 10}" for i in range(200))
    result = enhance_prompt(words)
    assert result.truncated
    assert result.dropped_words > 0
    assert "left out" in result.note
    assert estimate_tokens(result.prompt) <= 75
    assert words.startswith(result.prompt)  # only whole words, from the start


def test_modifiers_that_do_not_fit_are_left_out_with_a_note_not_the_speakers_words():
    words = " ".join(["fox"] * 72)
    result = enhance_prompt(words)
    assert not result.truncated
    assert result.prompt.startswith(words)
    assert estimate_tokens(result.prompt) <= 75
    assert "did not fit" in result.note


def test_a_real_tokenizer_can_count_instead_of_the_estimate():
    from core.models.tiny import build_clip_tokenizer

    tokenizer = build_clip_tokenizer()  # byte-level: one token per character
    count = lambda text: len(tokenizer(text).input_ids) - 2  # noqa: E731
    result = enhance_prompt("a cat sitting on a very long windowsill", count_tokens=count)
    assert count(result.prompt) <= 75
    assert result.prompt.startswith("a cat sitting on a very long windowsill")

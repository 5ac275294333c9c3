import pytest

from core import InvalidOptionError, Person, check_name, clean_text, email_allowed, local_person, normal_email


@pytest.mark.parametrize("text, why", [("", "empty"), ("   ", "empty"), ("x" * 101, "at most 100"),
                                       ("bad\x07name", "control"),
                                       ("Eve\u202etxt.exe", "text-direction")])
def test_a_name_must_be_1_to_100_printable_characters(text, why):
    with pytest.raises(InvalidOptionError, match=why):
        check_name(text)


def test_a_name_keeps_its_words_with_tidy_spaces():
    assert check_name("  Ana   María ") == "Ana María"
    assert check_name("x" * 100) == "x" * 100


def test_without_a_gate_the_person_is_v2i_user_else_the_os_user():
    assert local_person("ana") == Person("ana", "ana")
    assert local_person("").id  # the OS user name


@pytest.mark.parametrize("email, allowed", [
    ("ana@example.com", True), ("ANA@Example.com", True), ("bob@team.org", True), ("eve@evil.org", False),
    ("eve@example.com.evil.org", False), ("team.org", False), ("", False), ("eve@sub.team.org", False),
])
def test_only_emails_on_the_allow_list_get_in(email, allowed):
    assert email_allowed(email, ["ana@example.com"], ["team.org"]) is allowed


def test_with_no_allow_list_nobody_gets_in():
    assert not email_allowed("ana@example.com", [], [])


@pytest.mark.parametrize("name", ["Zahra\u200cKarimi", "\U0001F469\u200d\U0001F4BB Ana", "Ελένη", "José", "李雷",
                                  "\u2764\ufe0f Bo"])
def test_names_with_joiners_emoji_and_any_script_are_accepted(name):
    assert check_name(name) == name


def test_text_shown_from_elsewhere_loses_its_controls_and_direction_overrides():
    assert clean_text("voice\u202e4pm.wav") == "voice4pm.wav"
    assert clean_text("a\x00b\n  c\u200dd") == "ab c\u200dd"  # the joiner stays: real names use it


@pytest.mark.parametrize("email", ["boss@\u212Aodak.com", "ａｎａ@example.com", "ana@example.com\u202e"])
def test_a_look_alike_email_never_passes_the_allow_list(email):
    assert not email_allowed(email, ["boss@kodak.com", "ana@example.com"], ["kodak.com"])
    with pytest.raises(InvalidOptionError, match="look-alike"):
        normal_email(email)


def test_emails_compare_case_folded():
    assert normal_email(" Ana@Example.COM ") == "ana@example.com"
    assert email_allowed("STRASSE@team.org", ["straße@team.org"], [])


def test_a_recordings_name_cannot_reverse_the_text_it_is_shown_in():
    from core import GenerationRequest

    request = GenerationRequest(filename="memo\u202evaw.exe")
    assert request.filename == "memovaw.exe"
    assert GenerationRequest.from_json(request.to_json()).filename == "memovaw.exe"
    assert GenerationRequest(filename="\u202e\x00").filename == "recording"

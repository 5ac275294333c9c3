import pytest

from core import InvalidOptionError, Person, check_name, email_allowed, local_person


@pytest.mark.parametrize("text, why", [("", "empty"), ("   ", "empty"), ("x" * 101, "at most 100"),
                                       ("bad\x07name", "control characters")])
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

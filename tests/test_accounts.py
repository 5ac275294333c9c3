"""Per-person passwords (the ``accounts = true`` sign-in): ``python -m core people add|reset|remove|list``, scrypt
hashes, one-time passwords replaced at first sign-in. The gate's pages are in test_page_access.py."""

import json

import pytest

from core import InvalidOptionError, NotFoundError, Store, accounts
from core.cli import main


def test_people_add_prints_a_one_time_password_that_signs_in_once(tiny_env, data_dir, capsys):
    assert main(["people", "add", "Zahra\u200cKarimi", "--json"]) == 0
    given = json.loads(capsys.readouterr().out)
    store = Store(data_dir)
    assert accounts.sign_in(store, "Zahra\u200cKarimi", given["one_time_password"]) == \
        accounts.SignIn(True, "zahra\u200ckarimi", must_change=True, name="Zahra\u200cKarimi")  # id folded, name kept
    (row,) = store.query("SELECT * FROM accounts")
    assert given["one_time_password"] not in json.dumps(row)  # only a hash is stored
    assert row["password_hash"].startswith("scrypt$16384$8$1$")


def test_reset_replaces_the_password_and_remove_closes_the_account(tiny_env, data_dir, capsys):
    store = Store(data_dir)
    first = accounts.add_person(store, "Bob")
    assert main(["people", "reset", "Bob"]) == 0
    second = capsys.readouterr().out.split(": ")[1].split()[0]
    assert not accounts.sign_in(store, "Bob", first).ok and accounts.sign_in(store, "Bob", second).ok
    assert main(["people", "list", "--json"]) == 0
    assert [(r["person"], r["name"]) for r in json.loads(capsys.readouterr().out)] == [("bob", "Bob")]
    assert main(["people", "remove", "Bob"]) == 0
    assert not accounts.sign_in(store, "Bob", second).ok


def test_bad_requests_name_the_problem_and_change_nothing(tiny_env, data_dir, capsys):
    store = Store(data_dir)
    accounts.add_person(store, "Bob")
    before = store.query("SELECT * FROM accounts")
    assert main(["people", "add", "Bob"]) == 1
    assert "Bob already has an account" in capsys.readouterr().err
    assert main(["people", "reset", "Nobody"]) == 1
    assert "Nobody has no account" in capsys.readouterr().err
    assert main(["people", "add", "Eve\u202e"]) == 1
    assert "text-direction" in capsys.readouterr().err
    assert store.query("SELECT * FROM accounts") == before


def test_a_new_password_must_be_long_enough_new_and_proven_by_the_old_one(store):
    one_time = accounts.add_person(store, "Ana")
    with pytest.raises(InvalidOptionError, match="10 to 200"):
        accounts.change_password(store, "Ana", one_time, "short")
    with pytest.raises(InvalidOptionError, match="not right"):
        accounts.change_password(store, "Ana", "wrong guess!!", "a long new phrase")
    with pytest.raises(InvalidOptionError, match="other than the one-time"):
        accounts.change_password(store, "Ana", one_time, one_time)
    accounts.change_password(store, "Ana", one_time, "a long new phrase")
    assert accounts.sign_in(store, "Ana", "a long new phrase") == accounts.SignIn(True, "ana", False, "Ana")
    with pytest.raises(NotFoundError):
        accounts.reset_password(store, "Nobody")

"""``python -m core people add|reset|remove|list``: per-person passwords for the ``accounts = true`` sign-in."""

from __future__ import annotations

import argparse
import json

from core import Person, Store, accounts, gate, roles

from .common import person_of


def add_parser(commands) -> None:
    people = commands.add_parser("people", help="per-person passwords (the accounts sign-in): add, reset, remove, list")
    actions = people.add_subparsers(dest="people_command", required=True, parser_class=commands._parser_class)
    for name, text in (("add", "give NAME an account; prints a one-time password, to replace at first sign-in"),
                       ("reset", "a new one-time password for NAME (the old password stops working)"),
                       ("remove", "close NAME's account (what they made stays theirs)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", metavar="NAME")
        action.add_argument("--json", action="store_true")
    actions.add_parser("list", help="everyone with an account").add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings, store: Store) -> int:
    if args.people_command == "list":
        admins, viewers = gate.role_lists(settings.admins, settings.viewers)
        rows = [{**row, "role": roles.role_for(Person(row["person"], row["name"]), admins, viewers).role}
                for row in accounts.accounts(store)]
        if args.json:
            print(json.dumps(rows))
        for row in [] if args.json else rows:
            state = "one-time password not yet replaced" if row["one_time"] else f"password set {row['changed_at']}"
            print(f"{row['name']}  {row['role']}  ({state})")
        return 0
    admin = person_of(args, settings, store, "people")
    if args.people_command == "remove":
        revoked = accounts.remove_person(store, args.name, admin)
        print(json.dumps({"person": args.name, "removed": True, "tokens_revoked": revoked}) if args.json else
              f"{args.name}'s account is closed" + (f" and their {revoked} API {'token is' if revoked == 1 else 'tokens are'}"
                                                    " revoked." if revoked else "."))
        return 0
    make = accounts.add_person if args.people_command == "add" else accounts.reset_password
    password = make(store, args.name, admin)
    if args.json:
        print(json.dumps({"person": args.name, "one_time_password": password}))
    else:
        print(f"One-time password for {args.name}: {password}\n"
              "Give it to them privately; it is shown only now. They choose their own at their first sign-in.")
    return 0

"""``python -m core delete|trash|audit``: keeping the team's work safe from the command line (core.trash,
core.audit), each refusal one plain line, as the dashboard says it."""

from __future__ import annotations

import json

from . import audit, trash
from .cli_common import person_of
from .paths import check_id


def add_parsers(commands) -> None:
    delete = commands.add_parser("delete", help="move a generation to the trash (restorable for V2I_TRASH_DAYS days)")
    delete.add_argument("id")
    delete.add_argument("--as", dest="person", default=None, metavar="NAME")

    binned = commands.add_parser("trash", help="what is in the trash, who deleted it, when it will be purged; "
                                               "--restore ID brings one back, --empty (admins) purges all")
    action = binned.add_mutually_exclusive_group()
    action.add_argument("--restore", default=None, metavar="ID")
    action.add_argument("--empty", action="store_true")
    binned.add_argument("--as", dest="person", default=None, metavar="NAME")
    binned.add_argument("--json", action="store_true")

    trail = commands.add_parser("audit", help="the audit trail, newest first (admins)")
    trail.add_argument("--who", default=None, metavar="PERSON")
    trail.add_argument("--action", default=None, choices=audit.ACTIONS)
    trail.add_argument("--since", default=None, metavar="DATE")
    trail.add_argument("--limit", type=int, default=50)
    trail.add_argument("--as", dest="person", default=None, metavar="NAME")
    trail.add_argument("--json", action="store_true")


def _delete(args, settings, store) -> int:
    person = person_of(args, settings, store)
    trash.delete(store, check_id(args.id), person)
    print(f"{args.id} is in the trash: `python -m core trash --restore {args.id}` brings it back "
          f"(within {settings.trash_days:g} days)")
    return 0


def _trash(args, settings, store) -> int:
    person = person_of(args, settings, store)
    if args.restore:
        trash.restore(store, check_id(args.restore), person)
        print(json.dumps({"restored": args.restore}) if args.json else f"{args.restore} is back in the history")
        return 0
    if args.empty:
        purged = trash.empty(store, person)
        print(json.dumps({"purged": purged}) if args.json else f"The trash is empty: {purged} purged for good")
        return 0
    items = trash.items(store, settings.trash_days)
    if args.json:
        print(json.dumps(items))
        return 0
    for item in items:
        print(f"{item['generation_id']}  deleted by {item['deleted_by']} at {item['deleted_at'][:19]}  purged after "
              f"{item['purge_at'][:10]}  {(item['transcript'] or '')[:50]!r}")
    if not items:
        print("The trash is empty.")
    return 0


def _audit(args, settings, store) -> int:
    person_of(args, settings, store, "audit")
    rows = audit.trail(store, who=args.who, action=args.action, since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(f"{row['at'][:19]}  {row['who']}  ({row['source']})  {row['action']}  {row['target'] or ''}  "
              f"{row['detail'] or ''}".rstrip())
    return 0


COMMANDS = {"delete": _delete, "trash": _trash, "audit": _audit}


"""``python -m core rate|collect|collections``: a person's stars and favourites, and shared collections."""

from __future__ import annotations

import json

from .common import person_of, ranged
from core import InvalidOptionError, check_id, collect, collections, rate, uncollect


def add_parsers(commands) -> None:
    rate = commands.add_parser("rate", help="give a generation 1 to 5 stars, and/or mark it a favourite")
    rate.add_argument("id")
    rate.add_argument("--stars", type=ranged(int, 1, 5, "a whole number"), default=None)
    rate.add_argument("--favourite", action="store_true", help="mark it one of your favourites")
    rate.add_argument("--blind", action="store_true",
                      help="rated without seeing who made it or others' stars (someone else's image)")
    rate.add_argument("--note", default=None, help="a short note kept with the rating")
    rate.add_argument("--as", dest="person", default=None, metavar="NAME")
    rate.add_argument("--json", action="store_true")

    collect = commands.add_parser("collect", help="add a generation to a shared collection, or take it out")
    collect.add_argument("id")
    where = collect.add_mutually_exclusive_group(required=True)
    where.add_argument("--into", metavar="NAME", help="the collection (made on first use)")
    where.add_argument("--remove-from", metavar="NAME")
    collect.add_argument("--as", dest="person", default=None, metavar="NAME")

    listed = commands.add_parser("collections", help="every collection and its size")
    listed.add_argument("--json", action="store_true")


def _rate(args, settings, store) -> int:
    if args.stars is None and not args.favourite:
        raise InvalidOptionError("say what to record: --stars N (1 to 5) and/or --favourite")
    person = person_of(args, settings, store, "rate")
    rating = rate(store, check_id(args.id), person, stars=args.stars, favourite=True if args.favourite else None,
                  blind=args.blind, note=args.note)
    print(json.dumps({"id": args.id, **rating}) if args.json else
          f"{args.id}: {rating['stars'] or 'no'} stars{', a favourite' if rating['favourite'] else ''} from {person.id}")
    return 0


def _collect(args, settings, store) -> int:
    person = person_of(args, settings, store, "collect")
    check_id(args.id)
    if args.into is not None:
        name = collect(store, args.id, args.into, person)
        print(f"{args.id} is in {name!r}")
    else:
        uncollect(store, args.id, args.remove_from, person)
        print(f"{args.id} is no longer in {args.remove_from!r}")
    return 0


def _collections(args, settings, store) -> int:
    for row in collections(store):
        print(json.dumps(row, ensure_ascii=False) if args.json else f"{row['name']}  ({row['size']})")
    return 0


COMMANDS = {"rate": _rate, "collect": _collect, "collections": _collections}

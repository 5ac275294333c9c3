"""``python -m core delete|trash|audit|backup|restore|check``: keeping the team's work safe from the command line (core.history.trash,
core.history.audit), each refusal one plain line, as the dashboard says it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from core import InvalidOptionError, JobQueue, audit, backup, counted, check_id, trash

from .common import person_of


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

    saved = commands.add_parser("backup", help="a consistent copy of the database and its files into DEST, while "
                                               "the dashboard runs; again into DEST copies only new files (admins)")
    saved.add_argument("dest", type=Path, metavar="DEST")
    saved.add_argument("--keep", type=int, default=None, metavar="N", help="keep the newest N snapshots in DEST")
    saved.add_argument("--as", dest="person", default=None, metavar="NAME")
    saved.add_argument("--json", action="store_true")

    back = commands.add_parser("restore", help="restore a backup into a new, empty data folder, every checksum "
                                               "checked first (admins)")
    back.add_argument("src", type=Path, metavar="SRC")
    back.add_argument("--into", type=Path, required=True, metavar="DIR")
    back.add_argument("--as", dest="person", default=None, metavar="NAME")
    back.add_argument("--json", action="store_true")

    queue = commands.add_parser("queue", help="pause or resume the job queue, or move a queued job to the front "
                                              "(admins)")
    queue.add_argument("action", choices=("pause", "resume", "front"))
    queue.add_argument("job", nargs="?", default=None, metavar="JOB", help="with front: the job's id")
    queue.add_argument("--as", dest="person", default=None, metavar="NAME")

    checked = commands.add_parser("check", help="is the data folder whole: the database's integrity, migrations, "
                                                "every row's files, files no row refers to")
    checked.add_argument("folder", nargs="?", type=Path, default=None, metavar="DIR",
                         help="a data folder (default: V2I_DATA_DIR)")
    checked.add_argument("--json", action="store_true")


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


def _backup(args, settings, store) -> int:
    person = person_of(args, settings, store)
    result = backup.backup(store, args.dest, person, keep=args.keep,
                           key=backup.load_key(settings.backup_key, settings.data_dir))
    if args.json:
        print(json.dumps({**asdict(result), "whole": result.whole}))
    else:
        print(f"Backed up to {args.dest}: snapshot {result.stamp}, database {counted(result.database_size, 'byte')}, "
              f"{counted(result.files, 'file')} ({result.copied:,} copied now)" + (", signed" if result.signed else ""))
    for relative in result.missing:
        print(f"error: {relative} is referred to by the database but missing from the data folder", file=sys.stderr)
    if not result.whole:
        print(f"error: the backup is not whole: {counted(len(result.missing), 'file')} it refers to missing from the "
              "data folder "
              "(`python -m core check` says more)", file=sys.stderr)
    return 0 if result.whole else 1


def _restore(args, settings, store) -> int:
    report = backup.restore(args.src, args.into, person_of(args, settings, store), store,
                            key=backup.load_key(settings.backup_key, settings.data_dir))
    print(json.dumps(report.to_json()) if args.json else
          f"Restored into {args.into}; its check: {'ok' if report.ok else 'problems found'}. "
          f"Point V2I_DATA_DIR at it to use it.")
    return 0 if report.ok else 1


def _check(args, settings, store) -> int:
    report = backup.check(args.folder or settings.data_dir)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0 if report.ok else 1
    print(f"database integrity: {report.integrity}")
    print(f"migrations: {'all applied' if not report.pending_migrations else 'pending ' + ', '.join(report.pending_migrations)}")
    for kind, what in (("missing", "missing"), ("damaged", "damaged"), ("orphans", "orphan")):
        items = getattr(report, kind)
        print(f"{what} files: {len(items):,}" + "".join(f"\n  {item}" for item in items[:50]) +
              (f"\n  ... and {len(items) - 50:,} more" if len(items) > 50 else ""))
    print("The data folder is whole." if report.ok else "Problems found.")
    return 0 if report.ok else 1


def _queue(args, settings, store) -> int:
    person = person_of(args, settings, store)
    queue = JobQueue.for_settings(store, settings)
    if args.action == "front":
        if not args.job:
            raise InvalidOptionError("name the job to move to the front: queue front JOB")
        queue.move_to_front(check_id(args.job), person)
        print(f"{args.job} runs next")
    else:
        queue.set_paused(args.action == "pause", person)
        print("The queue is paused: running jobs finish, no new one starts." if args.action == "pause" else
              "The queue runs again.")
    return 0


COMMANDS = {"queue": _queue, "delete": _delete, "trash": _trash, "audit": _audit, "backup": _backup, "restore": _restore,
            "check": _check}


"""``python -m core``: a thin command line over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from core import (
    DEFAULT_STYLE, MAX_GUIDANCE, MAX_SEED, MAX_SIDE, MAX_STEPS, RECIPES, SCHEDULERS, STYLES, GenerationOptions,
    HistoryFilter, InvalidOptionError, JobQueue, Person, StorageError, Store, V2IError, audit, catalog, check_name, counted,
    collections_of, export_collection, export_csv, load_settings, local_person, provenance, public_record,
    resolve_person, run_generation, shared_models, worker_for,
)
from . import api, judging, models, people, safety, similarity, team
from .common import LIMIT, Parser as _Parser, each_file as _each_file, person_of, ranged as _ranged


def generation_options() -> argparse.ArgumentParser:
    """What generate, submit and sweep share: the recordings, who asks, and the image's settings."""
    options = _Parser(add_help=False)
    options.add_argument("files", nargs="+", type=Path, metavar="FILE")
    options.add_argument("--as", dest="person", default=None, metavar="NAME",
                         help="who is asking (default: V2I_USER, else the OS user name)")
    options.add_argument("--recipe", default=None,
                         help=f"one of: {', '.join(RECIPES)} (default: V2I_RECIPE, else default)")
    options.add_argument("--steps", type=_ranged(int, 1, MAX_STEPS, "a whole number"), default=None,
                         help="override the recipe's number of steps")
    options.add_argument("--seed", type=_ranged(int, 0, MAX_SEED, "a whole number"), default=None,
                         help="random when not given (and always stored)")
    options.add_argument("--guidance", type=_ranged(float, 0.0, MAX_GUIDANCE, "a number"),
                         default=GenerationOptions.guidance)
    options.add_argument("--scheduler", default=None, help=f"override the recipe's: one of {', '.join(SCHEDULERS)}")
    options.add_argument("--size", type=_ranged(int, 64, MAX_SIDE, "a whole number"), default=512,
                         help="width and height in pixels (a multiple of 8)")
    options.add_argument("--style", default=DEFAULT_STYLE, help=f"one of: {', '.join(STYLES)}")
    options.add_argument("--negative", default=None, help="negative prompt (default: a standard one)")
    options.add_argument("--prompt", default=None, help="use this prompt instead of the enhanced transcript")
    options.add_argument("--translate", action="store_true", help="translate the speech into English first")
    options.add_argument("--safety-checker", action="store_true", help="run SD's safety checker and store its verdict")
    options.add_argument("--force", action="store_true",
                         help="generate even when the words look like whisper's invention over silence")
    options.add_argument("--json", action="store_true", help="print one JSON object per line")
    return options


def build_parser() -> argparse.ArgumentParser:
    prog = "v2i" if Path(sys.argv[0]).name == "v2i" else "python -m core"  # as the person typed it
    parser = _Parser(prog=prog, description="Voice to image: speech in, stored image out.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    options = generation_options()
    commands.add_parser("generate", parents=[options], help="one stored generation per recording, made now")
    commands.add_parser("submit", parents=[options], help="queue one job per recording (a worker makes them)")

    jobs = commands.add_parser("jobs", help="queued and recent jobs, with their status and place")
    jobs.add_argument("--as", dest="person", default=None, metavar="NAME", help="only this person's jobs")
    jobs.add_argument("--limit", type=LIMIT, default=50)
    jobs.add_argument("--json", action="store_true")

    worker = commands.add_parser("worker", help="run the job queue in this process, in its fair order")
    worker.add_argument("--until-empty", action="store_true", help="stop when no job is left (default: run on)")

    filters = _Parser(add_help=False)  # what history and export select by
    filters.add_argument("--search", default=None, help="full-text search over transcript and prompt")
    filters.add_argument("--by", default=None, metavar="NAME", help="made by this person (a name or an email)")
    filters.add_argument("--collection", default=None, metavar="NAME")
    filters.add_argument("--min-rating", type=_ranged(float, 1.0, 5.0, "a number"), default=None, metavar="N")
    filters.add_argument("--favourites-of", default=None, metavar="NAME")

    export = commands.add_parser("export", parents=[filters], help="the selected generations as CSV and/or a ZIP")
    export.add_argument("--csv", type=Path, default=None, metavar="FILE")
    export.add_argument("--zip", type=Path, default=None, metavar="FILE",
                        help="their images, with a manifest.csv of their rows")
    export.add_argument("--preferences", type=Path, default=None, metavar="DIR",
                        help="every vote and every blind-rating gap of two stars as (prompt, chosen, rejected) pairs: "
                             "a Hugging Face image dataset (metadata.jsonl and images/) in a new folder")

    history = commands.add_parser("history", parents=[filters], help="stored generations, newest first")
    history.add_argument("--limit", type=LIMIT, default=20)
    history.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="one stored generation")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")


    team.add_parsers(commands)
    similarity.add_parsers(commands)
    models.add_parsers(commands)
    people.add_parser(commands)
    judging.add_parsers(commands, options)
    safety.add_parsers(commands)
    api.add_parsers(commands)
    api.add_hook_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        store = Store(settings.data_dir)
        if args.command in ID_COMMANDS and getattr(args, "id", None):  # any unique prefix of 6 or more will do
            args.id = store.resolve_id(args.id)
        if getattr(args, "restore", None):
            args.restore = store.resolve_id(args.restore, "trash", "trashed generation", "generation_id")
        if args.command in PAINTS:
            provenance.check_signing(settings)  # before the first image, not after painting every one
        return COMMANDS[args.command](args, settings, store)
    except (V2IError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `v2i history | head`: the reader has what it wanted; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more reaches the closed pipe
        return 0


def run() -> None:
    """The ``v2i`` command (installed with the project): ``python -m core`` from any folder."""
    sys.exit(main())


_person = person_of


def _generate(args, settings, store) -> int:
    person = _person(args, settings, store, "generate")
    if settings.is_tiny:
        print(f"note: {settings.tiny_note}", file=sys.stderr)
    models = shared_models(settings)

    def make(path, data, request):
        with _ProgressBar(path.name) as bar:
            row = run_generation(data, request, settings=settings, models=models, store=store, progress=bar.update,
                                 created_by=person.id, download=_print_download)
        if args.json:
            print(json.dumps(public_record(row), ensure_ascii=False), flush=True)
        else:
            print(f"{path}: stored {row['id']} -> {store.file_path(row['image_path'])} ({row['t_total']:.1f} s)", flush=True)

    return _each_file(args, settings, store, make)


def _print_download(model: str, done: int, total: int) -> None:
    """A first run downloads the missing models before the job: say so, with the bytes (twice a second at most)."""
    print(f"downloading {model}: {catalog.size_text(done)} of {catalog.size_text(total)}", file=sys.stderr, flush=True)


def _submit(args, settings, store) -> int:
    person = _person(args, settings, store, "generate")
    queue = JobQueue.for_settings(store, settings)

    def queue_it(path, data, request):
        job_id = queue.submit(data, request, created_by=person.id)
        record = {"id": job_id, "position": queue.position(job_id), "created_by": person.id}
        print(json.dumps(record) if args.json else f"{job_id}  place {record['position']}  {person.id}", flush=True)

    return _each_file(args, settings, store, queue_it)


def _jobs(args, settings, store) -> int:
    queue = JobQueue.for_settings(store, settings)
    person = None if args.person is None else check_name(args.person, "name")
    places = {job["id"]: place for place, job in enumerate(queue.order(), start=1)}
    for job in queue.list(person, limit=args.limit):
        record = {"id": job["id"], "status": job["status"], "position": places.get(job["id"]),
                  "created_by": job["created_by"], "created_at": job["created_at"], "file": job["audio_filename"],
                  "stage": job["stage"], "error": job["error"], "generation_id": job["generation_id"]}
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            place = f" (place {record['position']})" if record["position"] else ""
            print(f"{job['id']}  {job['status']}{place}  {job['created_by']}  {job['audio_filename']}"
                  + (f"  {job['error']}" if job["error"] else ""))
    return 0


def _worker(args, settings, store) -> int:
    worker = worker_for(settings, shared_models(settings), store, embed=False)  # V2I_EXECUTOR: here, or on Ray
    if args.until_empty:
        worker.queue.recover()
        try:
            ran = worker.run_pending()
        finally:
            worker.stop()
        print(f"ran {counted(ran, 'job')}; the queue is empty", file=sys.stderr)
        return 0
    worker.start()
    print("worker running; Ctrl-C stops it", file=sys.stderr)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        worker.stop()
    return 0


def _filter_of(args, store) -> HistoryFilter:
    def who(text):
        return None if text is None else resolve_person(store, check_name(text, "name"))

    collection = None if args.collection is None else check_name(args.collection, "collection name")
    return HistoryFilter(search=args.search, created_by=who(args.by), collection=collection,
                         min_rating=args.min_rating, favourites_of=who(args.favourites_of))


def _export(args, settings, store) -> int:
    if args.csv is None and args.zip is None and args.preferences is None:
        raise InvalidOptionError("say where to write: --csv FILE, --zip FILE and/or --preferences DIR")
    if args.preferences is not None:
        judging.export_preferences(args, settings, store)
    where = _filter_of(args, store)
    for path, export in ((args.csv, export_csv), (args.zip, export_collection)):
        if path is None:
            continue
        temporary = path.with_name(f".{path.name}.partial")
        try:
            with open(temporary, "wb") as target:
                count = export(store, where, target)
            temporary.replace(path)
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise StorageError(f"cannot write {path}: {err.strerror or err}") from None
        print(f"{path}: {counted(count, 'generation')}", file=sys.stderr)
        audit.record(store, Person(local_person(settings.user).id, "", source="cli"), "export", str(path),
                     counted(count, "generation"))
    return 0


class _ProgressBar:
    """A terminal progress bar over the denoising steps, with the stage in its description."""

    def __init__(self, name: str):
        from tqdm import tqdm  # tqdm loads with a download's progress bars

        self._bar = tqdm(total=0, desc=f"{name}: decode", unit="step", file=sys.stderr, leave=False,
                         disable=not sys.stderr.isatty())
        self._name = name

    def update(self, stage: str, step: int, total: int) -> None:
        self._bar.set_description_str(f"{self._name}: {stage}")
        if total and self._bar.total != total:
            self._bar.reset(total=total)
        if total:
            self._bar.n = step
        self._bar.refresh()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


def _history(args, settings, store) -> int:
    rows = store.query_generations(_filter_of(args, store), limit=args.limit)
    collected = collections_of(store, [row["id"] for row in rows])
    for row in rows:
        if args.json:
            print(json.dumps(public_record(row, collected[row["id"]]), ensure_ascii=False))
        else:
            stars = f" {row['rating_mean']:.1f}*({row['rating_count']})" if row["rating_count"] else ""
            print(f"{row['id']}  {row['created_at']}  {row['created_by']}  [{row['language']}]{stars}  "
                  f"{row['transcript'][:60]}")
    if not rows and not args.json:
        print("no generations found", file=sys.stderr)
    return 0


def _show(args, settings, store) -> int:
    store.get_generation(args.id)  # a clear error for a malformed or unknown id
    (row,) = store.query_generations(HistoryFilter(ids=(args.id,)))
    record = public_record(row, collections_of(store, [args.id])[args.id])
    if args.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        for key, value in record.items():
            print(f"{key}: {value}")
    return 0


ID_COMMANDS = ("show", "rate", "collect", "delete", "neighbours")
PAINTS = ("generate", "submit", "worker", "serve", "sweep")  # commands that make (or queue) images
COMMANDS = {
    "generate": _generate, "submit": _submit, "jobs": _jobs, "worker": _worker, "export": _export,
    "history": _history, "show": _show, "people": people.run, **team.COMMANDS, **similarity.COMMANDS,
    **models.COMMANDS, **safety.COMMANDS, **api.COMMANDS,
    **judging.COMMANDS,
}

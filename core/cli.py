"""``python -m core``: a thin command line over the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .config import load_settings
from .errors import V2IError
from .diffusion import MAX_GUIDANCE, MAX_SEED, MAX_SIDE, MAX_STEPS, RECIPES, SCHEDULERS, GenerationOptions
from .models import shared_models
from .pipeline import run_generation
from .prompt import DEFAULT_STYLE, STYLES
from .request import GenerationRequest
from .store import HistoryFilter, Store, public_record


class _Parser(argparse.ArgumentParser):
    """Bad arguments give one line on stderr (``error: ...``) and exit status 2, as the library's errors do."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def _ranged(kind: type, low, high, what: str):
    """An argparse type: a number of ``kind`` from ``low`` to ``high``; the error names the value and the range."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (low <= value <= high) or value != value:
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what} from {low} to {high}")
        return value

    return parse


LIMIT = _ranged(int, 1, 10_000, "a whole number")
K = _ranged(int, 1, 1_000, "a whole number")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Voice to image: speech in, stored image out.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="one stored generation per recording")
    generate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    generate.add_argument("--recipe", default="default", help=f"one of: {', '.join(RECIPES)} (scheduler, steps, caching)")
    generate.add_argument("--steps", type=_ranged(int, 1, MAX_STEPS, "a whole number"), default=None,
                          help="override the recipe's number of steps")
    generate.add_argument("--seed", type=_ranged(int, 0, MAX_SEED, "a whole number"), default=None,
                          help="random when not given (and always stored)")
    generate.add_argument("--guidance", type=_ranged(float, 0.0, MAX_GUIDANCE, "a number"),
                          default=GenerationOptions.guidance)
    generate.add_argument("--scheduler", default=None, help=f"override the recipe's: one of {', '.join(SCHEDULERS)}")
    generate.add_argument("--size", type=_ranged(int, 64, MAX_SIDE, "a whole number"), default=512, help="width and height in pixels (a multiple of 8)")
    generate.add_argument("--style", default=DEFAULT_STYLE, help=f"one of: {', '.join(STYLES)}")
    generate.add_argument("--negative", default=None, help="negative prompt (default: a standard one)")
    generate.add_argument("--prompt", default=None, help="use this prompt instead of the enhanced transcript")
    generate.add_argument("--translate", action="store_true", help="translate the speech into English first")
    generate.add_argument("--safety-checker", action="store_true", help="run SD's safety checker and store its verdict")
    generate.add_argument("--json", action="store_true", help="print each stored generation as one JSON line")

    history = commands.add_parser("history", help="stored generations, newest first")
    history.add_argument("--search", default=None, help="full-text search over transcript and prompt")
    history.add_argument("--limit", type=LIMIT, default=20)
    history.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="one stored generation")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")

    delete = commands.add_parser("delete", help="remove a generation's row and its files")
    delete.add_argument("id")

    similar = commands.add_parser("similarity", help="pairwise cosine similarity of all stored images (CLIP)")
    similar.add_argument("--json", action="store_true")

    near = commands.add_parser("neighbours", help="the stored images most like this generation's")
    near.add_argument("id")
    near.add_argument("-k", type=K, default=5)
    near.add_argument("--json", action="store_true")

    find = commands.add_parser("search", help="stored images that best match some words (CLIP)")
    find.add_argument("text")
    find.add_argument("-k", type=K, default=10)
    find.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        store = Store(settings.data_dir)
        return COMMANDS[args.command](args, settings, store)
    except (V2IError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _generate(args, settings, store) -> int:
    if settings.is_tiny:
        print("note: tiny profile: its models have random weights: transcripts are gibberish and images noise",
              file=sys.stderr)
    overrides = {name: value for name, value in (("steps", args.steps), ("scheduler", args.scheduler)) if value is not None}
    options = GenerationOptions.from_recipe(
        args.recipe, guidance=args.guidance, seed=args.seed, width=args.size, height=args.size,
        safety_checker=args.safety_checker, **overrides,
    )
    models = shared_models(settings)
    failed = 0
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as err:
            print(f"{path}: cannot read the file ({err.strerror or err})", file=sys.stderr)
            failed += 1
            continue
        request = GenerationRequest(
            filename=path.name, style=args.style, prompt=args.prompt,
            negative_prompt=args.negative, translate=args.translate, options=options,
        )
        try:
            with _ProgressBar(path.name) as bar:
                row = run_generation(data, request, settings=settings, models=models, store=store, progress=bar.update)
        except (V2IError, ValueError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(public_record(row), ensure_ascii=False), flush=True)
        else:
            print(f"{path}: stored {row['id']} -> {store.file_path(row['image_path'])} ({row['t_total']:.1f} s)", flush=True)
    return 1 if failed else 0


class _ProgressBar:
    """A terminal progress bar over the denoising steps, with the stage in its description."""

    def __init__(self, name: str):
        from tqdm import tqdm

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
    rows = store.query_generations(HistoryFilter(search=args.search), limit=args.limit)
    for row in rows:
        if args.json:
            print(json.dumps(public_record(row), ensure_ascii=False))
        else:
            print(f"{row['id']}  {row['created_at']}  [{row['language']}]  {row['transcript'][:60]}")
    if not rows and not args.json:
        print("no generations found", file=sys.stderr)
    return 0


def _show(args, settings, store) -> int:
    row = store.get_generation(args.id)
    if args.json:
        print(json.dumps(public_record(row), ensure_ascii=False, indent=2))
    else:
        for key, value in public_record(row).items():
            print(f"{key}: {value}")
    return 0


def _delete(args, settings, store) -> int:
    store.delete_generation(args.id)
    print(f"deleted {args.id}")
    return 0


def _similarity_set(settings, store):
    from .similarity import load_set
    from .embeddings import EmbeddingCache

    cache = EmbeddingCache(store, shared_models(settings).clip())
    return load_set(store, cache), cache


def _similarity(args, settings, store) -> int:
    data, _ = _similarity_set(settings, store)
    result = {"ids": data.ids, "matrix": [[round(float(v), 6) for v in row] for row in data.matrix],
              "computed_embeddings": data.computed}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(data.ids)} images; {data.computed} embeddings computed now")
        for generation_id, row in zip(data.ids, data.matrix):
            print(generation_id[:8], " ".join(f"{v:5.2f}" for v in row))
    return 0


def _print_scored(items, as_json: bool) -> None:
    for item in items:
        print(json.dumps(item) if as_json else f"{item['id']}  {item['score']:.4f}")


def _neighbours(args, settings, store) -> int:
    from .similarity import neighbours

    store.get_generation(args.id)  # a clear error for a malformed or unknown id
    data, _ = _similarity_set(settings, store)
    _print_scored(neighbours(data, args.id, args.k), args.json)
    return 0


def _search(args, settings, store) -> int:
    from .similarity import search

    data, cache = _similarity_set(settings, store)
    _print_scored(search(data, cache, args.text, args.k), args.json)
    return 0


COMMANDS = {
    "generate": _generate, "history": _history, "show": _show, "delete": _delete,
    "similarity": _similarity, "neighbours": _neighbours, "search": _search,
}

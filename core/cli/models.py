"""``python -m core models list|pull``: the models this server loads, cached or not, and their download."""

from __future__ import annotations

import json

from core import RECIPES, best_device, catalog, downloads

from .common import Parser


def add_parsers(commands) -> None:
    held = commands.add_parser("models", help="the models this server loads: list them, or download them")
    model_commands = held.add_subparsers(dest="models_command", required=True, parser_class=Parser)
    listing = model_commands.add_parser("list", help="each model, its pinned revision, cached or not, its size")
    listing.add_argument("--json", action="store_true")
    pulling = model_commands.add_parser("pull", help="download exactly the files the app loads (resumes; checks "
                                                     "free disk space first)")
    pulling.add_argument("group", nargs="?", default="all", choices=catalog.GROUPS + ("all",),
                         help="whisper, sd (with the turbo recipe's LoRA and decoder), clip, or all (default)")
    pulling.add_argument("--recipe", default=None, choices=tuple(RECIPES),
                         help="only what this recipe needs (default: every recipe)")
    pulling.add_argument("--safety-checker", action="store_true", help="SD's safety checker as well")


def _models(args, settings, store) -> int:
    device = best_device()
    if args.models_command == "list":
        states = catalog.states(settings, device=device)
        if args.json:
            print(json.dumps([state.to_json() for state in states]))
            return 0
        print(f"Models for this server ({settings.profile} profile, {device}); sizes are what a pull downloads")
        for state in states:
            m = state.model
            status = f"cached, {catalog.size_text(state.size_on_disk)} on disk" if state.cached else \
                f"not cached, about {catalog.size_text(m.known_size())} to download"
            print(f"  {m.label:<24} {m.source}  @ {m.revision}  {status}")
        wanted = [state for state in states if not state.cached]
        if wanted:
            known = [state.model.known_size() for state in wanted]
            total = "an unknown size" if None in known else f"about {catalog.size_text(sum(known))}"
            print(f"To download them ({total}): python -m core models pull all")
        return 0
    recipes = (args.recipe,) if args.recipe else None
    print(f"Looking up the files of the {args.group} models...", flush=True)
    planned = downloads.plan(settings, args.group, recipes=recipes, safety_checker=args.safety_checker, device=device,
                             verify_cached=True)
    if not planned.models:
        print("Nothing to download: every model is already on this machine, and its files check out.")
        return 0
    for model in planned.models:
        print(f"  {model.state.model.label:<24} {model.state.model.source}  @ {model.commit}  "
              f"{catalog.size_text(model.to_download)} in {sum(not f.cached for f in model.files)} files")
    print(f"Total to download: {catalog.size_text(planned.total)}", flush=True)
    downloads.check_space(planned)
    downloads.pull(planned)
    print("Done: every model is on this machine.")
    return 0


COMMANDS = {"models": _models}

"""``python -m core sweep|sheet|vote|report`` and ``export --preferences``: judging images as a team."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core import JobQueue, StorageError, audit, contact_sheet, counted, factors, preferences, sweep

from .common import each_file, embedding_cache, person_of


def add_parsers(commands, options) -> None:
    made = commands.add_parser("sweep", parents=[options],
                               help="queue a grid of one to three settings over a recording, as one run")
    made.add_argument("--vary", action="append", required=True, metavar="NAME=V1,V2,...",
                      help=f"a setting and its values, once per axis (1 to {sweep.MAX_AXES}): "
                           f"one of {', '.join(sweep.AXES)}; for example --vary steps=4,8,20")

    sheet = commands.add_parser("sheet", help="a sweep's contact sheet as one PNG, its grid in its parameters")
    sheet.add_argument("run", metavar="RUN")
    sheet.add_argument("--out", type=Path, required=True, metavar="FILE")

    voted = commands.add_parser("vote", help="the best image of a sweep or an A/B run (a later vote replaces yours)")
    voted.add_argument("run", metavar="RUN")
    voted.add_argument("id", metavar="ID")
    voted.add_argument("--as", dest="person", default=None, metavar="NAME")

    insight = commands.add_parser("report", help="what works: ratings, alignment and seconds by recipe, style, "
                                                 "language, person; the raters' agreement and offsets; stage "
                                                 "blame; win rates (95%% intervals)")
    insight.add_argument("--blind-only", action="store_true", help="count blind ratings only")
    insight.add_argument("--adjusted", action="store_true", help="read each rating less its rater's offset")
    insight.add_argument("--json", action="store_true")


def _sweep(args, settings, store) -> int:
    person = person_of(args, settings, store, "generate")
    axes = [sweep.parse_axis(text) for text in args.vary]
    queue = JobQueue.for_settings(store, settings)

    def queue_it(path, data, request):
        run_id = sweep.start(queue, data, request, axes, person)
        run = sweep.run_of(store, run_id)
        cells = [{"values": values, "label": sweep.cell_label(sweep.axes_of(run), values)}
                 for values in sweep.cells(sweep.axes_of(run))]
        if args.json:
            print(json.dumps({"run": run_id, "file": path.name, "axes": run["axes_list"], "cells": cells}))
        else:
            print(f"{run_id}  {len(cells)} cells queued for {path.name}")
            for cell in cells:
                print(f"  {cell['label']}")

    return each_file(args, settings, store, queue_it)


def _sheet(args, settings, store) -> int:
    data = contact_sheet.contact_sheet(store, sweep.run_of(store, sweep.find_run(store, args.run)))
    try:
        temporary = args.out.with_name(f".{args.out.name}.partial")
        temporary.write_bytes(data)
        temporary.replace(args.out)
    except OSError as err:
        raise StorageError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(f"{args.out}: the contact sheet of run {args.run}", file=sys.stderr)
    return 0


def _vote(args, settings, store) -> int:
    person = person_of(args, settings, store, "vote")
    sweep.vote(store, sweep.find_run(store, args.run), store.resolve_id(args.id), person)
    print(f"{person.id} voted for {args.id} in run {args.run}")
    return 0


def export_preferences(args, settings, store) -> None:
    count = preferences.export_preferences(store, args.preferences)
    print(f"{args.preferences}: {counted(count, 'preference pair')}", file=sys.stderr)
    audit.record(store, person_of(args, settings, store), "export", str(args.preferences),
                 counted(count, "preference pair"))


def _report(args, settings, store) -> int:
    cache = embedding_cache(settings, store)
    factors.record_alignment(store, cache, compute=True)
    result = factors.report(store, cache.model_id, factors.Reading(args.blind_only, args.adjusted))
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(f"{result.generations} generations, {result.rated} rated ({result.reading.words}), {result.aligned} with "
          "CLIP alignment. Means with 95% intervals (bootstrap, within the scale); 'vs rest': stars by rank test, "
          "alignment by Welch's t, each table's verdicts at a 5% false discovery rate (Benjamini-Hochberg)")
    for name, (title, _) in factors.DIMENSIONS.items():
        print(f"\n{title}")
        for row in result.sections[name]:
            print(f"  {row.key:<28} n={row.n:<5} rating {row.rating.text()} {row.rating_vs_rest}; "
                  f"alignment {row.alignment.text(3)} {row.alignment_vs_rest}"
                  f"{'  FLAGGED' if row.flagged else ''}")
    _print_raters(result)
    print("\nStage blame (low-rated or poorly aligned images)")
    for row in result.blame:
        print(f"  {row['cause']:<14} {row['n']} of {row['of']}")
    if result.ab:
        print("\nWin rates (A/B runs and sweeps)")
        for row in result.ab:
            print(f"  {row['variable']} {row['key']:<20} {row['wins']} of {row['n']} votes "
                  f"[{row['win_rate_lo']:.2f}, {row['win_rate_hi']:.2f}]")
    return 0


def _print_raters(result) -> None:
    overall = result.agreement.overall
    print(f"\nAgreement: {overall.reading}"
          + (f" (Krippendorff's alpha {overall.alpha:.2f} [{overall.lo:.2f}, {overall.hi:.2f}], "
             f"{overall.n_items} images, {overall.n_raters} raters)" if overall.alpha is not None else ""))
    for rater in result.raters:
        offset = "no shared images yet" if rater.offset is None else f"{rater.offset:+.2f} stars"
        print(f"  {rater.person:<28} {offset} (n={rater.ratings})")


COMMANDS = {"sweep": _sweep, "sheet": _sheet, "vote": _vote, "report": _report}

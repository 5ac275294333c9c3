"""What every command group of ``python -m core`` shares: who is asking (``--as NAME``, else the local user) and
whether their role allows it; the recordings a command was given, each with its request."""

from __future__ import annotations

import argparse
import sys

from core import (
    EmbeddingCache, GenerationOptions, GenerationRequest, Person, V2IError, audit, gate, local_person,
    remember_person, roles, shared_models, typed_person, vocabulary,
)


def person_of(args, settings, store, action: str | None = None) -> Person:
    """``--as NAME`` (a member unless the roles list them; ``Bob``, ``bob`` and ``ｂｏｂ`` are one person), else the
    local user: an admin only while nothing says who the admins are (no gate, no admins or viewers listed),
    otherwise what the lists make them. Remembered so others see the name. With ``action``, refused unless their
    role allows it."""
    admins, viewers = gate.role_lists(settings.admins, settings.viewers)
    if getattr(args, "person", None) is None:
        unconfigured = not (gate.current_gate().gated or admins or viewers)
        person, default = local_person(settings.user), roles.ADMIN if unconfigured else roles.MEMBER
    else:
        person, default = typed_person(args.person), roles.MEMBER
    person = roles.role_for(Person(person.id, person.name, source="cli"), admins, viewers, default=default)
    if action is not None:
        audit.require(store, person, action)
    remember_person(store, person)
    return person


def requests_of(args, settings, store):
    """(path, bytes, request) per readable file; an unreadable one is reported and skipped."""
    overrides = {name: value for name, value in (("steps", args.steps), ("scheduler", args.scheduler)) if value is not None}
    options = GenerationOptions.from_recipe(
        args.recipe or settings.recipe, guidance=args.guidance, seed=args.seed, width=args.size, height=args.size,
        safety_checker=args.safety_checker, **overrides,
    )
    terms = vocabulary(store)  # the team's vocabulary, read once for all the files
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as err:
            print(f"{path}: cannot read the file ({err.strerror or err})", file=sys.stderr)
            yield path, None, None
            continue
        yield path, data, GenerationRequest(filename=path.name, style=args.style, prompt=args.prompt,
                                            negative_prompt=args.negative, translate=args.translate, options=options,
                                            vocabulary=terms, force=args.force, source="cli")


def each_file(args, settings, store, act) -> int:
    """``act(path, data, request)`` for each file; one that fails prints a line naming it and the reason, and the
    others still run. Returns the exit status."""
    failed = 0
    for path, data, request in requests_of(args, settings, store):
        if data is None:
            failed += 1
            continue
        try:
            act(path, data, request)
        except (V2IError, ValueError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            failed += 1
        except Exception as err:  # a bug or a library's own error: one plain line, and the batch goes on
            print(f"{path}: failed unexpectedly ({type(err).__name__}); the other files go on", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def embedding_cache(settings, store) -> EmbeddingCache:
    """CLIP embeddings, with the model loaded only if something is not embedded yet."""
    return EmbeddingCache(store, lambda: shared_models(settings).clip(), model_id=settings.clip_embedding_id)


class Parser(argparse.ArgumentParser):
    """Bad arguments give one line on stderr (``error: ...``) and exit status 2, as the library's errors do."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def ranged(kind: type, low, high, what: str):
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


LIMIT = ranged(int, 1, 10_000, "a whole number")
K = ranged(int, 1, 1_000, "a whole number")

"""``python -m core similarity|neighbours|search|map``: the stored images compared with CLIP, and the map."""

from __future__ import annotations

import json

from core import EmbeddingCache, factors, image_map, load_set, neighbours, search, shared_models
from .common import K, embedding_cache


def add_parsers(commands) -> None:
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

    mapped = commands.add_parser("map", help="every stored image's place on the 2D map (UMAP of CLIP embeddings)")
    mapped.add_argument("--refit", action="store_true", help="lay out every image anew rather than place new ones")
    mapped.add_argument("--json", action="store_true")


def _similarity_set(settings, store):
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
    store.get_generation(args.id)  # a clear error for a malformed or unknown id
    data, _ = _similarity_set(settings, store)
    _print_scored(neighbours(data, args.id, args.k), args.json)
    return 0


def _search(args, settings, store) -> int:
    data, cache = _similarity_set(settings, store)
    _print_scored(search(data, cache, args.text, args.k), args.json)
    return 0


def _map(args, settings, store) -> int:
    cache = embedding_cache(settings, store)
    factors.record_alignment(store, cache, compute=True)  # embeds what is missing (images and their texts)
    done = image_map.update(store, cache.model_id, refit=args.refit)
    rows = [{"id": p["id"], "x": round(p["x"], 4), "y": round(p["y"], 4), "cluster": p["cluster"]}
            for p in image_map.points(store, cache.model_id)]
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{len(rows)} images on the map ({done.fitted} laid out now, {done.placed} placed, {done.seconds:.1f} s)")
        for row in rows:
            print(f"{row['id']}  {row['x']:8.3f} {row['y']:8.3f}  cluster {row['cluster']}")
    return 0


COMMANDS = {"similarity": _similarity, "neighbours": _neighbours, "search": _search, "map": _map}

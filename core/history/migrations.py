"""Schema versions, applied in order and recorded in ``migrations``; each runs in its own transaction."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import sqlite_utils

from .paths import inside


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []  # (name, apply), in the order applied


def migration(name: str):
    """Register the decorated function as the migration ``name``: the next one, applied after those above it."""
    def register(apply: Callable[[sqlite_utils.Database], None]):
        if MIGRATIONS and name <= MIGRATIONS[-1][0]:
            raise ValueError(f"migration {name!r} must sort after {MIGRATIONS[-1][0]!r}, the last one registered")
        MIGRATIONS.append((name, apply))
        return apply

    return register


@migration("0001_generations")
def _v1_generations(db: sqlite_utils.Database) -> None:
    db["generations"].create(
        {
            "id": str, "created_at": str,
            "audio_filename": str, "audio_path": str, "audio_sha256": str, "audio_duration": float, "audio_format": str,
            "transcript": str, "language": str, "task": str, "avg_logprob": float, "no_speech_prob": float,
            "style": str, "prompt": str, "negative_prompt": str, "prompt_truncated": int,
            "seed": int, "steps": int, "guidance": float, "scheduler": str, "width": int, "height": int,
            "whisper_model": str, "sd_model": str, "clip_model": str, "profile": str, "device": str,
            "safety_checker": int, "nsfw": int, "image_path": str,
            "t_decode": float, "t_transcribe": float, "t_enhance": float, "t_generate": float, "t_total": float,
        },
        pk="id",
        not_null={"created_at", "transcript", "prompt", "image_path", "audio_path"},
    )
    db["generations"].create_index(["created_at"])
    db["generations"].create_index(["language"])
    db["generations"].enable_fts(["transcript", "prompt"], create_triggers=True, tokenize="unicode61")


@migration("0002_jobs")
def _v2_jobs(db: sqlite_utils.Database) -> None:
    db["jobs"].create(
        {
            "id": str, "created_at": str, "owner": str, "status": str, "options": str,
            "audio_filename": str, "upload_path": str,
            "stage": str, "step": int, "total_steps": int,
            "started_at": str, "finished_at": str, "error": str, "cancel_requested": int, "generation_id": str,
        },
        pk="id",
        not_null={"created_at", "status", "options"},
        defaults={"status": "queued", "cancel_requested": 0, "step": 0, "total_steps": 0},
    )
    db["jobs"].create_index(["status", "created_at"])


@migration("0003_embeddings")
def _v3_embeddings(db: sqlite_utils.Database) -> None:
    # Keyed by content hash and model: a stored image (or text) is never embedded twice for one model.
    db["embeddings"].create(
        {"sha256": str, "model": str, "kind": str, "dim": int, "vector": bytes, "created_at": str},
        pk=("sha256", "model", "kind"),
        not_null={"vector", "dim"},
    )
    db["generations"].add_column("image_sha256", str)


@migration("0004_deepcache")
def _v4_deepcache(db: sqlite_utils.Database) -> None:
    db["generations"].add_column("deepcache_interval", int, not_null_default=0)


@migration("0005_recipe")
def _v5_recipe(db: sqlite_utils.Database) -> None:
    # Older rows: the recipe whose scheduler and caching they match (what History used to guess).
    db["generations"].add_column("recipe", str)
    db.execute("UPDATE generations SET recipe = CASE WHEN coalesce(deepcache_interval, 0) > 1 THEN 'fast' "
               "WHEN scheduler = 'pndm' THEN 'original' ELSE 'default' END")


@migration("0006_embedding_upkeep")
def _v6_embedding_upkeep(db: sqlite_utils.Database) -> None:
    # Images the backfill could not read (their file is missing): skipped, with why, so it goes on past them.
    db["embedding_skips"].create(
        {"generation_id": str, "model": str, "reason": str, "skipped_at": str}, pk=("generation_id", "model"))
    # Each image's highest similarity to any earlier image, stored once, so opening one costs the same at any size.
    db["novelty"].create(
        {"generation_id": str, "model": str, "value": float, "computed_at": str}, pk=("generation_id", "model"))


@migration("0007_team")
def _v7_team(db: sqlite_utils.Database) -> None:
    # Who made what: an email with sign-in, the name typed at the password gate, or the local user.
    db["generations"].add_column("created_by", str)
    db.execute("UPDATE generations SET created_by = 'unknown'")
    db["generations"].create_index(["created_by"])
    # Jobs belonged to a browser tab ("owner", a random id, no longer read): they now belong to a person.
    db["jobs"].add_column("created_by", str)
    db.execute("UPDATE jobs SET created_by = 'unknown'")
    db["jobs"].add_column("upload_bytes", int)
    db["jobs"].add_column("recipe", str)
    db["jobs"].create_index(["created_by", "status"])
    db["people"].create({"id": str, "name": str, "first_seen": str, "last_seen": str}, pk="id")
    db["people"].insert({"id": "unknown", "name": "unknown", "first_seen": "", "last_seen": ""})
    db["ratings"].create({"generation_id": str, "person": str, "stars": int, "favourite": int, "updated_at": str},
                         pk=("generation_id", "person"), defaults={"favourite": 0})
    db["ratings"].create_index(["person", "favourite"])
    db.execute("CREATE TABLE collections (name TEXT PRIMARY KEY COLLATE NOCASE, created_by TEXT, created_at TEXT)")
    db["collection_items"].create({"collection": str, "generation_id": str, "added_by": str, "added_at": str},
                                  pk=("collection", "generation_id"))
    db["collection_items"].create_index(["generation_id"])


@migration("0008_speech")
def _v8_speech(db: sqlite_utils.Database) -> None:
    # What was left out of the speech to make the prompt, and the team vocabulary whisper was given (JSON lists).
    db["generations"].add_column("speech_removed", str)
    db["generations"].add_column("vocabulary", str)
    db.execute("CREATE TABLE vocabulary (term TEXT PRIMARY KEY COLLATE NOCASE, added_by TEXT, added_at TEXT)")


@migration("0009_turbo")
def _v9_turbo(db: sqlite_utils.Database) -> None:
    # What the turbo recipe adds to a generation: the LoRA fused into the UNet and the decoder.
    db["generations"].add_column("lora", str)
    db["generations"].add_column("decoder", str)
    db.execute("UPDATE generations SET decoder = 'vae'")


@migration("0010_insights")
def _v10_insights(db: sqlite_utils.Database) -> None:
    # A/B runs: one recording painted with two or more recipes or styles at one seed, and the team's votes.
    db["generations"].add_column("ab_run", str)
    db["generations"].create_index(["ab_run"])
    db["ab_runs"].create({"id": str, "variable": str, "arms": str, "seed": int, "filename": str, "created_by": str,
                          "created_at": str}, pk="id")
    db["ab_votes"].create({"run_id": str, "person": str, "generation_id": str, "voted_at": str},
                          pk=("run_id", "person"))
    # CLIP similarity of each image with its transcript and its prompt, computed once (the Insights report reads it).
    db["alignment"].create({"generation_id": str, "model": str, "transcript": float, "prompt": float,
                            "computed_at": str}, pk=("generation_id", "model"))
    # The map: each image's 2D place, fitted (UMAP) or placed beside its nearest fitted neighbours.
    db["map_points"].create({"generation_id": str, "model": str, "x": float, "y": float, "cluster": int,
                             "how": str, "at": str}, pk=("generation_id", "model"))


@migration("0011_revisions")
def _v11_revisions(db: sqlite_utils.Database) -> None:
    # The commit (or checksum) of each model a generation was made with, as JSON {"whisper", "sd", "clip", ...};
    # older rows do not know theirs (NULL).
    db["generations"].add_column("model_revisions", str)


@migration("0012_hardening")
def _v12_hardening(db: sqlite_utils.Database) -> None:
    # Per-person passwords (the "accounts" sign-in mode): a memory-hard hash, never the password.
    db["accounts"].create({"person": str, "password_hash": str, "one_time": int, "created_at": str,
                           "changed_at": str}, pk="person", not_null={"password_hash"}, defaults={"one_time": 1})
    # Which worker runs a job, and when it last said it was alive: a second worker recovers only jobs whose
    # worker went quiet, never another live one's.
    db["jobs"].add_column("worker_id", str)
    db["jobs"].add_column("heartbeat_at", str)
    # "Submit again" links the new job to the failed one, so deleting the generation forgets both requests' words.
    db["jobs"].add_column("retry_of", str)
    # The seed whisper's temperature fallback sampled with (derived from the recording): the same words again.
    db["generations"].add_column("transcribe_seed", int)
    # The trash: a deleted generation's row and everything that pointed at it, as JSON, until restored or purged.
    db["trash"].create({"generation_id": str, "created_by": str, "deleted_by": str, "deleted_at": str,
                        "image_path": str, "audio_path": str, "payload": str}, pk="generation_id",
                       not_null={"deleted_at", "payload"})
    # The audit trail: append-only; the triggers refuse any change or removal of a row.
    db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, "
               "source TEXT NOT NULL, action TEXT NOT NULL, target TEXT, detail TEXT)")
    db.execute("CREATE INDEX audit_at ON audit (at)")
    # An admin's hand on the queue: a job moved to the front (its time), and whether the queue is paused.
    db["jobs"].add_column("front_at", str)
    db["queue_control"].create({"key": str, "value": str, "changed_by": str, "changed_at": str}, pk="key")
    for verb in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
                   "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


@migration("0013_api")
def _v13_api(db: sqlite_utils.Database) -> None:
    # Personal API tokens: only a hash is kept (the token is shown once); revoked ones stay, for the record.
    db["api_tokens"].create({"id": str, "person": str, "name": str, "token_hash": str, "created_at": str,
                             "last_used_at": str, "revoked_at": str}, pk="id", not_null={"person", "token_hash"})
    db["api_tokens"].create_index(["token_hash"], unique=True)
    # Where to tell people their jobs ended (a webhook with its signing secret, or an apprise chat target), and
    # every delivery with its answer.
    db["hooks"].create({"id": str, "person": str, "kind": str, "url": str, "secret": str, "created_by": str,
                        "created_at": str, "removed_at": str}, pk="id", not_null={"kind", "url"})
    db["deliveries"].create({"id": str, "hook_id": str, "job_id": str, "payload": str, "state": str, "attempts": int,
                             "next_at": str, "created_at": str, "last_status": int, "last_answer": str,
                             "last_at": str}, pk="id", not_null={"hook_id", "payload", "state"})
    db["deliveries"].create_index(["state", "next_at"])
    # Where each generation came from (dashboard, cli, api): what Overview counts; older rows do not know.
    db["generations"].add_column("source", str)


# The columns History sorts by, each with the expression its order and index use: a missing value sorts first
# (as SQLite's NULL does) through a sentinel, so paging can compare (key, id) pairs without NULL's three-valued
# logic. Written out here, not imported: a migration stays what it was when it ran (tests check store's list).
SORT_KEYS_0014 = {
    "created_at": "created_at", "language": "ifnull(language, '')", "recipe": "ifnull(recipe, '')",
    "steps": "ifnull(steps, -1e308)", "guidance": "ifnull(guidance, -1e308)", "seed": "ifnull(seed, -1e308)",
    "scheduler": "ifnull(scheduler, '')", "sd_model": "ifnull(sd_model, '')",
    "audio_duration": "ifnull(audio_duration, -1e308)", "t_decode": "ifnull(t_decode, -1e308)",
    "t_transcribe": "ifnull(t_transcribe, -1e308)", "t_enhance": "ifnull(t_enhance, -1e308)",
    "t_generate": "ifnull(t_generate, -1e308)", "t_total": "ifnull(t_total, -1e308)",
    "audio_filename": "ifnull(audio_filename, '')", "created_by": "ifnull(created_by, '')",
    "rating_mean": "ifnull(rating_mean, -1e308)", "rating_count": "rating_count",
}


@migration("0014_scale")
def _v14_scale(db: sqlite_utils.Database) -> None:
    # Each generation's mean stars and how many gave stars, kept by triggers on ratings: History sorts and filters
    # by them through an index instead of grouping every rating on every page.
    db["generations"].add_column("rating_mean", float)
    db["generations"].add_column("rating_count", int, not_null_default=0)
    counts = ("rating_mean = (SELECT avg(stars) FROM ratings WHERE generation_id = {g}), "
              "rating_count = (SELECT count(stars) FROM ratings WHERE generation_id = {g})")
    db.execute(f"UPDATE generations SET {counts.format(g='generations.id')}")
    recount = f"UPDATE generations SET {counts} WHERE id = {{g}}"
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        db.execute(f"CREATE TRIGGER ratings_recount_{event.lower()} AFTER {event} ON ratings "
                   f"BEGIN {recount.format(g=row + '.generation_id')}; END")
    db.execute("CREATE TRIGGER ratings_recount_moved AFTER UPDATE OF generation_id ON ratings "
               f"BEGIN {recount.format(g='OLD.generation_id')}; END")
    # How many images were painted together with this one (GPU batches); older rows do not know (NULL: alone).
    db["generations"].add_column("batch_size", int)
    # Keyset paging: one index per sort order, on (key, id), so any page of History, first or last, is a seek; the
    # column itself rides along so that walking the index alone can name a row's key (a covering index).
    for column, key in SORT_KEYS_0014.items():
        also = f", {column}" if key != column else ""
        db.execute(f"CREATE INDEX IF NOT EXISTS generations_sort_{column} ON generations ({key}, id{also})")


@migration("0015_words")
def _v15_words(db: sqlite_utils.Database) -> None:
    # Every word whisper heard, as JSON [{"word", "start", "end", "probability"}] in the order spoken (seconds in the
    # recording); what whisper heard when the person changed the transcript (NULL: unchanged); the stretches without
    # speech cut before whisper, as JSON [[start, end]]; and the generation whose misheard words this one fixed.
    for column in ("words", "heard", "speech_cut", "fixed_from"):
        db["generations"].add_column(column, str)
    db["generations"].create_index(["fixed_from"])


@migration("0016_judging")
def _v16_judging(db: sqlite_utils.Database) -> None:
    # Blind review: a rating made on the Review page, before the maker's name or anyone's stars were shown (1), or
    # anywhere else (0), and the reviewer's short note. Images a person chose to skip are not dealt to them again.
    db["ratings"].add_column("blind", int, not_null_default=0)
    db["ratings"].add_column("note", str)
    db["review_skips"].create({"generation_id": str, "person": str, "skipped_at": str},
                              pk=("generation_id", "person"))
    # Sweeps: a run varies one to three settings over a grid, as JSON [{"name", "values"}]; an A/B run is the
    # one-axis case, so the runs from before are given their one axis.
    db["ab_runs"].add_column("axes", str)
    db.execute("UPDATE ab_runs SET axes = json_array(json_object('name', variable, 'values', json(arms)))")
    # Who made an image, found fast: the review deals images that someone else made, oldest first.
    db["generations"].create_index(["rating_count", "created_at"], if_not_exists=True)



@migration("0017_locked_doors")
def _v17_locked_doors(db: sqlite_utils.Database) -> None:
    # API tokens expire (NULL: never, as the tokens made before did); last_used_at is now written.
    db["api_tokens"].add_column("expires_at", str)
    # A delivery keeps only its answer's status and a short reason, never the receiver's body: the bodies kept
    # before (whatever a receiver chose to answer, loopback services included) are dropped.
    db.execute("UPDATE deliveries SET last_answer = CASE WHEN last_status BETWEEN 200 AND 299 THEN 'delivered' "
               "WHEN last_status IS NULL THEN 'no answer' ELSE 'HTTP ' || last_status END "
               "WHERE last_answer IS NOT NULL")
    # Accounts are kept under the folded form of their name (NFKC, case-folded: ``Carol`` and ``carol`` are one
    # person), as sign-in, the command line and the role lists compare names, with the name as typed beside it; a
    # name whose folded form is taken already stays as it was (its owner signs in by that exact name).
    db["accounts"].add_column("name", str)
    db.execute("UPDATE accounts SET name = person")
    taken = {row[0] for row in db.execute("SELECT person FROM accounts")}
    for (person,) in db.execute("SELECT person FROM accounts").fetchall():
        folded = unicodedata.normalize("NFKC", " ".join(person.split())).casefold()
        if folded != person and folded not in taken:
            db.execute("UPDATE accounts SET person = ? WHERE person = ?", [folded, person])
            taken.add(folded)


@migration("0018_self_ratings")
def _v18_self_ratings(db: sqlite_utils.Database) -> None:
    # Stars a person gives their own image stay on the image (they see their own stars) but out of every
    # statistic: an image's mean and count of raters, what History sorts by, Insights groups and Review deals by,
    # count only others' stars.
    for event in ("insert", "update", "delete", "moved"):
        db.execute(f"DROP TRIGGER IF EXISTS ratings_recount_{event}")
    counts = ("rating_mean = (SELECT avg(r.stars) FROM ratings r WHERE r.generation_id = {g} AND {others}), "
              "rating_count = (SELECT count(r.stars) FROM ratings r WHERE r.generation_id = {g} AND {others})")
    others = "lower(r.person) IS NOT lower((SELECT created_by FROM generations WHERE id = {g}))"
    db.execute("UPDATE generations SET " + counts.format(g="generations.id", others=others.format(g="generations.id")))
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        g = row + ".generation_id"
        db.execute(f"CREATE TRIGGER ratings_recount_{event.lower()} AFTER {event} ON ratings BEGIN UPDATE generations "
                   f"SET {counts.format(g=g, others=others.format(g=g))} WHERE id = {g}; END")
    g = "OLD.generation_id"
    db.execute("CREATE TRIGGER ratings_recount_moved AFTER UPDATE OF generation_id ON ratings BEGIN UPDATE generations "
               f"SET {counts.format(g=g, others=others.format(g=g))} WHERE id = {g}; END")


@migration("0019_workers")
def _v19_workers(db: sqlite_utils.Database) -> None:
    # Every worker on this data folder says it is alive (every HEARTBEAT_S, busy or idle): health reports a worker
    # alive when any has a fresh heartbeat, whichever process asks.
    db["workers"].create({"id": str, "heartbeat_at": str}, pk="id", not_null={"heartbeat_at"})


@migration("0020_job_doubts")
def _v20_job_doubts(db: sqlite_utils.Database) -> None:
    # A job the doubt guard stopped names the words whisper doubted (JSON list), for the API and "Fix the words".
    db["jobs"].add_column("doubtful_words", str)


@migration("0021_sessions")
def _v21_sessions(db: sqlite_utils.Database) -> None:
    # A browser's sign-in with a personal password (core.team.sessions): the cookie's secret is stored as its SHA-256.
    db["sessions"].create({"id": str, "person": str, "secret_hash": str, "created_at": str, "expires_at": str,
                           "revoked_at": str}, pk="id", not_null={"person", "secret_hash", "created_at", "expires_at"})
    db["sessions"].create_index(["person"])


@migration("0022_file_bytes")
def _v22_file_bytes(db: sqlite_utils.Database) -> None:
    # Each generation's image and recording sizes, kept with its row (and its trashed row): Overview's storage per
    # person is a sum over an index, not a stat of every file (at 1,000,000 rows, minutes on every run).
    # Rows from before are measured here, once; a file that is gone counts 0.
    file = db.conn.execute("PRAGMA database_list").fetchone()[2]
    folder = Path(file).parent if file else None
    for table in ("generations", "trash"):
        db[table].add_column("image_bytes", int)
        db[table].add_column("audio_bytes", int)
        key = "id" if table == "generations" else "generation_id"
        sizes = [(_size(folder, image), _size(folder, audio), row_id) for row_id, image, audio in
                 db.execute(f"SELECT {key}, image_path, audio_path FROM {table}").fetchall()]
        db.conn.executemany(f"UPDATE {table} SET image_bytes = ?, audio_bytes = ? WHERE {key} = ?", sizes)
    db["generations"].create_index(["created_by", "image_bytes", "audio_bytes"], if_not_exists=True)


def _size(folder: Path | None, relative: str | None) -> int:
    """A stored file's bytes (0 when it is gone or its path, links followed, leaves the folder: nothing outside is
    read)."""
    if folder is None or not relative:
        return 0
    try:
        return inside(folder, relative).stat().st_size
    except OSError:  # StorageError (outside the folder) is one
        return 0


def pending_migrations(db: sqlite_utils.Database) -> list[str]:
    """The migrations not yet applied, read without writing (a read-only database can answer)."""
    if not db["migrations"].exists():
        return [name for name, _ in MIGRATIONS]
    applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
    return [name for name, _ in MIGRATIONS if name not in applied]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    applied_now = []
    if not pending_migrations(db):
        return applied_now  # nothing to write: a database on a full disk still opens
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, apply in MIGRATIONS:
        # BEGIN IMMEDIATE takes the write lock first, so two processes starting at once cannot both apply it.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone() is None:
                apply(db)
                db.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    [name, datetime.now(timezone.utc).isoformat()],
                )
                applied_now.append(name)
        except BaseException:
            db.rollback()
            raise
        db.commit()
    return applied_now

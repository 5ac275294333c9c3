"""Backups that restore (issue 26, 4): `backup` while others write, `restore` into an empty folder with every
checksum checked, `check` of a live data folder; a backup killed part way leaves the previous one whole."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import Person, Store
from core import backup as backups
from core.errors import InvalidOptionError, StorageError
from core.people.roles import ADMIN, MEMBER, ForbiddenError

ROOT = Path(__file__).resolve().parent.parent
ADA = Person("ada", "Ada", ADMIN, "cli")

WRITER = r"""
import os, sys, time, uuid
sys.path.insert(0, {root!r})
from core.history.store import Store
store = Store(sys.argv[1])
for i in range(int(sys.argv[2])):
    gid = uuid.uuid4().hex
    for folder, ext in (("images", "png"), ("audio", "wav")):
        os.makedirs(os.path.join(sys.argv[1], folder), exist_ok=True)
        path = os.path.join(sys.argv[1], folder, gid + "." + ext)
        with open(path + ".part", "wb") as f:
            f.write(os.urandom(20_000))
        os.replace(path + ".part", path)
    store.insert_generation({{"id": gid, "created_at": "2026-11-29T10:00:00+00:00", "transcript": "words " + gid,
                             "prompt": "p", "image_path": "images/" + gid + ".png", "audio_path": "audio/" + gid + ".wav"}})
"""


def add_rows(store: Store, n: int, size: int = 20_000) -> list[str]:
    import hashlib
    import uuid

    ids = []
    for _ in range(n):
        gid = uuid.uuid4().hex
        row = {"id": gid, "created_at": "2026-11-29T10:00:00+00:00", "transcript": f"words {gid}", "prompt": "p",
               "image_path": f"images/{gid}.png", "audio_path": f"audio/{gid}.wav"}
        for key in ("image_path", "audio_path"):
            path = store.data_dir / row[key]
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(os.urandom(size))
        row["image_sha256"] = hashlib.sha256((store.data_dir / row["image_path"]).read_bytes()).hexdigest()
        row["audio_sha256"] = hashlib.sha256((store.data_dir / row["audio_path"]).read_bytes()).hexdigest()
        store.insert_generation(row)
        ids.append(gid)
    return ids


def test_a_backup_restores_into_an_empty_folder_whole_and_the_second_copies_only_new_files(store, tmp_path):
    add_rows(store, 5)
    first = backups.backup(store, tmp_path / "bk", ADA)
    assert (first.files, first.copied, first.missing) == (10, 10, ())
    add_rows(store, 2)
    second = backups.backup(store, tmp_path / "bk", ADA)
    assert (second.files, second.copied) == (14, 4)  # only the new ones
    report = backups.restore(tmp_path / "bk", tmp_path / "restored", ADA, store)
    assert report.ok and not report.orphans, report
    restored = Store(tmp_path / "restored")
    assert [r["id"] for r in restored.query_generations(limit=100)] == [r["id"] for r in store.query_generations(limit=100)]
    assert [r["action"] for r in store.query("SELECT action FROM audit ORDER BY id")] == \
        ["backup", "backup", "restore backup"]


def test_restore_refuses_a_non_empty_target_and_names_each_damaged_file(store, tmp_path):
    add_rows(store, 3)
    backups.backup(store, tmp_path / "bk", ADA)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(InvalidOptionError, match="is not empty"):
        backups.restore(tmp_path / "bk", tmp_path / "full", ADA)
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    damaged, gone = sorted(manifest["files"])[:2]
    path = tmp_path / "bk" / "files" / damaged
    path.write_bytes(b"\0" + path.read_bytes()[1:])
    (tmp_path / "bk" / "files" / gone).unlink()
    with pytest.raises(StorageError) as refused:
        backups.restore(tmp_path / "bk", tmp_path / "new", ADA)
    assert f"files/{damaged} does not match its checksum" in str(refused.value)
    assert f"files/{gone} is missing" in str(refused.value)
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


def test_only_admins_back_up(store, tmp_path):
    with pytest.raises(ForbiddenError, match="only admins may back up"):
        backups.backup(store, tmp_path / "bk", Person("bob", "bob", MEMBER, "cli"))
    assert not (tmp_path / "bk").exists()


def test_check_finds_missing_damaged_and_orphan_files(store, data_dir):
    ids = add_rows(store, 3)
    assert backups.check(data_dir).ok
    (data_dir / "images" / f"{ids[0]}.png").unlink()
    with open(data_dir / "audio" / f"{ids[1]}.wav", "r+b") as f:
        first = f.read(1)[0]
        f.seek(0)
        f.write(bytes([first ^ 0xFF]))  # flipped, so changed whatever the random byte was
    (data_dir / "images" / ("f" * 32 + ".png")).write_bytes(b"nobody's")
    report = backups.check(data_dir)
    assert not report.ok and report.integrity == "ok" and not report.pending_migrations
    assert report.missing == [f"images/{ids[0]}.png"] and report.damaged == [f"audio/{ids[1]}.wav"]
    assert report.orphans == ["images/" + "f" * 32 + ".png"]


def test_a_backup_while_four_processes_write_has_every_row_committed_before_it_began(store, data_dir, tmp_path):
    add_rows(store, 5)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT)), str(data_dir), "60"])
               for _ in range(4)]
    try:
        time.sleep(1.0)
        committed = {r["id"] for r in store.query("SELECT id FROM generations")}
        result = backups.backup(store, tmp_path / "bk", ADA)
    finally:
        for writer in writers:
            writer.wait(timeout=120)
    assert not result.missing
    report = backups.restore(tmp_path / "bk", tmp_path / "restored", ADA)
    assert report.ok, report
    restored = {r["id"] for r in Store(tmp_path / "restored").query("SELECT id FROM generations")}
    assert committed <= restored and len(restored) < 5 + 4 * 60 + 1
    _, wrong = backups.verify_backup(tmp_path / "bk")
    assert wrong == []


KILLED = r"""
import sys
sys.path.insert(0, {root!r})
from core import Person, Store
from core import backup
backup.backup(Store(sys.argv[1]), sys.argv[2], Person("ada", "Ada", "admin", "cli"))
"""


def test_a_backup_killed_part_way_leaves_the_previous_one_whole(store, data_dir, tmp_path):
    add_rows(store, 3)
    backups.backup(store, tmp_path / "bk", ADA)
    before = (tmp_path / "bk" / "manifest.json").read_text()
    add_rows(store, 150, size=400_000)  # 120 MB more: a backup that takes a while
    run = subprocess.Popen([sys.executable, "-c", KILLED.format(root=str(ROOT)), str(data_dir), str(tmp_path / "bk")])
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "bk" / "files" / "images").glob("*"))) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)  # kill -9, part way through the files
    run.wait()
    assert (tmp_path / "bk" / "manifest.json").read_text() == before
    report = backups.restore(tmp_path / "bk", tmp_path / "restored", ADA)
    assert report.ok and Store(tmp_path / "restored").count_generations() == 3


def test_the_server_backs_up_on_schedule_and_records_a_failure(settings, models, store, tmp_path):
    from core.history.audit import trail
    from core.execution.worker import Worker

    add_rows(store, 2)
    worker = Worker(settings.with_overrides(backup_dir=str(tmp_path / "scheduled"), backup_keep=2), models, store,
                    embed=False)
    assert worker.backup_due()
    worker.scheduled_backup()
    assert not worker.backup_due() and backups.verify_backup(tmp_path / "scheduled")[1] == []
    broken = Worker(settings.with_overrides(backup_dir=str(store.data_dir / "inside")), models, store, embed=False)
    broken.scheduled_backup()  # a backup inside the data folder is refused, and the refusal recorded
    last = trail(store, action="backup")[0]
    assert last["who"] == "server" and last["detail"].startswith("failed: back up to a folder outside")

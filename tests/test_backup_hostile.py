"""A backup read as hostile data (issue 44: 1, 17, 18, 19, 22): a manifest may name only what a backup holds and
every target lands inside --into; links are refused; a signed backup (V2I_BACKUP_KEY) restores only when its
signature is right; a restore never goes inside the data folder; a snapshot whose files vanish is taken again;
`check` covers the trash and the jobs' recordings; a killed backup's database copy is pruned."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import Person, Store
from core import backup as backups
from core import trash
from core.errors import InvalidOptionError, StorageError
from core.people.roles import ADMIN
from test_backup import add_rows

ROOT = Path(__file__).resolve().parent.parent
ADA = Person("ada", "Ada", ADMIN, "cli")


def tamper(bk: Path, change) -> dict:
    """Rewrite the backup's manifest through ``change(manifest)`` (as whoever tampers with it would)."""
    manifest = json.loads((bk / "manifest.json").read_text())
    change(manifest)
    (bk / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def plant(bk: Path, name: str, data: bytes) -> dict:
    """Add an entry ``name`` to the manifest with the right size and checksum, its bytes under files/."""
    target = bk / "files" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    meta = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return tamper(bk, lambda m: m["files"].__setitem__(name, meta))


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.fixture
def bk(store, tmp_path):
    add_rows(store, 2)
    backups.backup(store, tmp_path / "bk", ADA)
    return tmp_path / "bk"


def test_a_manifest_naming_a_path_outside_the_folder_restores_nothing_and_names_the_entry(store, bk, tmp_path,
                                                                                             tiny_env):
    plant(bk, "../owned.sh", b"#!/bin/sh\necho owned\n")  # its bytes at bk/owned.sh; restored, at tmp/owned.sh
    with pytest.raises(InvalidOptionError, match=r"names the file '\.\./owned\.sh'"):
        backups.restore(bk, tmp_path / "restored", ADA)
    assert not (tmp_path / "owned.sh").exists()
    assert not (tmp_path / "restored").exists()
    result = cli("restore", str(bk), "--into", str(tmp_path / "restored2"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "names the file '../owned.sh'" in result.stderr and not (tmp_path / "owned.sh").exists()
    assert not (tmp_path / "restored2").exists() or not any((tmp_path / "restored2").iterdir())


@pytest.mark.parametrize("name", ["images/../../x.png", "/etc/cron.d/x", "images/" + "a" * 32 + ".png/../../x",
                                  "config.toml", "images/.hidden", "db/x.db"])
def test_only_the_names_a_backup_holds_are_accepted(bk, tmp_path, name):
    plant(bk, name.lstrip("/"), b"x") if not name.startswith("/") else tamper(
        bk, lambda m: m["files"].__setitem__(name, {"size": 1, "sha256": "0" * 64}))
    with pytest.raises(InvalidOptionError, match="refused"):
        backups.verify_backup(bk)


def test_a_database_entry_outside_db_is_refused(bk, tmp_path):
    tamper(bk, lambda m: m.__setitem__("database", "../../../../tmp/evil.db"))
    with pytest.raises(InvalidOptionError, match="names the database"):
        backups.restore(bk, tmp_path / "restored", ADA)


def test_a_link_in_the_backup_is_refused_and_named(bk, tmp_path):
    manifest = json.loads((bk / "manifest.json").read_text())
    name = sorted(manifest["files"])[0]
    secret = tmp_path / "secret.txt"
    secret.write_bytes((bk / "files" / name).read_bytes())  # the same bytes, so only the link itself is wrong
    (bk / "files" / name).unlink()
    (bk / "files" / name).symlink_to(secret)
    with pytest.raises(StorageError, match=f"files/{name} is a link or a special file: refused"):
        backups.restore(bk, tmp_path / "restored", ADA)
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())


def test_a_linked_folder_in_the_backup_is_refused(bk, tmp_path):
    outside = tmp_path / "elsewhere"
    (bk / "files" / "audio").rename(outside)
    (bk / "files" / "audio").symlink_to(outside, target_is_directory=True)
    _, wrong = backups.verify_backup(bk)
    assert wrong and all("is a link or a special file" in line for line in wrong)


@pytest.mark.parametrize("manifest", [[], {"format": 1}, {"format": 1, "files": []}, "text", {"format": 2}])
def test_a_manifest_of_the_wrong_shape_is_one_plain_line_and_nothing_is_written(bk, tmp_path, tiny_env, manifest):
    (bk / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidOptionError):
        backups.restore(bk, tmp_path / "restored", ADA)
    result = cli("restore", str(bk), "--into", str(tmp_path / "restored"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "restored").exists()


def test_a_signed_backup_restores_and_a_changed_or_unsigned_one_is_refused(store, tmp_path):
    add_rows(store, 2)
    key = b"k" * 32
    result = backups.backup(store, tmp_path / "bk", ADA, key=key)
    assert result.signed and backups.restore(tmp_path / "bk", tmp_path / "ok", ADA, key=key).ok
    with pytest.raises(InvalidOptionError, match="does not carry V2I_BACKUP_KEY's signature"):
        backups.restore(tmp_path / "bk", tmp_path / "other", ADA, key=b"x" * 32)
    tamper(tmp_path / "bk", lambda m: m.__setitem__("by", "mallory"))
    with pytest.raises(InvalidOptionError, match="does not carry V2I_BACKUP_KEY's signature"):
        backups.restore(tmp_path / "bk", tmp_path / "changed", ADA, key=key)
    tamper(tmp_path / "bk", lambda m: m.pop("signature"))
    with pytest.raises(InvalidOptionError, match="is not signed"):
        backups.restore(tmp_path / "bk", tmp_path / "unsigned", ADA, key=key)
    assert not any((tmp_path / name).exists() for name in ("other", "changed", "unsigned"))


def test_the_key_file_must_be_outside_the_data_folder_and_long_enough(store, tmp_path):
    (store.data_dir / "backup.key").write_bytes(b"k" * 32)
    with pytest.raises(InvalidOptionError, match="inside the data folder"):
        backups.load_key(store.data_dir / "backup.key", store.data_dir)
    (tmp_path / "short.key").write_bytes(b"short")
    with pytest.raises(InvalidOptionError, match="at least 16"):
        backups.load_key(tmp_path / "short.key", store.data_dir)
    with pytest.raises(InvalidOptionError, match="cannot be read"):
        backups.load_key(tmp_path / "absent.key", store.data_dir)
    (tmp_path / "good.key").write_bytes(b"k" * 32 + b"\n")
    assert backups.load_key(tmp_path / "good.key", store.data_dir) == b"k" * 32
    assert backups.load_key("", store.data_dir) is None


def test_the_command_line_signs_with_the_configured_key_and_refuses_an_unsigned_backup(store, tmp_path, tiny_env):
    add_rows(store, 1)
    backups.backup(store, tmp_path / "unsigned", ADA)
    (tmp_path / "v2i.key").write_bytes(os.urandom(32).hex().encode())
    env = {"V2I_BACKUP_KEY": str(tmp_path / "v2i.key")}
    made = cli("backup", str(tmp_path / "signed"), env=env)
    assert made.returncode == 0 and "signed" in made.stdout, made.stderr
    assert cli("restore", str(tmp_path / "signed"), "--into", str(tmp_path / "r1"), env=env).returncode == 0
    refused = cli("restore", str(tmp_path / "unsigned"), "--into", str(tmp_path / "r2"), env=env)
    assert refused.returncode != 0 and "is not signed" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("where", ["uploads", "restored", "."])
def test_restore_into_a_folder_inside_the_data_folder_is_refused(store, bk, where):
    into = store.data_dir / where
    with pytest.raises(InvalidOptionError, match="inside the data folder"):
        backups.restore(bk, into, ADA, store)
    assert not (store.data_dir / "uploads" / "v2i.db").exists() and not (store.data_dir / "restored").exists()


def test_a_snapshot_whose_trash_was_purged_meanwhile_is_taken_again_and_is_whole(store, tmp_path, monkeypatch):
    ids = add_rows(store, 3)
    trash.delete(store, ids[0], ADA)
    snapshot = backups._snapshot_database
    taken = []

    def purge_after_first_snapshot(*args):
        made = snapshot(*args)
        if not taken:
            trash.purge(store, ids[0], ADA)  # the trash is emptied between the snapshot and its files' copy
        taken.append(made[0])
        return made

    monkeypatch.setattr(backups, "_snapshot_database", purge_after_first_snapshot)
    result = backups.backup(store, tmp_path / "bk", ADA)
    assert len(taken) == 2 and result.whole and result.files == 4
    assert sorted(p.stem for p in (tmp_path / "bk" / "db").glob("*.db")) == [taken[1]]
    report = backups.restore(tmp_path / "bk", tmp_path / "restored", ADA)
    assert report.ok and not Store(tmp_path / "restored").query("SELECT * FROM trash")


def test_a_backup_that_cannot_be_made_whole_says_so_and_the_command_exits_non_zero(store, tmp_path, tiny_env):
    ids = add_rows(store, 2)
    trash.delete(store, ids[0], ADA)
    (store.data_dir / "images" / f"{ids[0]}.png").unlink()  # gone for good: no snapshot can find it
    result = backups.backup(store, tmp_path / "bk", ADA)
    assert not result.whole and result.missing == (f"images/{ids[0]}.png",)
    made = cli("backup", str(tmp_path / "bk2"))
    assert made.returncode == 1 and "the backup is not whole" in made.stderr and "Traceback" not in made.stderr
    restored = cli("restore", str(tmp_path / "bk2"), "--into", str(tmp_path / "restored"))
    assert restored.returncode == 1 and "problems found" in restored.stdout


def test_check_finds_a_trash_rows_and_a_failed_jobs_missing_files(store, data_dir):
    ids = add_rows(store, 2)
    trash.delete(store, ids[0], ADA)
    with store.write() as db:
        db["jobs"].insert({"id": "f" * 32, "created_at": "2026-11-29T10:00:00+00:00", "status": "failed",
                           "options": "{}", "upload_path": "uploads/" + "f" * 32 + ".wav"})
    assert backups.check(data_dir).missing == ["uploads/" + "f" * 32 + ".wav"]
    (data_dir / "audio" / f"{ids[0]}.wav").unlink()
    report = backups.check(data_dir)
    assert not report.ok and sorted(report.missing) == [f"audio/{ids[0]}.wav", "uploads/" + "f" * 32 + ".wav"]


def test_a_row_naming_a_path_outside_the_data_folder_is_never_read(store, data_dir, tmp_path):
    ids = add_rows(store, 1)
    (tmp_path / "outside.png").write_bytes(b"x")
    with store.write() as db:
        db.execute("UPDATE generations SET image_path = ? WHERE id = ?", ["../outside.png", ids[0]])
    assert backups.check(data_dir).damaged == ["../outside.png"]


def test_a_database_copy_no_manifest_names_is_pruned(store, bk):
    stray = bk / "db" / "20260101T000000000000Z.db"
    stray.write_bytes(b"a copy left by a killed backup")
    backups.backup(store, bk, ADA)
    named = {p.stem for p in (bk / "manifests").glob("*.json")}
    assert not stray.exists() and {p.stem for p in (bk / "db").glob("*.db")} == named

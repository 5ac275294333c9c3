import json
import subprocess
import sys

import pytest
from core.generation.synth import FORMATS, recording
from helpers import ROOT, files_under

from core.cli import main

KEYS = {"id", "created_at", "transcript", "language", "prompt", "negative_prompt", "seed", "steps", "guidance",
        "scheduler", "width", "height", "image_path", "audio_path", "models", "timings"}
FAST = ["--steps", "2", "--size", "64"]


def write(folder, name, data):
    path = folder / name
    path.write_bytes(data)
    return str(path)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_generate_json_prints_one_object_per_stored_generation(tiny_env, tmp_path, capsys):
    files = [write(tmp_path, f"clip.{fmt}", recording(fmt)) for fmt in sorted(FORMATS)]
    assert main(["generate", *files, *FAST, "--seed", "5", "--json"]) == 0
    records = json_lines(capsys.readouterr().out)
    assert len(records) == len(FORMATS)
    for record in records:
        assert KEYS <= set(record)
        assert set(record["timings"]) == {"decode", "transcribe", "enhance", "generate", "total"}
        assert set(record["models"]) == {"whisper", "sd", "clip"}
        assert record["seed"] == 5 and record["steps"] == 2


def test_a_broken_file_prints_one_line_naming_it_and_the_others_still_run(tiny_env, tmp_path, data_dir, capsys):
    good = write(tmp_path, "good.wav", recording("wav"))
    broken = write(tmp_path, "broken.wav", b"definitely not audio" * 50)
    empty = write(tmp_path, "empty.mp3", b"")
    assert main(["generate", broken, good, empty, *FAST, "--json"]) == 1
    captured = capsys.readouterr()
    assert len(json_lines(captured.out)) == 1
    errors = [line for line in captured.err.splitlines() if line.startswith(str(tmp_path))]
    assert errors == [f"{broken}: not an audio file (its format was not recognised: Invalid data found when processing input)",
                      f"{empty}: the file is empty"]
    assert "Traceback" not in captured.err
    assert len(files_under(data_dir / "images")) == 1


def test_bad_options_are_one_clear_line(tiny_env, tmp_path, capsys):
    good = write(tmp_path, "good.wav", recording("wav"))
    assert main(["generate", good, "--scheduler", "fastest"]) == 1
    assert "unknown scheduler 'fastest'; choose one of: dpmpp-2m" in capsys.readouterr().err


def test_history_search_show_and_delete(tiny_env, tmp_path, data_dir, capsys):
    main(["generate", write(tmp_path, "a.wav", recording("wav")), *FAST, "--prompt", "a lighthouse at dusk", "--json"])
    main(["generate", write(tmp_path, "b.wav", recording("wav")), *FAST, "--prompt", "a red fox", "--json"])
    first, second = json_lines(capsys.readouterr().out)

    assert main(["history", "--json"]) == 0
    assert [r["id"] for r in json_lines(capsys.readouterr().out)] == [second["id"], first["id"]]
    assert main(["history", "--search", "lighthouse", "--json"]) == 0
    assert [r["id"] for r in json_lines(capsys.readouterr().out)] == [first["id"]]

    assert main(["show", first["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt"] == "a lighthouse at dusk"

    assert main(["delete", first["id"]]) == 0  # to the trash: gone from the history, its files kept
    assert "trash --restore" in capsys.readouterr().out
    assert main(["show", first["id"]]) == 1
    assert f"no generation with id {first['id']}" in capsys.readouterr().err
    assert (data_dir / first["image_path"]).exists()
    assert main(["trash", "--json"]) == 0
    assert [i["generation_id"] for i in json.loads(capsys.readouterr().out)] == [first["id"]]
    assert main(["trash", "--empty"]) == 0  # the local user is an admin when no roles say otherwise
    assert not (data_dir / first["image_path"]).exists() and not (data_dir / first["audio_path"]).exists()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "nope"])
def test_show_and_delete_refuse_malformed_ids(tiny_env, capsys, bad):
    assert main(["delete", bad]) == 1
    assert "is not a generation id" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_core_turns_an_mp3_named_wav_into_a_generation(tiny_env, tmp_path):
    disguised = write(tmp_path, "phone.wav", recording("mp3"))
    result = subprocess.run([sys.executable, "-m", "core", "generate", disguised, *FAST, "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (record,) = json_lines(result.stdout)
    assert record["audio_path"].endswith(".mp3")
    assert "Tiny profile" in result.stderr and "images are noise" in result.stderr  # the person is told


def test_similarity_neighbours_and_search_print_correct_results(tiny_env, tmp_path, capsys):
    import numpy as np

    for i in range(3):
        main(["generate", write(tmp_path, f"{i}.wav", recording("wav", frequency=300 + 200 * i)), *FAST,
              "--seed", str(i), "--json"])
    ids = [r["id"] for r in json_lines(capsys.readouterr().out)]

    assert main(["similarity", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ids"] == ids and result["computed_embeddings"] == 3
    matrix = np.array(result["matrix"])
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)
    assert (matrix <= 1.0 + 1e-6).all() and (matrix >= -1.0 - 1e-6).all()

    assert main(["similarity", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["computed_embeddings"] == 0  # cached now

    assert main(["neighbours", ids[0], "-k", "2", "--json"]) == 0
    near = json_lines(capsys.readouterr().out)
    assert [n["id"] for n in near] == sorted(ids[1:], key=lambda i: -matrix[0, ids.index(i)])
    assert [n["score"] for n in near] == pytest.approx([matrix[0, ids.index(n["id"])] for n in near], abs=1e-5)

    assert main(["search", "a red fox", "-k", "3", "--json"]) == 0
    found = json_lines(capsys.readouterr().out)
    assert sorted(f["id"] for f in found) == sorted(ids)
    assert [f["score"] for f in found] == sorted((f["score"] for f in found), reverse=True)


def test_neighbours_of_an_unknown_id_is_a_clear_error(tiny_env, capsys):
    assert main(["neighbours", "0" * 32]) == 1
    assert "no generation with id" in capsys.readouterr().err


def test_a_recipe_sets_scheduler_steps_and_caching_and_flags_override_it(tiny_env, tmp_path, capsys):
    wav = write(tmp_path, "a.wav", recording("wav"))
    assert main(["generate", wav, "--recipe", "fast", "--steps", "4", "--size", "64", "--json"]) == 0
    (record,) = json_lines(capsys.readouterr().out)
    assert (record["scheduler"], record["steps"], record["deepcache_interval"]) == ("dpmpp-2m", 4, 3)
    assert main(["generate", wav, "--recipe", "warp"]) == 1
    assert "unknown recipe 'warp'; choose one of: default, fast, original, turbo" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["history", "--limit", "99999999999999999999"], "out of range: a whole number from 1 to 10000"),
    (["history", "--limit", "0"], "out of range"),
    (["history", "--limit", "ten"], "'ten' is not a whole number"),
    (["search", "fox", "-k", "-1"], "out of range: a whole number from 1 to 1000"),
    (["neighbours", "0" * 32, "-k", "0"], "out of range"),
    (["generate", "x.wav", "--steps", "151"], "from 1 to 150"),
    (["generate", "x.wav", "--seed", "-1"], "from 0 to 4294967295"),
    (["generate", "x.wav", "--guidance", "nan"], "out of range: a number from 0.0 to 30.0"),
    (["generate", "x.wav", "--guidance", "1e309"], "out of range"),
    (["generate", "x.wav", "--size", "100000"], "from 64 to 1024"),
])
def test_every_numeric_option_has_a_range_and_a_one_line_error(tiny_env, data_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err and files_under(data_dir) == []


def test_the_trash_and_the_audit_trail_from_the_command_line_with_roles(tiny_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("V2I_VIEWERS", "vera")
    main(["generate", write(tmp_path, "a.wav", recording("wav")), *FAST, "--prompt", "a fox", "--as", "alice",
          "--json"])
    (made,) = json_lines(capsys.readouterr().out)
    assert main(["delete", made["id"], "--as", "bob"]) == 1
    assert "bob may delete generations only for what they made themselves" in capsys.readouterr().err
    assert main(["generate", write(tmp_path, "b.wav", recording("wav")), *FAST, "--as", "vera"]) == 1
    assert "vera is a viewer here, and only admins and members may make images" in capsys.readouterr().err
    assert main(["rate", made["id"], "--stars", "5", "--as", "vera"]) == 1
    assert "viewer" in capsys.readouterr().err
    assert main(["delete", made["id"], "--as", "alice"]) == 0
    assert main(["trash", "--restore", made["id"], "--as", "bob"]) == 1
    assert main(["trash", "--empty", "--as", "alice"]) == 1
    assert "only admins may empty the trash" in capsys.readouterr().err
    assert main(["trash", "--restore", made["id"], "--as", "alice", "--json"]) == 0
    capsys.readouterr()
    assert main(["show", made["id"], "--json"]) == 0
    capsys.readouterr()
    assert main(["audit", "--as", "alice"]) == 1  # members do not read the trail
    capsys.readouterr()
    monkeypatch.setenv("V2I_USER", "Ada")
    assert main(["audit", "--json"]) == 1  # with roles listed, the local user is an admin only when listed too
    assert "Ada is a member here" in capsys.readouterr().err
    monkeypatch.setenv("V2I_ADMINS", "ada")
    assert main(["audit", "--json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert [(r["who"], r["action"], r["source"]) for r in reversed(trail)] == [
        ("bob", "role refusal", "cli"), ("vera", "role refusal", "cli"), ("vera", "role refusal", "cli"),
        ("alice", "delete", "cli"), ("bob", "role refusal", "cli"), ("alice", "role refusal", "cli"),
        ("alice", "restore", "cli"), ("alice", "role refusal", "cli"), ("ada", "role refusal", "cli")]


def test_backup_check_and_restore_from_the_command_line(tiny_env, tmp_path, data_dir, capsys):
    main(["generate", write(tmp_path, "a.wav", recording("wav")), *FAST, "--prompt", "a fox", "--json"])
    (made,) = json_lines(capsys.readouterr().out)
    assert main(["check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["backup", str(tmp_path / "bk"), "--as", "bob"]) == 1
    assert "only admins may back up" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "bk"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 2
    assert main(["restore", str(tmp_path / "bk"), "--into", str(data_dir)]) == 1  # never over a data folder
    assert "is inside the data folder" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "bk"), "--into", str(tmp_path / "new"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    (data_dir / made["image_path"]).unlink()
    assert main(["check"]) == 1
    assert f"missing files: 1\n  {made['image_path']}" in capsys.readouterr().out


def test_an_export_leaves_a_row_in_the_audit_trail(tiny_env, tmp_path, capsys):
    main(["generate", write(tmp_path, "a.wav", recording("wav")), *FAST, "--prompt", "a fox", "--json"])
    assert main(["export", "--csv", str(tmp_path / "out.csv")]) == 0
    capsys.readouterr()
    assert main(["audit", "--action", "export", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["target"] == str(tmp_path / "out.csv") and row["detail"] == "1 generation" and row["source"] == "cli"


def test_any_unique_prefix_of_six_or_more_finds_a_generation_and_a_shared_one_names_both(tiny_env, data_dir, capsys):
    from core import Store

    store = Store(data_dir)
    for gid in ("1f443a4e8ca44d55befe78ef4b5c7295", "abcdef0000000000000000000000000a",
                "abcdef0000000000000000000000000b"):
        store.insert_generation({"id": gid, "created_at": "2026-11-29T10:00:00+00:00", "transcript": "t", "prompt": "p",
                                 "image_path": f"images/{gid}.png", "audio_path": f"audio/{gid}.wav", "seed": 1,
                                 "steps": 2, "guidance": 7.5, "scheduler": "dpmpp-2m", "width": 64, "height": 64,
                                 "whisper_model": "w", "sd_model": "s", "clip_model": "c"})
    assert main(["show", "1f443a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "1f443a4e8ca44d55befe78ef4b5c7295"
    assert main(["show", "abcdef"]) == 1
    err = capsys.readouterr().err
    assert "abcdef is the start of several generation ids" in err
    assert "abcdef0000000000000000000000000a" in err and "abcdef0000000000000000000000000b" in err
    assert main(["show", "abcde"]) == 1 and "is not a generation id" in capsys.readouterr().err  # 5: too short
    assert main(["show", "999999"]) == 1 and "no generation id starts with 999999" in capsys.readouterr().err

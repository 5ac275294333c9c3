"""The command line as an installed command (issue 39, 12-13): ``v2i`` works from any folder after the README's
set-up, ``python -m core`` still works, and piping any listing into ``head`` ends quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from core import Store

ROOT = Path(__file__).resolve().parent.parent
V2I = Path(sys.executable).parent / "v2i"


def test_v2i_answers_from_another_folder(tmp_path, tiny_env):
    assert V2I.is_file(), "the README's set-up installs the project (requirements.txt's -e .): v2i is missing"
    answer = subprocess.run([str(V2I), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0 and answer.stdout.startswith("usage: v2i")
    listed = subprocess.run([str(V2I), "history"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "no generations found" in listed.stderr
    module = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m core")


def test_a_listing_piped_into_head_ends_quietly(data_dir, tiny_env):
    store = Store(data_dir)
    with store.write() as db:
        db["generations"].insert_all({"id": uuid.uuid4().hex, "created_at": "2026-12-01T10:00:00+00:00",
                                      "transcript": f"words number {n} " * 4, "prompt": "p", "language": "en",
                                      "image_path": "images/x.png", "audio_path": "audio/x.wav", "created_by": "ana"}
                                     for n in range(3000))
    for command in (["history", "--limit", "3000"], ["history", "--limit", "3000", "--json"]):
        reader = subprocess.Popen([sys.executable, "-m", "core", *command], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=os.environ)
        first = reader.stdout.readline()
        reader.stdout.close()  # what `| head -1` does once it has its line
        err = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 0 and first, err
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err

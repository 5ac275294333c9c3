"""A corpus of hostile inputs (search strings, file names, transcripts, prompts, ids, URL parameters, audio
files) through the command line and the pages: each gives a plain message, or is treated as plain text,
and changes nothing it should not."""

import hashlib
import json

import pytest
from apptest import errors, no_exception, open_app, texts
from helpers import files_under

from core.cli import main
from core.generation.synth import recording

HOSTILE_TEXTS = [
    "'; DROP TABLE generations; --", '" OR 1=1 --', "fox) OR (1", "NEAR(fox red, 2)", "*", '"', "^fox",
    "<script>alert(1)</script>", "**bold** [link](javascript:alert(1)) :red[x] $x^2$", "=HYPERLINK(\"http://x\")",
    "../../etc/passwd", "/etc/passwd", "C:\\Windows\\system32", "\x00nul\x00", "\u202eevil\u202c", "\r\n\t",
    "🦊" * 500, "fox " * 10_000, "a" * 50_000,
]
HOSTILE_IDS = ["../../etc/passwd", "0" * 31, "0" * 33, "g" * 32, "' OR 1=1 --", "", " ", "%00", "1e309", "-1",
               "0" * 32 + "\n", "/" + "0" * 32]
HOSTILE_AUDIO = {
    "empty": b"",
    "text": b"meeting notes, not a recording\n" * 20,
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
    "zip": b"PK\x03\x04" + b"\x00" * 200,
    "wav header only": recording("wav")[:44],
    "wav with a lying header": recording("wav")[:40] + b"\xff\xff\xff\x7f",
    "sdp": b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n",
    "playlist": b"#EXTM3U\n#EXTINF:1.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    "random": hashlib.sha256(b"seed").digest() * 64,
    "silence": recording("wav", amplitude=0.0),
}


def fingerprint(data_dir):
    """Everything a hostile input must leave as it was: the rows and the files."""
    from core.history.store import Store

    store = Store(data_dir)
    rows = [tuple(r.values()) for r in store.query("SELECT * FROM generations ORDER BY id")]
    jobs = [tuple(r.values()) for r in store.query("SELECT * FROM jobs ORDER BY id")]
    store.close()
    return rows, jobs, [str(p) for p in files_under(data_dir) if not p.name.startswith("v2i.db")]


@pytest.fixture
def stored(tiny_env, make_generation, data_dir):
    make_generation("a red fox in the snow", seed=1)
    make_generation("a lighthouse at dusk", seed=2)
    return fingerprint(data_dir)


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_a_hostile_search_is_plain_words_on_the_command_line(stored, data_dir, capsys, text):
    assert main(["history", "--search", text, "--json"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    words = {w.lower() for w in __import__("re").findall(r"\w+", text[:200])}
    for record in found:  # whatever comes back really has every searched word (as a prefix)
        indexed = (record["transcript"] + " " + record["prompt"]).lower()
        assert all(any(token.startswith(w) for token in __import__("re").findall(r"\w+", indexed)) for w in words)
    assert fingerprint(data_dir) == stored


@pytest.mark.parametrize("value", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
@pytest.mark.parametrize("command", ["show", "delete", "neighbours"])
def test_a_hostile_id_is_one_plain_line_and_changes_nothing(stored, data_dir, capsys, command, value):
    assert main([command, value]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert fingerprint(data_dir) == stored


@pytest.mark.parametrize("name", sorted(HOSTILE_AUDIO))
def test_a_hostile_recording_is_refused_in_one_line_by_the_command_line(stored, data_dir, tmp_path, capsys, name):
    path = tmp_path / "upload.wav"
    path.write_bytes(HOSTILE_AUDIO[name])
    assert main(["generate", str(path), "--steps", "2", "--size", "64"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: Tiny profile")]
    assert len(err) == 1 and err[0].startswith(f"{path}: ") and "Traceback" not in err[0]
    assert fingerprint(data_dir) == stored


@pytest.mark.parametrize("name", sorted(HOSTILE_AUDIO))
def test_a_hostile_recording_is_refused_plainly_by_the_generate_page(app_env, data_dir, name):
    before = fingerprint(data_dir)
    at = open_app("pages/generate.py")
    at.file_uploader[0].set_value([(f"{name}.wav", HOSTILE_AUDIO[name], "audio/wav")])
    no_exception(at.run())
    generate = [b for b in at.button if b.label == "Generate"]
    if generate:  # an empty file never reaches a panel: the uploader has nothing to offer
        no_exception(generate[0].click().run())
        assert len(errors(at)) == 1 and errors(at)[0].startswith(f"{name}.wav: ")
    assert fingerprint(data_dir) == before


WORDY = [t for t in HOSTILE_TEXTS[:17] if t.strip()]


@pytest.mark.parametrize("text", WORDY, ids=range(len(WORDY)))
def test_hostile_words_are_stored_and_shown_as_plain_text(app_env, make_generation, data_dir, text):
    row = make_generation(text, prompt=text, filename=text)
    at = open_app("pages/history.py")
    shown = texts(at)
    assert row["transcript"] in shown and row["prompt"] in shown  # literally, as st.text: never markdown or HTML
    assert not at.markdown or all("<script>" not in m.value for m in at.markdown)


@pytest.mark.parametrize("params", [
    {"id": "../../etc/passwd"}, {"id": "' OR 1=1 --"}, {"page": "-1"}, {"a": "x" * 5000, "b": "<script>"},
    {"search": "\x00"}, {"collection": "../"},
])
@pytest.mark.parametrize("page", ["pages/history.py", "pages/similarity.py", "pages/overview.py", "pages/generate.py"])
def test_hostile_url_parameters_change_nothing_and_show_no_traceback(app_env, make_generation, data_dir, page, params):
    make_generation("a red fox", seed=1)
    before = fingerprint(data_dir)
    from streamlit.testing.v1 import AppTest

    from apptest import DASHBOARD, TIMEOUT

    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    no_exception(at.run())
    no_exception(at.switch_page(page).run())
    assert fingerprint(data_dir) == before

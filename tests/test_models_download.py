"""`python -m core models list|pull` and a first run's downloads, against a model hub on loopback (HF_ENDPOINT)
that serves the tiny models in the hub's layout; huggingface_hub's and whisper's own download code runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import catalog
from core.models.catalog import KNOWN_SIZES, PINNED, WHISPER_SIZES
from core.generation.synth import recording
from helpers import random_whisper, wait_until
from hubserver import Hub, serve

ROOT = Path(__file__).resolve().parent.parent
SD_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
              "vae/diffusion_pytorch_model.safetensors")


@pytest.fixture
def hub(tiny_models_dir, tmp_path):
    """The tiny SD in the hub's layout, with what a real SD repository also holds and the app never reads: a
    multi-GB-style root checkpoint, .bin copies and the safety checker."""
    sd = tmp_path / "repo-sd"
    shutil.copytree(tiny_models_dir / "sd-tiny-random", sd)
    (sd / "v1-5-pruned-emaonly.safetensors").write_bytes(os.urandom(300_000))
    (sd / "unet" / "diffusion_pytorch_model.bin").write_bytes(os.urandom(200_000))
    hub = Hub()
    hub.add_folder("test/tiny-sd", sd)
    server = serve(hub)
    yield hub
    server.shutdown()


def hub_env(hub: Hub, tmp_path: Path, tiny_models_dir: Path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("V2I_", "HF_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               HF_HUB_DISABLE_TELEMETRY="1", V2I_DATA_DIR=str(tmp_path / "data"), V2I_SD_MODEL="test/tiny-sd",
               V2I_WHISPER_MODEL=random_whisper(tiny_models_dir), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def snapshot_files(tmp_path: Path, repo: str) -> set[str]:
    snapshots = list((tmp_path / "hf" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots").iterdir())
    assert len(snapshots) == 1
    return {p.relative_to(snapshots[0]).as_posix() for p in snapshots[0].rglob("*") if p.is_file()}


def test_list_tells_a_newcomer_each_default_model_its_pinned_commit_and_its_download_size(tmp_path, monkeypatch,
                                                                                           capsys):
    import huggingface_hub.constants

    from core.cli import main

    for key in [k for k in os.environ if k.startswith("V2I_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("V2I_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))

    assert main(["models", "list", "--json"]) == 0
    listed = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"whisper", "sd", "lora", "decoder", "clip"}
    for key, repo in (("sd", "stable-diffusion-v1-5/stable-diffusion-v1-5"), ("clip", "openai/clip-vit-base-patch32"),
                      ("lora", "latent-consistency/lcm-lora-sdv1-5"), ("decoder", "madebyollin/taesd")):
        assert listed[key]["source"] == repo and listed[key]["revision"] == PINNED[repo] and listed[key]["pinned"]
        assert listed[key]["cached"] is False and listed[key]["size_on_disk"] == 0
    repo = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert listed["sd"]["download_size"] == sum(KNOWN_SIZES[(repo, name)] for name in SD_WEIGHTS + (
        "tokenizer/vocab.json", "tokenizer/merges.txt"))  # fp32 on the CPU; never the root checkpoints
    assert 4.2e9 < listed["sd"]["download_size"] < 4.3e9
    # Whisper base through faster-whisper (V2I_WHISPER_BACKEND=auto, nothing cached): its pinned CTranslate2 conversion.
    faster = "Systran/faster-whisper-base"
    assert (listed["whisper"]["source"], listed["whisper"]["revision"]) == (faster, PINNED[faster])
    assert listed["whisper"]["pinned"] and not listed["whisper"]["cached"]
    monkeypatch.setenv("V2I_WHISPER_BACKEND", "openai")
    assert main(["models", "list", "--json"]) == 0
    whisper = next(row for row in json.loads(capsys.readouterr().out) if row["key"] == "whisper")
    assert whisper["revision"] in __import__("whisper")._MODELS["base"]  # whisper's URL pins the SHA-256
    assert whisper["download_size"] == WHISPER_SIZES["base"]

    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert "Stable Diffusion" in text and "4.27 GB" in text and "python -m core models pull all" in text


def test_a_gpu_pulls_the_fp16_weights_at_half_the_size(settings):
    real = settings.with_overrides(sd_model="stable-diffusion-v1-5/stable-diffusion-v1-5")
    cpu = {m.key: m for m in catalog.models(real, device="cpu")}
    gpu = {m.key: m for m in catalog.models(real, device="cuda")}
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in gpu["sd"].required
    assert gpu["sd"].known_size() < cpu["sd"].known_size() * 0.51
    assert not any("safety_checker" in p for p in cpu["sd"].patterns)  # only when the safety checker is on
    with_checker = catalog.models(real, safety_checker=True)
    assert "safety_checker/model.safetensors" in with_checker[1].required


def test_a_model_given_as_id_at_commit_loads_and_lists_at_that_commit(settings):
    model = catalog.models(settings.with_overrides(sd_model="someone/model@" + "a" * 40))[1]
    assert (model.source, model.revision, model.pinned) == ("someone/model", "a" * 40, True)
    unpinned = catalog.models(settings.with_overrides(sd_model="someone/model"))[1]
    assert (unpinned.revision, unpinned.pinned) == ("main", False)


def test_pull_shows_the_total_first_fetches_only_what_the_pipeline_loads_and_then_works_offline(hub, tmp_path,
                                                                                                tiny_models_dir):
    env = hub_env(hub, tmp_path, tiny_models_dir)
    done = cli(env, "models", "pull", "sd", "--recipe", "default")
    assert done.returncode == 0, done.stderr
    wanted = {name for name in hub.repos["test/tiny-sd"].files
              if not name.startswith("safety_checker/") and name.endswith((".json", ".safetensors"))
              and "/" in name or name == "model_index.json"}
    assert snapshot_files(tmp_path, "test/tiny-sd") == wanted
    never = ("v1-5-pruned-emaonly.safetensors", "unet/diffusion_pytorch_model.bin", "safety_checker/model.safetensors")
    assert not any(hub.ranges(name) for name in never)  # not one byte of what the app does not read
    total = sum(len(hub.repos["test/tiny-sd"].files[name]) for name in wanted)
    lines = done.stdout.splitlines()
    assert f"Total to download: {catalog.size_text(total)}" in lines
    assert lines[-1].startswith("Done")
    assert "unet/diffusion_pytorch_model.safetensors" in done.stderr  # a bar per file
    assert "Nothing to download" in cli(env, "models", "pull", "sd", "--recipe", "default").stdout

    offline = dict(env, HF_HUB_OFFLINE="1")
    listed = {row["key"]: row for row in json.loads(cli(offline, "models", "list", "--json").stdout)}
    assert listed["sd"]["cached"] and listed["sd"]["size_on_disk"] == total
    speech = tmp_path / "tone.wav"
    speech.write_bytes(recording("wav", seconds=1.0))
    made = cli(offline, "generate", str(speech), "--prompt", "a red boat", "--steps", "1", "--size", "64", "--force",
               "--json")
    assert made.returncode == 0, made.stderr
    row = json.loads(made.stdout.splitlines()[-1])
    assert row["model_revisions"]["sd"] == hub.repos["test/tiny-sd"].commit  # the commit "main" resolved to
    assert "downloading" not in made.stderr


def test_a_first_job_downloads_its_missing_model_before_loading_and_says_so(hub, tmp_path, tiny_models_dir):
    env = hub_env(hub, tmp_path, tiny_models_dir)
    speech = tmp_path / "tone.wav"
    speech.write_bytes(recording("wav", seconds=1.0))
    made = cli(env, "generate", str(speech), "--prompt", "a red boat", "--steps", "1", "--size", "64", "--force",
               "--json")
    assert made.returncode == 0, made.stderr
    size = sum(len(data) for name, data in hub.repos["test/tiny-sd"].files.items()
               if name in snapshot_files(tmp_path, "test/tiny-sd"))
    assert f"downloading Stable Diffusion: {catalog.size_text(size)} of {catalog.size_text(size)}" in made.stderr
    assert json.loads(made.stdout.splitlines()[-1])["model_revisions"]["sd"] == hub.repos["test/tiny-sd"].commit


def big_model_hub(tmp_path: Path) -> tuple[Hub, bytes]:
    """A CLIP-shaped repository whose weights are bigger than huggingface_hub's 10 MB chunk."""
    weights = os.urandom(24 * 2**20)
    folder = tmp_path / "repo-clip"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(weights)
    hub = Hub()
    hub.add_folder("test/big-clip", folder)
    return hub, weights


def pulled_weights(tmp_path: Path) -> bytes:
    snapshot = next((tmp_path / "hf" / "hub" / "models--test--big-clip" / "snapshots").iterdir())
    return (snapshot / "model.safetensors").read_bytes()


def test_a_connection_that_drops_part_way_is_resumed_from_where_it_stopped(tmp_path, tiny_models_dir):
    hub, weights = big_model_hub(tmp_path)
    hub.drop["model.safetensors"] = 16 * 2**20
    server = serve(hub)
    try:
        pulled = cli(hub_env(hub, tmp_path, tiny_models_dir, V2I_CLIP_MODEL="test/big-clip"), "models", "pull", "clip")
        assert pulled.returncode == 0, pulled.stderr
        first, retry = hub.ranges("model.safetensors")
        resumed_at = int(retry.removeprefix("bytes=").removesuffix("-"))
        assert first is None and 0 < resumed_at <= 16 * 2**20  # asked for the rest only, not the whole file again
        assert hub.sent["model.safetensors"] == 16 * 2**20 + len(weights) - resumed_at
        assert hashlib.sha256(pulled_weights(tmp_path)).digest() == hashlib.sha256(weights).digest()
    finally:
        server.shutdown()


def test_a_pull_killed_part_way_keeps_the_files_it_finished_and_cleans_up_the_one_in_flight(tmp_path, hub,
                                                                                             tiny_models_dir):
    unet = "unet/diffusion_pytorch_model.safetensors"
    hub.stall[unet] = 1000
    env = hub_env(hub, tmp_path, tiny_models_dir)
    first = subprocess.Popen([sys.executable, "-m", "core", "models", "pull", "sd", "--recipe", "default"], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert hub.stalled.wait(120)
    finally:
        first.kill()  # the machine went down mid-download
        first.wait()
    finished = {path.split("/resolve/")[1].split("/", 1)[1] for method, path, _ in hub.requests
                if method == "GET" and "/resolve/" in path} - {unet}
    assert finished
    blobs = tmp_path / "hf" / "hub" / "models--test--tiny-sd" / "blobs"
    left = list(blobs.glob("*.incomplete"))
    for partial in left:  # as if it had been left there an hour ago
        os.utime(partial, (time.time() - 3600, time.time() - 3600))

    again = cli(env, "models", "pull", "sd", "--recipe", "default")
    assert again.returncode == 0, again.stderr
    for name in finished:
        assert len(hub.ranges(name)) == 1, name  # not downloaded twice
    assert len(hub.ranges(unet)) == 2
    assert not [p for p in left if p.exists()] and not list(blobs.glob("*.incomplete"))


def test_too_small_a_disk_is_refused_before_a_byte_is_downloaded(hub, tmp_path, tiny_models_dir):
    env = hub_env(hub, tmp_path, tiny_models_dir)
    tiny_disk = ("import shutil, sys; from core.cli import main; "
                 "shutil.disk_usage = lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000); "
                 "sys.exit(main(['models', 'pull', 'sd', '--recipe', 'default']))")
    done = subprocess.run([sys.executable, "-c", tiny_disk], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: not enough disk space: the models need 4.4 MB")
    assert "only 0.0 MB is free" in done.stderr and "HF_HOME" in done.stderr and "Traceback" not in done.stderr
    assert not [r for r in hub.requests if "/resolve/" in r[1] and r[0] == "GET"]
    assert not list((tmp_path / "hf" / "hub" / "models--test--tiny-sd").glob("blobs/*"))


def test_a_real_disk_too_small_is_refused(hub, tmp_path, tiny_models_dir):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests mount a small disk")
    try:
        env = hub_env(hub, tmp_path, tiny_models_dir, HF_HOME=str(small / "hf"))
        done = cli(env, "models", "pull", "sd", "--recipe", "default")
        assert done.returncode == 1 and "not enough disk space" in done.stderr
        assert not list((small / "hf").rglob("*.safetensors"))
    finally:
        subprocess.run(["umount", str(small)])


def test_whisper_is_pulled_by_whisper_s_own_download_which_checks_its_checksum(tmp_path, tiny_models_dir):
    checkpoint = Path(random_whisper(tiny_models_dir)).read_bytes()
    digest = hashlib.sha256(checkpoint).hexdigest()
    (tmp_path / "mirror" / digest).mkdir(parents=True)
    (tmp_path / "mirror" / digest / "small.pt").write_bytes(checkpoint)
    env = hub_env(Hub(url="http://127.0.0.1:9"), tmp_path, tiny_models_dir, V2I_WHISPER_MODEL="small",
                  V2I_WHISPER_BACKEND="openai")  # whisper's own checkpoint (auto would pull the CTranslate2 one)
    url = (tmp_path / "mirror" / digest / "small.pt").as_uri()
    pulled = subprocess.run([sys.executable, "-c", f"import sys, whisper; whisper._MODELS['small'] = {url!r}; "
                             "from core.cli import main; sys.exit(main(['models', 'pull', 'whisper']))"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "xdg" / "whisper" / "small.pt").read_bytes() == checkpoint
    assert f"Whisper                  small  @ {digest}" in pulled.stdout

    (tmp_path / "xdg" / "whisper" / "small.pt").unlink()
    (tmp_path / "mirror" / digest / "small.pt").write_bytes(checkpoint[:-1] + b"x")  # damaged on the way
    damaged = subprocess.run([sys.executable, "-c", f"import sys, whisper; whisper._MODELS['small'] = {url!r}; "
                              "from core.cli import main; sys.exit(main(['models', 'pull', 'whisper']))"],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert damaged.returncode == 1 and "SHA256" in damaged.stderr.upper() and "Traceback" not in damaged.stderr


def test_a_missing_model_s_error_points_at_models_pull(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from core.errors import ModelLoadError
    from core.models.cache import load_stable_diffusion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError) as err:
        load_stable_diffusion("stable-diffusion-v1-5/stable-diffusion-v1-5", "cpu")
    assert "python -m core models pull sd" in str(err.value) and "451f4fe16113" in str(err.value)


def test_the_first_run_note_names_the_missing_models_their_size_and_the_command(settings):
    real = settings.with_overrides(sd_model="stable-diffusion-v1-5/stable-diffusion-v1-5", whisper_model="tiny.en",
                                   lcm_lora="latent-consistency/lcm-lora-sdv1-5", taesd="madebyollin/taesd")
    note = catalog.first_run_note(real, "default", "cpu")
    assert "Stable Diffusion stable-diffusion-v1-5/stable-diffusion-v1-5 (4.27 GB)" in note
    assert "python -m core models pull all" in note and "LCM-LoRA" not in note
    assert "LCM-LoRA" in catalog.first_run_note(real, "turbo", "cpu")
    assert catalog.first_run_note(settings, "turbo", "cpu") == ""  # the tiny profile has everything it needs


def test_a_database_from_before_revisions_gains_the_column_and_keeps_its_rows(tmp_path):
    from helpers import old_database

    from core.history.store import Store, public_record

    old = old_database(tmp_path, 10)
    old["generations"].insert({"id": "1" * 32, "created_at": "2026-11-01T10:00:00+00:00", "transcript": "a fox",
                               "prompt": "a fox", "image_path": "images/x.png", "audio_path": "audio/x.wav",
                               "whisper_model": "base", "sd_model": "x", "clip_model": "y"})
    old.conn.commit()
    old.close()
    store = Store(tmp_path)
    (row,) = store.query_generations()
    assert row["transcript"] == "a fox" and row["model_revisions"] is None  # older rows do not know theirs
    assert public_record(row)["model_revisions"] is None


def test_a_model_the_hub_does_not_have_is_one_plain_line_pointing_at_the_fix(hub, tmp_path, tiny_models_dir):
    done = cli(hub_env(hub, tmp_path, tiny_models_dir, V2I_SD_MODEL="test/no-such-model"), "models", "pull", "sd",
               "--recipe", "default")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "test/no-such-model" in line and "python -m core models pull sd" in line
    assert not (tmp_path / "hf" / "hub" / "models--test--no-such-model" / "snapshots").exists()


# -- a hostile mirror (issue 32, 8) ----------------------------------------------------------------------------------

UNET = "unet/diffusion_pytorch_model.safetensors"


def test_a_mirror_whose_etag_is_a_path_writes_nothing_outside_the_cache(hub, tmp_path, tiny_models_dir):
    target = tmp_path / "outside"
    hub.etag[UNET] = f'"../../../../../../{target.relative_to("/")}"'
    done = cli(hub_env(hub, tmp_path, tiny_models_dir), "models", "pull", "sd", "--recipe", "default")
    assert done.returncode == 1 and "unsafe ETag" in done.stderr and "Traceback" not in done.stderr
    assert not target.exists() and not list(tmp_path.glob("outside*"))


@pytest.mark.parametrize("served", ["tampered", "truncated"])
def test_weights_that_differ_from_the_listing_are_refused_and_a_pull_then_repairs_them(hub, tmp_path, tiny_models_dir,
                                                                                      served):
    real = hub.repos["test/tiny-sd"].files[UNET]
    hub.serve_bytes[UNET] = (bytes([real[0] ^ 0xFF]) + real[1:]) if served == "tampered" else real[:len(real) // 2]
    env = hub_env(hub, tmp_path, tiny_models_dir)
    done = cli(env, "models", "pull", "sd", "--recipe", "default")
    assert done.returncode == 1 and UNET in done.stderr and "not kept" in done.stderr
    listed = {row["key"]: row for row in json.loads(cli(env, "models", "list", "--json").stdout)}
    assert not listed["sd"]["cached"]  # not counted as cached: generate will not load it
    del hub.serve_bytes[UNET]  # the mirror is fixed: the same pull repairs the model
    assert cli(env, "models", "pull", "sd", "--recipe", "default").returncode == 0
    snapshot = next((tmp_path / "hf" / "hub" / "models--test--tiny-sd" / "snapshots").iterdir())
    assert (snapshot / UNET).read_bytes() == real


def test_a_cached_file_damaged_later_is_found_and_downloaded_again_by_pull(hub, tmp_path, tiny_models_dir):
    env = hub_env(hub, tmp_path, tiny_models_dir)
    assert cli(env, "models", "pull", "sd", "--recipe", "default").returncode == 0
    snapshot = next((tmp_path / "hf" / "hub" / "models--test--tiny-sd" / "snapshots").iterdir())
    blob = (snapshot / UNET).resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF  # a bit flipped on disk: same size, other bytes
    blob.write_bytes(bytes(data))
    done = cli(env, "models", "pull", "sd", "--recipe", "default")
    assert done.returncode == 0 and "Nothing to download" not in done.stdout, done.stdout + done.stderr
    assert (snapshot / UNET).read_bytes() == hub.repos["test/tiny-sd"].files[UNET]


def test_a_pinned_weights_file_of_the_wrong_size_does_not_count_as_cached(tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo = "madebyollin/taesd"
    snapshot = tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "snapshots" / PINNED[repo]
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 1000)  # KNOWN_SIZES says 9793292
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    model = next(m for m in catalog.models(load_settings_default()) if m.key == "decoder")
    assert not catalog.state_of(model, load_settings_default()).cached


def load_settings_default():
    from core.config import load_settings

    return load_settings({})

"""Every PNG the project writes or exports says an AI model made it (issue 26, 6): the IPTC digital source type in
its XMP, read back by Debian's exiftool, and, with the team's key, a C2PA manifest naming the software, the models
and their revisions, read back and validated by c2pa-python; the A1111 parameters stay readable."""

import io
import json
import shutil
import subprocess
import zipfile

import pytest

from core import HistoryFilter, provenance, read_parameters
from core.history.export import export_zip

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None and not __import__("os").environ.get("CI"),
                                    reason="exiftool is not installed (apt-get install libimage-exiftool-perl)")


def digital_source_type(path) -> str:
    done = subprocess.run([EXIFTOOL or "exiftool", "-XMP:DigitalSourceType", "-s3", str(path)], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


@needs_exiftool
def test_a_generated_and_an_exported_png_carry_the_ai_label_exiftool_reads(make_generation, store, tmp_path):
    row = make_generation("a red fox")
    path = store.file_path(row["image_path"])
    assert digital_source_type(path) == provenance.TRAINED_ALGORITHMIC_MEDIA
    with open(tmp_path / "images.zip", "wb") as target:
        export_zip(store, HistoryFilter(), target)
    with zipfile.ZipFile(tmp_path / "images.zip") as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".png")]
        archive.extract(name, tmp_path)
    assert digital_source_type(tmp_path / name) == provenance.TRAINED_ALGORITHMIC_MEDIA
    assert read_parameters(path.read_bytes())["prompt"] == row["prompt"]
    assert provenance.read_manifest(path.read_bytes()) is None  # no key configured: the XMP alone


@needs_exiftool
def test_with_the_teams_key_every_image_carries_a_signed_manifest_that_validates(tiny_env, tmp_path, models,
                                                                                 monkeypatch):
    from core import GenerationOptions, GenerationRequest, Store, load_settings, run_generation
    from core.generation.synth import recording

    chain, key, ca = provenance.make_team_key(tmp_path / "keys", name="Test team")
    monkeypatch.setenv("V2I_C2PA_CERT", str(chain))
    monkeypatch.setenv("V2I_C2PA_KEY", str(key))
    settings = load_settings()
    store = Store(settings.data_dir)
    row = run_generation(recording("wav"), GenerationRequest(transcript="a lighthouse", language="en",
                                                             options=GenerationOptions(steps=2, width=64, height=64)),
                         settings=settings, models=models, store=store)
    png = store.file_path(row["image_path"]).read_bytes()
    store_manifest = provenance.read_manifest(png, anchors_pem=ca.read_bytes())
    assert store_manifest["validation_state"] == "Trusted"
    active = store_manifest["manifests"][store_manifest["active_manifest"]]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["digitalSourceType"] == provenance.TRAINED_ALGORITHMIC_MEDIA
    named = next(a for a in active["assertions"] if a["label"] == "org.voice-to-image.models")["data"]
    assert named["models"]["stable_diffusion"] == row["sd_model"]
    assert named["revisions"] == json.loads(row["model_revisions"] or "{}")
    assert active["signature_info"]["common_name"] == "Test team signer"
    assert digital_source_type(store.file_path(row["image_path"])) == provenance.TRAINED_ALGORITHMIC_MEDIA
    assert read_parameters(png)["prompt"] == row["prompt"]  # A1111 readers still read the parameters
    tampered = bytearray(png)
    tampered[len(png) // 2] ^= 0xFF
    assert provenance.read_manifest(bytes(tampered), anchors_pem=ca.read_bytes())["validation_state"] != "Trusted"


def test_a_half_configured_key_is_refused_with_the_fix(settings):
    from core.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="set both V2I_C2PA_CERT"):
        provenance.signing_key(settings.with_overrides(c2pa_cert="/x.pem"))
    with pytest.raises(InvalidOptionError, match="does not exist"):
        provenance.signing_key(settings.with_overrides(c2pa_cert="/nope/c.pem", c2pa_key="/nope/k.pem"))

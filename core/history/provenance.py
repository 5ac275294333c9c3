"""Every PNG says it was made by an AI model: the IPTC digital source type ``trainedAlgorithmicMedia`` in its XMP
(what exiftool, photo libraries and social networks read), and, when the team configures a signing key, a C2PA
manifest (the Content Authenticity Initiative's ``c2pa-python``) naming the software, the models and their
revisions, signed with that key. The A1111 ``parameters`` chunk stays as it was."""

from __future__ import annotations

import datetime
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from PIL import Image

from ..errors import InvalidOptionError

SOFTWARE = "voice-to-image"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_KEY = "XML:com.adobe.xmp"  # the PNG iTXt keyword XMP lives under


def xmp_packet(meta: dict[str, Any]) -> str:
    """The XMP: the digital source type, the tool, and the model (every value escaped as an XML attribute)."""
    tool = f"{SOFTWARE} ({meta.get('sd_model') or 'Stable Diffusion'})"
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            f'Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)} '
            f'xmp:CreatorTool={quoteattr(tool)}/>'
            '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


@dataclass(frozen=True)
class SigningKey:
    cert: Path  # the signing certificate and its chain (PEM), as the team's CA issued it
    key: Path  # its private key (PEM)


def signing_key(settings) -> SigningKey | None:
    """The team's C2PA key from ``V2I_C2PA_CERT`` / ``V2I_C2PA_KEY`` (None when not configured)."""
    if not settings.c2pa_cert and not settings.c2pa_key:
        return None
    if not (settings.c2pa_cert and settings.c2pa_key):
        raise InvalidOptionError("set both V2I_C2PA_CERT (the certificate chain, PEM) and V2I_C2PA_KEY (its key)")
    key = SigningKey(Path(settings.c2pa_cert), Path(settings.c2pa_key))
    for path in (key.cert, key.key):
        if not path.is_file():
            raise InvalidOptionError(f"the C2PA file {path} does not exist: fix V2I_C2PA_CERT / V2I_C2PA_KEY")
    return key


def check_signing(settings) -> None:
    """Sign a tiny image once with the configured key, so a certificate or key that cannot sign is found at
    start-up (dashboard, worker, ``serve``, the command line) rather than after painting every job; the error names
    the settings. Nothing to check when no key is configured."""
    key = signing_key(settings)
    if key is not None:
        _check_key(key.cert, key.key, (key.cert.stat().st_mtime, key.key.stat().st_mtime))


@functools.lru_cache(maxsize=4)
def _check_key(cert: Path, key: Path, mtimes: tuple[float, float]) -> None:
    probe = io.BytesIO()
    Image.new("RGB", (8, 8)).save(probe, format="PNG")
    try:
        sign_png(probe.getvalue(), {}, SigningKey(cert, key))
    except Exception as err:  # c2pa's own errors and a PEM it cannot read: whatever it is, it cannot sign
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise InvalidOptionError(f"V2I_C2PA_CERT / V2I_C2PA_KEY cannot sign an image ({reason}): fix the "
                                 "certificate or key, or unset both to label images with XMP only") from None


@functools.lru_cache(maxsize=4)
def _signer(cert: Path, key: Path, mtimes: tuple[float, float]):
    import c2pa  # c2pa loads when an image is signed or read

    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=cert.read_bytes(), private_key=key.read_bytes(), ta_url=None)
    return c2pa.Signer.from_info(info)


def manifest_of(meta: dict[str, Any]) -> dict[str, Any]:
    revisions = json.loads(meta.get("model_revisions") or "{}")
    models = {"whisper": meta.get("whisper_model"), "stable_diffusion": meta.get("sd_model"),
              "lora": meta.get("lora"), "decoder": meta.get("decoder")}
    return {
        "claim_generator_info": [{"name": SOFTWARE, "version": "1"}],
        "title": "generation.png",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": {"name": SOFTWARE},
                "parameters": {"recipe": meta.get("recipe"), "steps": meta.get("steps"), "seed": meta.get("seed")}}]}},
            {"label": "org.voice-to-image.models", "data": {
                "models": {k: v for k, v in models.items() if v}, "revisions": revisions}},
        ],
    }


def sign_png(png: bytes, meta: dict[str, Any], key: SigningKey) -> bytes:
    """``png`` with a C2PA manifest embedded, signed with the team's key."""
    import c2pa  # c2pa loads when an image is signed or read

    signer = _signer(key.cert, key.key, (key.cert.stat().st_mtime, key.key.stat().st_mtime))
    out = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest_of(meta))) as builder:
        builder.sign(signer, "image/png", io.BytesIO(png), out)
    return out.getvalue()


def label_png(png: bytes, meta: dict[str, Any], settings) -> bytes:
    """The stored PNG: signed when the team has a key (the XMP is in ``png`` already, from ``pngmeta``)."""
    key = signing_key(settings)
    return png if key is None else sign_png(png, meta, key)


def read_manifest(png: bytes, anchors_pem: bytes | None = None) -> dict[str, Any] | None:
    """The C2PA manifest store of ``png`` as JSON (with ``validation_state``), validated against ``anchors_pem``
    (the team's CA) when given; None when the PNG has none."""
    import c2pa  # c2pa loads when an image is signed or read

    context = None
    if anchors_pem:
        context = c2pa.Context(c2pa.Settings.from_dict({"trust": {"user_anchors": anchors_pem.decode()},
                                                        "verify": {"verify_trust": True}}))
    try:
        with c2pa.Reader("image/png", io.BytesIO(png), context=context) as reader:
            return json.loads(reader.json())
    except c2pa.C2paError:
        return None


def make_team_key(folder: Path, name: str = "Voice to Image") -> tuple[Path, Path, Path]:
    """A team CA and a signing certificate it issued (ES256, one year), for trying C2PA out and for the tests:
    returns (certificate chain, key, CA certificate). A real deployment uses a certificate from a CA that C2PA
    readers trust."""
    from cryptography import x509  # cryptography loads when a certificate is read
    from cryptography.hazmat.primitives import hashes, serialization  # cryptography loads when a certificate is read
    from cryptography.hazmat.primitives.asymmetric import ec  # cryptography loads when a certificate is read
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # cryptography loads when a certificate is read

    def subject(cn: str):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])

    def usage(ca: bool):
        return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(subject(f"{name} CA")).issuer_name(subject(f"{name} CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(subject(f"{name} signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "c2pa-chain.pem", folder / "c2pa-key.pem", folder / "c2pa-ca.pem")
    paths[0].write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[1].chmod(0o600)
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths

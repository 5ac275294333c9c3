"""A model's own weights back from its checkpoint, exactly: what lets the CPU fuse the turbo recipe's LoRA into
the one shared UNet for turbo runs and give the other recipes their UNet back bit for bit (subtracting the LoRA
again would leave rounding behind). And weights parked in a file while they are not needed (the LoRA's own, once
fused), read back the same way when they are.

Tensors are read from the safetensors files with plain file reads straight into the parameters, not through a
mapping of the whole file, so restoring adds nothing to the process's resident memory."""

from __future__ import annotations

import json
import struct
from pathlib import Path

SINGLE_FILE = "diffusion_pytorch_model.safetensors"
INDEX_FILE = "diffusion_pytorch_model.safetensors.index.json"
_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def checkpoint_files(folder: str | Path) -> list[Path]:
    """The safetensors files of a diffusers model folder (one file, or the shards its index names); [] if none."""
    folder = Path(folder)
    index = folder / INDEX_FILE
    if index.is_file():
        return [folder / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return [folder / SINGLE_FILE] if (folder / SINGLE_FILE).is_file() else []


def checkpoint_names(files: list[Path]) -> set[str]:
    """Every tensor name the checkpoint holds (headers only)."""
    names: set[str] = set()
    for file in files:
        with open(file, "rb") as handle:
            names.update(name for name in _header(handle)[0] if name != "__metadata__")
    return names


def restore(targets: dict, files: list[Path]) -> None:
    """Copy each checkpoint tensor named in ``targets`` (name -> tensor) into that tensor, converted to its dtype
    as loading converted it. Raises ``KeyError`` naming any target the checkpoint does not hold."""
    import torch

    remaining = dict(targets)
    for file in files:
        with open(file, "rb") as handle:
            header, data_start = _header(handle)
            for name, entry in header.items():
                target = remaining.pop(name, None)
                if target is None:
                    continue
                start, end = entry["data_offsets"]
                handle.seek(data_start + start)
                dtype = getattr(torch, _DTYPES[entry["dtype"]])
                with torch.no_grad():
                    if dtype == target.dtype and target.is_contiguous():
                        handle.readinto(target.detach().reshape(-1).view(torch.uint8).numpy())  # straight into the tensor
                    else:
                        stored = torch.frombuffer(bytearray(handle.read(end - start)), dtype=dtype)
                        target.copy_(stored.reshape(entry["shape"]))
    if remaining:
        raise KeyError(f"the checkpoint {[str(f) for f in files]} has no {sorted(remaining)[:3]}")


def park(tensors: dict, file: Path) -> dict:
    """Free the storage of ``tensors`` (name -> parameter or tensor), first writing their values to the
    safetensors ``file`` unless it holds them already (values that never change, such as a LoRA's, are written
    once). Returns each one's shape, for :func:`unpark`."""
    import torch
    from safetensors.torch import save_file

    if not Path(file).is_file():
        save_file({name: tensor.detach().contiguous() for name, tensor in tensors.items()}, str(file))
    shapes = {}
    for name, tensor in tensors.items():
        shapes[name] = tuple(tensor.shape)
        tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
    return shapes


def unpark(tensors: dict, shapes: dict, file: Path) -> None:
    """Give parked ``tensors`` storage of their ``shapes`` again and read their values back from ``file``, bit
    for bit."""
    import torch

    for name, tensor in tensors.items():
        tensor.data = torch.empty(shapes[name], dtype=tensor.dtype, device=tensor.device)
    restore(tensors, [Path(file)])


def _header(handle) -> tuple[dict, int]:
    (length,) = struct.unpack("<Q", handle.read(8))
    return json.loads(handle.read(length)), 8 + length

"""A model's own weights back from its checkpoint, exactly: what lets the CPU fuse the turbo recipe's LoRA into
the one shared UNet for turbo runs and give the other recipes their UNet back bit for bit (subtracting the LoRA
again would leave rounding behind). And weights parked in a file while they are idle (the LoRA's own, while it is
fused or other recipes run), read back the same way when they are needed.

Tensors are read from the safetensors files with plain file reads straight into the parameters, not through a
mapping of the whole file, so restoring adds nothing to the process's resident memory."""

from __future__ import annotations

import json
import struct
import tempfile
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
    import torch  # torch loads on first use: pages import core without it

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
                        _read_into(handle, target, name)  # straight into the tensor
                    else:
                        stored = torch.frombuffer(bytearray(handle.read(end - start)), dtype=dtype)
                        target.copy_(stored.reshape(entry["shape"]))
    if remaining:
        raise KeyError(f"the checkpoint {[str(f) for f in files]} has no {sorted(remaining)[:3]}")


class ParkedTensors:
    """A place for tensors' values while their storage is freed: an unnamed temporary file (nothing is left on
    disk, whatever ends the process), written once, since what is parked here never changes (a LoRA's own
    weights, whisper's and CLIP's), and read back with plain reads straight into the tensors, bit for bit."""

    def __init__(self):

        self._file = tempfile.TemporaryFile(prefix="v2i-parked-")
        self._index: dict[str, tuple[int, tuple[int, ...]]] | None = None  # name -> (offset, shape), once written
        self._failed: OSError | None = None  # why the one write failed, if it did
        self.parked = False

    def park(self, tensors: dict) -> None:
        """Free the storage of ``tensors`` (name -> parameter or tensor), their values written first unless the
        file holds them already. Raises ``OSError`` (the tensors untouched, the file empty) if writing fails, and
        from then on without trying again: a disk that was full is not filled again at every park."""
        import torch  # torch loads on first use: pages import core without it

        if self.parked:
            return
        if self._failed is not None:
            raise OSError(f"the parked values could not be written before ({self._failed})")
        if self._index is None:
            try:
                self._write(tensors)
            except OSError as err:
                self._failed = err
                raise
        for tensor in tensors.values():
            tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
        self.parked = True

    def unpark(self, tensors: dict) -> None:
        """Give parked ``tensors`` their storage and values back."""
        import torch  # torch loads on first use: pages import core without it

        if not self.parked:
            return
        for name, tensor in tensors.items():
            offset, shape = self._index[name]
            tensor.data = torch.empty(shape, dtype=tensor.dtype, device=tensor.device)
            self._file.seek(offset)
            _read_into(self._file, tensor, name)
        self.parked = False

    def _write(self, tensors: dict) -> None:
        index, offset = {}, 0
        try:
            for name, tensor in tensors.items():
                data = _bytes_of(tensor.detach().contiguous())
                self._file.write(data)
                index[name] = (offset, tuple(tensor.shape))
                offset += data.nbytes
            self._file.flush()
        except OSError:
            self._file.seek(0)
            self._file.truncate()
            raise
        self._index = index


def _bytes_of(tensor):
    """A contiguous tensor's storage as a writable array of bytes (no copy)."""
    import torch  # torch loads on first use: pages import core without it

    return tensor.detach().reshape(-1).view(torch.uint8).numpy()


def _read_into(handle, tensor, name: str) -> None:
    """Fill a contiguous ``tensor`` with the next bytes of ``handle``; ``OSError`` if the file ends first."""
    target = _bytes_of(tensor)
    if handle.readinto(target) != target.nbytes:
        raise OSError(f"the stored values of {name!r} were cut short")


def _header(handle) -> tuple[dict, int]:
    (length,) = struct.unpack("<Q", handle.read(8))
    return json.loads(handle.read(length)), 8 + length

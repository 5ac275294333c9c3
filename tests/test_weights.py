"""Weights read back from a safetensors checkpoint, exactly, into the tensors that hold them."""

import pytest
import torch
from safetensors.torch import save_file

from core.models.weights import checkpoint_files, checkpoint_names, restore


def test_tensors_come_back_bit_for_bit_and_converted_as_loading_converts_them(tmp_path):
    stored = {"a.weight": torch.randn(3, 4, 3, 3), "a.bias": torch.randn(3), "b.weight": torch.randn(2, 2).half()}
    save_file(stored, tmp_path / "diffusion_pytorch_model.safetensors")
    files = checkpoint_files(tmp_path)
    assert checkpoint_names(files) == set(stored)
    targets = {"a.weight": torch.zeros(3, 4, 3, 3), "b.weight": torch.zeros(2, 2)}  # b: fp16 stored, fp32 held
    held = targets["a.weight"].data_ptr()
    restore(targets, files)
    assert torch.equal(targets["a.weight"], stored["a.weight"]) and targets["a.weight"].data_ptr() == held
    assert torch.equal(targets["b.weight"], stored["b.weight"].float())


def test_shards_are_found_through_their_index(tmp_path):
    save_file({"a": torch.ones(2)}, tmp_path / "one.safetensors")
    save_file({"b": torch.ones(2)}, tmp_path / "two.safetensors")
    (tmp_path / "diffusion_pytorch_model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "one.safetensors", "b": "two.safetensors"}}')
    target = {"b": torch.zeros(2)}
    restore(target, checkpoint_files(tmp_path))
    assert target["b"].tolist() == [1.0, 1.0]


def test_a_tensor_the_checkpoint_lacks_is_named(tmp_path):
    save_file({"a": torch.ones(2)}, tmp_path / "diffusion_pytorch_model.safetensors")
    with pytest.raises(KeyError, match="'missing'"):
        restore({"missing": torch.zeros(2)}, checkpoint_files(tmp_path))
    assert checkpoint_files(tmp_path / "nowhere") == []


def test_parked_weights_come_back_bit_for_bit_and_are_written_once():
    import torch

    from core.models.weights import ParkedTensors

    weights = {"a": torch.nn.Parameter(torch.randn(3, 4)), "b": torch.nn.Parameter(torch.randn(5))}
    values = {k: v.detach().clone() for k, v in weights.items()}
    place = ParkedTensors()
    for _ in range(2):  # the second time the file holds them already: not written again
        place.park(weights)
        assert place.parked and all(v.numel() == 0 for v in weights.values())
        assert place._file.seek(0, 2) == 4 * (12 + 5)
        place.unpark(weights)
        assert not place.parked and all(torch.equal(weights[k], values[k]) for k in values)


def test_parking_leaves_no_file_behind(tmp_path, monkeypatch):
    import tempfile

    import torch

    from core.models.weights import ParkedTensors

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    place = ParkedTensors()
    place.park({"a": torch.nn.Parameter(torch.randn(64))})
    assert list(tmp_path.iterdir()) == []  # an unnamed file: gone with the process, however it ends


def test_a_failed_write_leaves_the_weights_in_memory():
    import torch

    from core.models.weights import ParkedTensors

    weights = {"a": torch.nn.Parameter(torch.randn(8)), "b": torch.nn.Parameter(torch.randn(8))}
    place = ParkedTensors()
    real_write, written = place._file.write, []

    def full_disk(data):
        if written:
            raise OSError(28, "No space left on device")
        written.append(real_write(data))

    place._file.write = full_disk
    with pytest.raises(OSError, match="No space"):
        place.park(weights)
    assert not place.parked and all(v.numel() == 8 for v in weights.values())
    assert place._file.seek(0, 2) == 0  # nothing half-written is kept
    written.clear()
    with pytest.raises(OSError, match="could not be written before"):
        place.park(weights)
    assert written == [] and all(v.numel() == 8 for v in weights.values())  # no second try at a full disk


def test_values_cut_short_on_disk_are_an_error_naming_the_tensor():
    import torch

    from core.models.weights import ParkedTensors

    weights = {"a": torch.nn.Parameter(torch.randn(8))}
    place = ParkedTensors()
    place.park(weights)
    place._file.truncate(16)  # half of a's 32 bytes
    with pytest.raises(OSError, match="'a' were cut short"):
        place.unpark(weights)

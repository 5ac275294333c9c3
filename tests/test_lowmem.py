"""The VAE decode in less memory on the CPU, with the same pixels: banded convolutions and in-place SiLUs."""

import pytest

from core.models.lowmem import lean_decoder, release_free_memory


def count_conv2d_calls(patch, calls):
    import torch

    real_conv2d = torch.nn.functional.conv2d
    patch.setattr(torch.nn.functional, "conv2d", lambda band, *a, **k: calls.append(band.shape) or real_conv2d(band, *a, **k))


@pytest.mark.parametrize("kernel", [3, 1])
def test_a_banded_convolution_computes_the_whole_convolution_band_by_band(kernel):
    import torch

    from core.models.lowmem import banded_forward

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, kernel, padding=kernel // 2)
    x = torch.randn(2, 16, 37, 29)  # a height that the bands do not divide
    whole, calls = conv(x), []
    with torch.no_grad(), pytest.MonkeyPatch.context() as patch:
        count_conv2d_calls(patch, calls)
        banded = banded_forward(rows=8, min_pixels=0)(conv, x)
    halo = kernel // 2  # rows read beyond each band on either side, zeros past the image's edges
    assert [shape[2] for shape in calls] == [8 + 2 * halo] * 4 + [5 + 2 * halo]
    # oneDNN may pick another kernel for a band of a small layer (last bits differ); the real decoder's: below
    torch.testing.assert_close(banded, whole, rtol=0, atol=1e-5)


def test_at_the_decoders_real_width_the_bands_give_the_same_values_bit_for_bit():
    """SD's decoder at 512x512 has 128 to 512 channels; measured on this machine, the banded decode of the
    full-size decoder gives the whole decode's pixels exactly (docs/performance.md, "Memory")."""
    import torch

    from core.models.lowmem import BAND_ROWS, banded_forward

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1)
    x = torch.randn(1, 128, 128, 128)
    with torch.no_grad():
        assert torch.equal(banded_forward(rows=BAND_ROWS, min_pixels=0)(conv, x), conv(x))


def test_small_inputs_run_whole():
    import torch

    from core.models.lowmem import banded_forward

    conv, calls = torch.nn.Conv2d(4, 4, 3, padding=1), []
    with torch.no_grad(), pytest.MonkeyPatch.context() as patch:
        count_conv2d_calls(patch, calls)
        banded_forward(rows=8, min_pixels=64 * 64)(conv, torch.randn(1, 4, 32, 32))
    assert len(calls) == 1


def test_the_lean_decoder_decodes_as_the_plain_one(settings):
    import torch
    from diffusers import AutoencoderKL

    plain = AutoencoderKL.from_pretrained(f"{settings.sd_model}/vae").eval()
    lean = AutoencoderKL.from_pretrained(f"{settings.sd_model}/vae").eval()
    assert lean_decoder(lean.decoder, rows=3, min_pixels=0) > 0  # every convolution banded, even the tiny ones
    assert all(m.inplace for m in lean.decoder.modules() if isinstance(m, torch.nn.SiLU))
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(lean.decode(latents).sample, plain.decode(latents).sample, rtol=0, atol=1e-5)


def test_the_cpu_pipeline_loads_with_a_lean_decoder_and_its_unet_as_it_was(settings):
    import torch

    from core.models.cache import load_stable_diffusion

    pipe = load_stable_diffusion(settings.sd_model, "cpu")
    assert any(isinstance(m, torch.nn.Conv2d) and "forward" in vars(m) for m in pipe.vae.decoder.modules())
    assert all(m.inplace for m in pipe.vae.decoder.modules() if isinstance(m, torch.nn.SiLU))
    assert not any("forward" in vars(m) for m in pipe.unet.modules())
    assert not any(m.inplace for m in pipe.unet.modules() if isinstance(m, torch.nn.SiLU))  # its temb is shared


def test_free_memory_goes_back_to_the_system_on_glibc():
    import platform

    assert release_free_memory() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")

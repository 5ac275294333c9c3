"""Where an image's time goes besides the UNet steps: the fixed cost every recipe pays, stage by stage.

    python -m bench.fixed [--repeats N]

Full-size SD 1.5 architecture with random weights (timing does not depend on weight values), loaded through
``core``, on this machine's CPU. Prints ``name: value`` lines, medians of ``--repeats`` runs:

- ``fixed_prompt_encoding_s``: the text encoder on a prompt and the negative prompt (a new prompt: uncached);
- ``fixed_prompt_encoding_cached_s``: the same prompt again (the prompt cache);
- ``fixed_vae_decode_s``: the VAE decoding 64x64 latents to 512x512, and ``..._channels_last_s`` with the
  decoder's weights and input in channels-last layout, with ``..._channels_last_max_pixel_diff`` against it;
- ``fixed_to_image_s``: the decoded tensor to a PIL image (diffusers' postprocess);
- ``fixed_png_s``: PNG encoding with the parameters chunk at Pillow's default level 6, and ``fixed_png_level1_s``
  at level 1 (the same pixels, a bigger file: ``fixed_png_level1_size_ratio``), on a real photograph
  (scikit-learn's sample image) as a real generation would be, since random weights paint noise;
- ``fixed_save_s``: the generation saved (both files written atomically with fsync, then the row).
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path


def photograph():
    """A real 512x512 photograph (scikit-learn ships two sample images, BSD-licensed)."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image("china.jpg")).resize((512, 512))


def main(argv=None) -> int:
    import numpy as np
    import torch

    from bench.__main__ import out
    from bench.fullsize import ensure_fullsize
    from bench.history import median_time
    from core.generation.diffusion import _encode_prompt
    from core.models.cache import load_stable_diffusion
    from core.execution.pipeline import ComputedGeneration, save_generation
    from core.history.pngmeta import a1111_parameters
    from core.history.store import Store

    parser = argparse.ArgumentParser(prog="python -m bench.fixed")
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args(argv).repeats
    pipe = load_stable_diffusion(str(ensure_fullsize()["sd"]), "cpu")
    print(f"# fixed costs per image, full-size SD 1.5 (random weights), {torch.get_num_threads()} threads", flush=True)

    # 1. Prompt encoding: new prompts, then one again.
    prompts = iter(f"a lighthouse at dusk, oil painting, number {i}" for i in range(100))
    with torch.inference_mode():
        out("fixed_prompt_encoding_s", median_time(lambda: _encode_prompt(pipe, next(prompts), "blurry", True), repeats), ".3f")
        _encode_prompt(pipe, "the same prompt", "blurry", True)
        out("fixed_prompt_encoding_cached_s", median_time(lambda: _encode_prompt(pipe, "the same prompt", "blurry", True),
                                                      repeats), ".5f")

    # 2. The VAE decode, as the pipeline does it, contiguous and channels-last.
    latents = torch.randn(1, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    scaled = latents / pipe.vae.config.scaling_factor

    def decode():
        with torch.inference_mode():
            return pipe.vae.decode(scaled, return_dict=False)[0]

    decode()
    out("fixed_vae_decode_s", median_time(decode, repeats), ".2f")
    reference = decode()
    pipe.vae.to(memory_format=torch.channels_last)
    scaled = scaled.contiguous(memory_format=torch.channels_last)
    decode()
    out("fixed_vae_decode_channels_last_s", median_time(decode, repeats), ".2f")
    as_pixels = lambda t: np.asarray(pipe.image_processor.postprocess(t, output_type="pil")[0], dtype=np.int16)  # noqa: E731
    out("fixed_vae_decode_channels_last_max_pixel_diff", int(np.abs(as_pixels(decode()) - as_pixels(reference)).max()))
    pipe.vae.to(memory_format=torch.contiguous_format)

    # 3. Tensor to image, PNG with its parameters, the saved generation.
    out("fixed_to_image_s", median_time(lambda: pipe.image_processor.postprocess(reference, output_type="pil"), repeats), ".4f")
    image = photograph()
    meta = {"prompt": "a lighthouse at dusk", "negative_prompt": "blurry", "steps": 20, "scheduler": "dpmpp-2m",
            "guidance": 7.5, "seed": 1, "width": 512, "height": 512, "sd_model": "stable-diffusion-v1-5"}
    sizes = {}

    def png(level: int) -> bytes:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", a1111_parameters(meta))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info, compress_level=level)
        sizes[level] = buffer.tell()
        return buffer.getvalue()

    out("fixed_png_s", median_time(lambda: png(6), repeats), ".4f")
    out("fixed_png_level1_s", median_time(lambda: png(1), repeats), ".4f")
    out("fixed_png_level1_size_ratio", sizes[1] / sizes[6], ".2f")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        computed = ComputedGeneration(b"RIFF" + bytes(200_000), "wav", png(6),
                                      {"transcript": "a lighthouse", "prompt": "a lighthouse", "steps": 20})
        out("fixed_save_s", median_time(lambda: save_generation(computed, store), repeats), ".4f")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

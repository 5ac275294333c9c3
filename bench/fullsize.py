"""Full-size architectures with random weights, saved in the real on-disk formats, for timing.

Timing does not depend on weight values, so these stand in for the real checkpoints (which this
machine cannot download): SD 1.5's UNet, VAE and text encoder configurations, whisper ``base``'s
dimensions, and CLIP ViT-B/32. They are built once into ``$V2I_BENCH_MODELS`` (default
``~/.cache/v2i-bench``) and loaded through the project's own loaders.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from core.models.tiny import build_clip_tokenizer, build_tiny_lcm_lora, publish

ROOT = Path(os.environ.get("V2I_BENCH_MODELS", Path.home() / ".cache" / "v2i-bench"))


def sd15(path: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    # stable-diffusion-v1-5's unet/config.json
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
    )
    # vae/config.json
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2,
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
    )
    # text_encoder/config.json (CLIP ViT-L/14's text tower)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    ))
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
    StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=build_clip_tokenizer(), scheduler=scheduler,
        safety_checker=None, feature_extractor=CLIPImageProcessor(), requires_safety_checker=False,
    ).save_pretrained(path)


def taesd(path: Path) -> None:
    """TAESD's architecture (diffusers' AutoencoderTiny defaults are madebyollin/taesd's configuration)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(path)


def whisper_base(path: Path) -> None:
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=512, n_audio_head=8, n_audio_layer=6,
                           n_vocab=51865, n_text_ctx=448, n_text_state=512, n_text_head=8, n_text_layer=6)
    model = Whisper(dims)
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0, 0.01)  # created with torch.empty
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)


def clip_b32(path: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(path)  # CLIPConfig's defaults are ViT-B/32's
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=build_clip_tokenizer()).save_pretrained(path)


MODELS = ("whisper", "clip", "sd")  # "sd" brings the turbo recipe's LoRA and tiny decoder with it


def ensure_fullsize(root: Path = ROOT, models: tuple[str, ...] = MODELS) -> dict[str, Path]:
    """Build (once) the ``models`` a run needs and return every model's path."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {"sd": root / "sd15-random", "whisper": root / "whisper-base-random.pt", "clip": root / "clip-b32-random",
             "lcm_lora": root / "lcm-lora-random-14", "taesd": root / "taesd-random"}
    if "whisper" in models:
        publish(paths["whisper"], whisper_base)
    if "clip" in models:
        publish(paths["clip"], clip_b32)
    if "sd" in models:
        publish(paths["sd"], sd15)
        # The LCM-LoRA's shape (rank 64 on its 14 kinds of layer, 67.25M parameters), random values.
        publish(paths["lcm_lora"], lambda target: build_tiny_lcm_lora(target, paths["sd"], rank=64))
        publish(paths["taesd"], taesd)
    return paths


if __name__ == "__main__":
    for name, path in ensure_fullsize().items():
        print(f"{name}: {path}")

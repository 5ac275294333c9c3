"""The ``tiny`` profile: random-weight miniatures of whisper, SD 1.5 and CLIP, built locally.

They are saved in the real on-disk formats (a whisper ``.pt`` checkpoint, diffusers and transformers
``save_pretrained`` folders) so the very same loading and inference code runs on them, offline, in
seconds. Their images are noise and their transcripts gibberish: they exist for tests and demos.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import asdict
from pathlib import Path

from ..config.places import TinyModelPaths, tiny_model_paths

SEED = 0
_build_lock = threading.Lock()


def ensure_tiny_models(root: str | Path) -> TinyModelPaths:
    """Build the miniatures under ``root`` unless they are already there; safe across threads and processes."""
    paths = tiny_model_paths(root)
    if paths.all_built():
        return paths
    with _build_lock:
        if paths.all_built():
            return paths
        paths.root.mkdir(parents=True, exist_ok=True)
        publish(paths.whisper, build_tiny_whisper)
        publish(paths.sd, build_tiny_stable_diffusion)
        publish(paths.clip, build_tiny_clip)
        publish(paths.lcm_lora, lambda target: build_tiny_lcm_lora(target, paths.sd))
        publish(paths.taesd, build_tiny_taesd)
    return paths


def publish(target: Path, build) -> None:
    """Build into a private temporary name, then rename: a reader never sees a half-written model."""
    if target.exists():
        return
    tmp = target.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{target.name}")
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():  # another process won the race: theirs is as good as ours
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def build_tiny_whisper(path: Path) -> None:
    import torch  # torch loads on first use: pages import core without it
    from whisper.model import ModelDimensions, Whisper  # openai-whisper loads with the model, on first use

    # n_mels and n_audio_ctx must stay: transcribe pads audio to 30 s windows of 80-mel frames.
    # n_vocab=51865 selects the multilingual tokenizer, whose files ship inside the package.
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
        n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )
    generator = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    model = Whisper(dims)
    with torch.no_grad():
        # The decoder's positional embedding is created with torch.empty (uninitialised memory).
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)


def build_clip_tokenizer():
    """A byte-level CLIP tokenizer built in memory (the real vocabulary lives on the hub)."""
    from transformers import CLIPTokenizer  # transformers loads with CLIP or SD, on first use

    chars = _byte_characters()
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _byte_characters() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes (the byte-level BPE alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _tiny_text_config():
    from transformers import CLIPTextConfig  # transformers loads with CLIP or SD, on first use

    tokenizer = build_clip_tokenizer()
    return tokenizer, CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, projection_dim=32,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def _tiny_vision_config():
    from transformers import CLIPVisionConfig  # transformers loads with CLIP or SD, on first use

    return CLIPVisionConfig(
        image_size=224, patch_size=32, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, projection_dim=32,
    )


def build_tiny_stable_diffusion(path: Path) -> None:
    import torch  # torch loads on first use: pages import core without it

    # diffusers loads with Stable Diffusion, on first use
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    # diffusers loads with Stable Diffusion, on first use
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    # transformers loads with CLIP or SD, on first use
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPTextModel

    torch.manual_seed(SEED)
    tokenizer, text_config = _tiny_text_config()
    # Same block layout as SD 1.5 in miniature; four VAE blocks keep its 8x latent scale, so 512x512 works.
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=64, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=8, attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512,
        layers_per_block=1,
    )
    # SD 1.5's own scheduler configuration (the original recipe's PNDM).
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False,
    )
    safety_checker = StableDiffusionSafetyChecker(
        CLIPConfig(text_config=text_config.to_dict(), vision_config=_tiny_vision_config().to_dict(), projection_dim=32)
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=CLIPTextModel(text_config), tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=safety_checker, feature_extractor=CLIPImageProcessor(), requires_safety_checker=False,
    )
    pipe.save_pretrained(path)




# The layers the LCM-LoRA for SD 1.5 adapts: the defaults of diffusers' LCM-LoRA distillation script
# (examples/consistency_distillation/train_lcm_distill_lora_sd_wds.py), at rank 64 there. On SD 1.5's UNet
# that makes 67.25M parameters; the model card gives 67.5M. The ResNets' convolutions are among them, which
# is most of what an unfused adapter costs.
LCM_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
                    "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv", "time_emb_proj")


def build_tiny_lcm_lora(path: Path, sd: Path, rank: int = 4) -> None:
    """A random LoRA for the UNet of the pipeline at ``sd`` on the LCM-LoRA's layers, saved as diffusers saves
    one (what ``load_lora_weights`` reads). The real LCM-LoRA for SD 1.5 has rank 64."""
    import torch  # torch loads on first use: pages import core without it

    # diffusers loads with Stable Diffusion, on first use
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig  # peft loads with the turbo recipe only
    from peft.utils import get_peft_model_state_dict  # peft loads with the turbo recipe only

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel.from_pretrained(sd, subfolder="unet")
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                target_modules=list(LCM_LORA_TARGETS)))
    for name, parameter in unet.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (no change): random, so the LoRA does something
            torch.nn.init.normal_(parameter, std=0.02)
    StableDiffusionPipeline.save_lora_weights(
        save_directory=path, unet_lora_layers=get_peft_model_state_dict(unet),
        safe_serialization=True)


def build_tiny_taesd(path: Path) -> None:
    """A tiny ``AutoencoderTiny`` with TAESD's layout (four blocks: the same 8x scale as the VAE)."""
    import torch  # torch loads on first use: pages import core without it
    from diffusers import AutoencoderTiny  # diffusers loads with Stable Diffusion, on first use

    torch.manual_seed(SEED)
    AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                    num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1)).save_pretrained(path)


def build_tiny_clip(path: Path) -> None:
    import torch  # torch loads on first use: pages import core without it

    # transformers loads with CLIP or SD, on first use
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(SEED)
    tokenizer, text_config = _tiny_text_config()
    config = CLIPConfig(text_config=text_config.to_dict(), vision_config=_tiny_vision_config().to_dict(), projection_dim=32)
    CLIPModel(config).save_pretrained(path)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(path)

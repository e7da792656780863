"""Tiny random diffusers pipelines, built offline from small configs (tests only).

Every component is made from a small config (random weights, a word-level
tokenizer built with ``tokenizers``); ``save_pretrained`` writes them into
``<model_dir>/<variant>`` and the backend loads them like real weights. The
variants' native sizes must be shrunk (:data:`TINY_SIZES`) so that one shot
takes well under a second on a CPU.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: Native sizes small enough for the CPU; everything else is the real variant table.
TINY_SIZES = {"wan21_i2v": (32, 32), "wan22_i2v_a14b": (32, 32), "wan22_ti2v_5b": (64, 64),
              "mochi": (32, 32), "hunyuan_i2v": (32, 32)}
WORDS = ("a the of and harbour boat sea sky light static shot fixed camera does not move slowly "
         "pushes in pulls back pans left right tilts up down zoom panning shaky movement")


def tiny_tokenizer() -> Any:
    """A word-level tokenizer (unknown words -> <unk>) that ends every text with </s>."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in WORDS.split():
        vocab.setdefault(word, len(vocab))
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>",
        model_max_length=512)


def tiny_t5(umt5: bool = True) -> Any:
    torch.manual_seed(0)
    size = {"vocab_size": 64, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2,
            "num_heads": 4, "relative_attention_num_buckets": 8}
    if umt5:
        return transformers.UMT5EncoderModel(transformers.UMT5Config(**size))
    return transformers.T5EncoderModel(transformers.T5Config(**size))


def tiny_wan_transformer(channels: tuple[int, int] = (36, 16), image_dim: int | None = None,
                         seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=channels[0], out_channels=channels[1], text_dim=32, freq_dim=256,
        ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=image_dim)


def tiny_wan(variant: str) -> Any:
    """Wan 2.1 I2V (CLIP image encoder), 2.2 A14B (two experts) or 2.2 TI2V-5B (48-channel
    VAE, expand_timesteps)."""
    torch.manual_seed(0)
    if variant == "wan22_ti2v_5b":  # the 4x16x16 VAE with 48 latent channels
        vae = diffusers.AutoencoderKLWan(
            base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True,
            patch_size=2, latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
            dim_mult=[1, 1, 1, 1], num_res_blocks=1, scale_factor_spatial=16,
            scale_factor_temporal=4, temperal_downsample=[False, True, True])
    else:
        vae = diffusers.AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1],
                                         num_res_blocks=1,
                                         temperal_downsample=[False, True, True])
    parts: dict[str, Any] = {
        "tokenizer": tiny_tokenizer(), "text_encoder": tiny_t5(), "vae": vae,
        "scheduler": diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)}
    if variant == "wan21_i2v":
        torch.manual_seed(0)
        parts["image_encoder"] = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
            image_size=16, intermediate_size=16, patch_size=4))
        parts["image_processor"] = transformers.CLIPImageProcessor(crop_size=16, size=16)
        parts["transformer"] = tiny_wan_transformer(image_dim=4)
    elif variant == "wan22_i2v_a14b":
        parts.update(transformer=tiny_wan_transformer(), boundary_ratio=0.875,
                     transformer_2=tiny_wan_transformer(seed=1))
    else:  # saved as WanPipeline, like the published TI2V-5B folder: it loads for I2V too
        return diffusers.WanPipeline(**parts, transformer=tiny_wan_transformer((48, 48)),
                                     expand_timesteps=True)
    return diffusers.WanImageToVideoPipeline(**parts)


def tiny_mochi() -> Any:
    torch.manual_seed(0)
    transformer = diffusers.MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2,
        pooled_projection_dim=16, in_channels=12, out_channels=None, qk_norm="rms_norm",
        text_embed_dim=32, time_embed_dim=4, activation_fn="swiglu", max_sequence_length=256)
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLMochi(
        latent_channels=12, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1))
    return diffusers.MochiPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
        text_encoder=tiny_t5(umt5=False), tokenizer=tiny_tokenizer(), transformer=transformer)

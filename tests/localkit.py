"""Tiny random-weight diffusers pipelines for the local provider's tests and bench (no download, CPU torch).

Built from configs written here (after diffusers' own tests: tests/pipelines/wan/), tokenizer
included (a tokenizers WordLevel vocabulary wrapped in PreTrainedTokenizerFast: no hub), saved
with ``save_pretrained`` and loaded back by the provider's real path (``from_pretrained(...,
local_files_only=True)``).

* ``build_ti2v``: a Wan 2.2 TI2V-5B-shaped ``WanPipeline`` (48-channel VAE, ``expand_timesteps``):
  text-to-video, and image-to-video through ``WanImageToVideoPipeline.from_pipe``.
* ``build_flf2v``: a Wan 2.1 FLF2V-shaped ``WanImageToVideoPipeline`` (16-channel VAE, 36-channel
  transformer, no image encoder): image-to-video and first-last-frame.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

TINY_CATALOG = """
[models.tiny-ti2v]
name = "Tiny TI2V (test)"
provider = "local"
status = "current"
durations = [1, 2]
resolutions = ["180p"]
aspects = ["1:1"]
audio = "none"
fps = {fps}
[models.tiny-ti2v.endpoints]
t2v = "local/WanPipeline"
i2v = "local/WanImageToVideoPipeline"
[models.tiny-ti2v.price]
per_second = {{ default = 0.0 }}
[models.tiny-ti2v.local]
pipeline = "WanPipeline"
family = "wan"
kind_pipelines = {{ i2v = "WanImageToVideoPipeline" }}
frame_multiple = 4
max_frames = {max_frames}
size_multiple = 32
sizes = {{ "180p" = "{size}x{size}" }}
steps = 2
guidance = 1.0
memory_gb = 0.01
max_sequence_length = 16
repo = "example/tiny-ti2v"

[models.tiny-flf2v]
name = "Tiny FLF2V (test)"
provider = "local"
status = "current"
durations = [1, 2]
resolutions = ["180p"]
aspects = ["1:1"]
audio = "none"
fps = {fps}
image_model = "local-keyframes"
[models.tiny-flf2v.endpoints]
i2v = "local/WanImageToVideoPipeline"
flf2v = "local/WanImageToVideoPipeline"
[models.tiny-flf2v.price]
per_second = {{ default = 0.0 }}
[models.tiny-flf2v.local]
pipeline = "WanImageToVideoPipeline"
family = "wan"
frame_multiple = 4
max_frames = {max_frames}
size_multiple = 16
sizes = {{ "180p" = "{size}x{size}" }}
steps = 2
guidance = 1.0
memory_gb = 0.01
max_sequence_length = 16
repo = "example/tiny-flf2v"

[models.tiny-ltx]
name = "Tiny LTX (test)"
provider = "local"
status = "current"
durations = [1, 2]
resolutions = ["180p"]
aspects = ["1:1"]
audio = "none"
fps = {fps}
image_model = "local-keyframes"
[models.tiny-ltx.endpoints]
t2v = "local/LTXConditionPipeline"
i2v = "local/LTXConditionPipeline"
flf2v = "local/LTXConditionPipeline"
[models.tiny-ltx.price]
per_second = {{ default = 0.0 }}
[models.tiny-ltx.local]
pipeline = "LTXConditionPipeline"
family = "ltx"
frame_multiple = 8
max_frames = {max_frames}
size_multiple = 32
sizes = {{ "180p" = "{size}x{size}" }}
steps = 2
guidance = 1.0
memory_gb = 0.01
max_sequence_length = 16
repo = "example/tiny-ltx"
"""


def catalog_text(fps: int = 8, max_frames: int = 17, size: int = 32) -> str:
    return TINY_CATALOG.format(fps=fps, max_frames=max_frames, size=size)


def _untyped(name: str) -> ModuleType:
    """``diffusers`` or ``transformers`` as a plain module: their classes are built through it (each
    attribute is ``Any`` to mypy), as the local provider does, since their constructors carry no
    annotations and a pipeline's ``save_pretrained`` is not visible to a type checker."""
    return importlib.import_module(name)


def _tokenizer(words: int = 64) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    transformers = _untyped("transformers")

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for i in range(words):
        vocab[f"w{i}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def _text_encoder(vocab: int, d_model: int = 32) -> Any:
    transformers = _untyped("transformers")
    cfg = transformers.UMT5Config(
        vocab_size=vocab,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
    )
    return transformers.UMT5EncoderModel(cfg).eval()


def _transformer(in_channels: int, out_channels: int, layers: int = 2) -> Any:
    return _untyped("diffusers").WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )


def _scheduler() -> Any:
    return _untyped("diffusers").UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )


def build_ti2v(dest: Path, seed: int = 0, layers: int = 2) -> Path:
    import torch

    diffusers = _untyped("diffusers")
    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    tok = _tokenizer()
    pipe = diffusers.WanPipeline(
        tokenizer=tok,
        text_encoder=_text_encoder(len(tok)),
        vae=vae,
        scheduler=_scheduler(),
        transformer=_transformer(48, 48, layers),
        expand_timesteps=True,
    )
    pipe.save_pretrained(str(dest))
    return dest


def build_flf2v(dest: Path, seed: int = 0, layers: int = 2) -> Path:
    import torch

    diffusers = _untyped("diffusers")
    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    tok = _tokenizer()
    pipe = diffusers.WanImageToVideoPipeline(
        tokenizer=tok,
        text_encoder=_text_encoder(len(tok)),
        vae=vae,
        scheduler=_scheduler(),
        transformer=_transformer(36, 16, layers),
        image_encoder=None,
        image_processor=None,
    )
    pipe.save_pretrained(str(dest))
    return dest


def build_ltx(dest: Path, seed: int = 0) -> Path:
    """An LTX-Video-shaped ``LTXConditionPipeline`` (conditions at frame indices; after diffusers'
    tests/pipelines/ltx/test_ltx_condition.py, with a T5 encoder and tokenizer made here)."""
    import torch

    diffusers, transformers = _untyped("diffusers"), _untyped("transformers")
    torch.manual_seed(seed)
    transformer = _untyped("diffusers.models").LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    tok = _tokenizer()
    cfg = transformers.T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8
    )
    pipe = diffusers.LTXConditionPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=transformers.T5EncoderModel(cfg).eval(),
        tokenizer=tok,
        transformer=transformer,
    )
    pipe.save_pretrained(str(dest))
    return dest


def register(home: Path, folders: dict[str, Path], **catalog: Any) -> None:
    """Write the tiny models into ``home``'s user catalog and record their folders."""
    from sora_tui.core.localmodels import REGISTRY_NAME

    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "catalog.toml").write_text(catalog_text(**catalog), "utf-8")
    lines = ["[folders]"] + [f'"{k}" = "{v}"' for k, v in folders.items()]
    (config / REGISTRY_NAME).write_text("\n".join(lines) + "\n", "utf-8")

"""Tiny random SD3, Flux Kontext and LTX-2 pipelines built offline from configs (tests, bench, parity checks).

    path = make_tiny_sd3(tmp_path / "sd3")          # a diffusers folder, loadable like a real one
    path = make_tiny_flux_kontext(tmp_path / "kontext")
    path = make_tiny_ltx2(tmp_path / "ltx2")        # LTX2Pipeline: video + audio, Gemma-3 text model

Same diffusers / transformers classes as the real checkpoints, a few layers of width 32–128,
tokenizers built from a byte-level vocabulary (no download). Shapes follow the ComfyUI
detection rules (docs: SD3 width = 64 × depth with heads = depth; Flux head_dim 128 with
axes_dims_rope (16, 56, 56)) so the same folders serve the ComfyUI parity test.
"""
from __future__ import annotations

from pathlib import Path

import torch


def _byte_chars() -> list[str]:
    # the byte→unicode table of GPT-2/CLIP BPE: printable bytes map to themselves
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_clip_tokenizer(max_length: int = 77):
    from transformers import CLIPTokenizer
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _byte_chars():
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = max_length
    return tok


def tiny_t5_tokenizer(max_length: int = 512):
    from transformers import T5Tokenizer
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    chars = [chr(c) for c in range(32, 127)] + list("éèàüöäß")
    pieces += [(c, -2.0) for c in chars] + [("▁" + c, -1.5) for c in chars]
    tok = T5Tokenizer(vocab=pieces, extra_ids=0)
    tok.model_max_length = max_length
    return tok


def _clip_text(projection: bool, hidden: int = 32, vocab: int = 600, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, projection_dim=hidden,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_act="gelu")
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg).eval()


def _t5(d_model: int, vocab: int = 256, seed: int = 0):
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=vocab, d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=2,
                   relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5EncoderModel(cfg).eval()


def _vae(latent_channels: int, seed: int = 0, flux: bool = False):
    from diffusers import AutoencoderKL
    torch.manual_seed(seed)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels,
                         down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                         up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                         block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=32,
                         scaling_factor=1.5305 if not flux else 0.3611,
                         shift_factor=0.0609 if not flux else 0.1159,
                         use_quant_conv=False, use_post_quant_conv=False).eval()


def make_tiny_sd3(path: str | Path, seed: int = 0, num_layers: int = 2) -> Path:
    """A tiny StableDiffusion3Pipeline folder: 2 joint blocks of width 128 (2 heads × 64),
    16 latent channels, VAE downsampling 2, CLIP-L/G and T5 of width 32/32/64."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=16, out_channels=16,
                                        num_layers=num_layers, attention_head_dim=64,
                                        num_attention_heads=num_layers, joint_attention_dim=64,
                                        caption_projection_dim=64 * num_layers, pooled_projection_dim=64,
                                        pos_embed_max_size=32)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae(16, seed), text_encoder=_clip_text(True, seed=seed + 1), tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=_clip_text(True, seed=seed + 2), tokenizer_2=tiny_clip_tokenizer(),
        text_encoder_3=_t5(64, seed=seed + 3), tokenizer_3=tiny_t5_tokenizer())
    path = Path(path)
    pipe.save_pretrained(path)
    return path


def make_tiny_flux_kontext(path: str | Path, seed: int = 0) -> Path:
    """A tiny FluxKontextPipeline folder: 1 double + 1 single block of width 128 (1 head × 128,
    rope axes 16/56/56), 16 latent channels (64 after 2×2 packing), guidance embedding."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, out_channels=None, num_layers=1,
                                         num_single_layers=1, attention_head_dim=128, num_attention_heads=1,
                                         joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
                                         axes_dims_rope=(16, 56, 56))
    pipe = FluxKontextPipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                  max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096),
        vae=_vae(16, seed, flux=True), text_encoder=_clip_text(False, seed=seed + 1), tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=_t5(32, seed=seed + 2), tokenizer_2=tiny_t5_tokenizer())
    path = Path(path)
    pipe.save_pretrained(path)
    return path


# LTX-2: the shapes of diffusers' own tests (2 layers, 2 heads × 8; audio 2 heads × 4), with the audio
# stream ComfyUI's LTXAVModel expects (latents of 8 channels × 16 mel bins → 128 audio input channels)
# and the a/v cross-attention timestep multiplier ComfyUI uses (av_ca_timestep_scale_multiplier).
LTX2_TRANSFORMER = dict(in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
                        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=128, audio_out_channels=128,
                        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
                        num_layers=2, qk_norm="rms_norm_across_heads", caption_channels=16, rope_type="split",
                        rope_double_precision=True, cross_attn_timestep_scale_multiplier=1000)


def tiny_word_tokenizer(max_length: int = 64):
    """A fast byte-level tokenizer (no download) standing in for Gemma's: left padding, <pad>/<eos>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for ch in _byte_chars():
        vocab.setdefault(ch, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                  unk_token="<unk>", padding_side="left")
    tok.model_max_length = max_length
    return tok


def make_tiny_ltx2(path: str | Path, seed: int = 0) -> Path:
    """A tiny LTX2Pipeline folder: the transformer above, a 1-level video VAE (4 latent channels,
    2× spatial and temporal compression), a Gemma-3 text model of width 16 (2 layers), text connectors
    of 2 heads × 8, an audio VAE of 8 latent channels × 16 latent mel bins and a small vocoder."""
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, FlowMatchEulerDiscreteScheduler,
                           LTX2Pipeline, LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3TextConfig, Gemma3TextModel
    torch.manual_seed(seed)
    transformer = LTX2VideoTransformer3DModel(**LTX2_TRANSFORMER)
    tok = tiny_word_tokenizer()
    torch.manual_seed(seed + 1)
    text = Gemma3TextModel(Gemma3TextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                            head_dim=8, max_position_embeddings=128, sliding_window=64,
                                            pad_token_id=0, eos_token_id=1, bos_token_id=2)).eval()
    torch.manual_seed(seed + 2)
    connectors = LTX2TextConnectors(caption_channels=16, text_proj_in_factor=3,
                                    video_connector_num_attention_heads=2, video_connector_attention_head_dim=8,
                                    video_connector_num_layers=1, video_connector_num_learnable_registers=None,
                                    audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8,
                                    audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
                                    connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=True,
                                    causal_temporal_positioning=False, rope_type="split")
    torch.manual_seed(seed + 3)
    vae = AutoencoderKLLTX2Video(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
                                 decoder_block_out_channels=(8,), layers_per_block=(1,),
                                 decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
                                 decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False),
                                 downsample_type=("spatiotemporal",), upsample_residual=(False,),
                                 upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
                                 encoder_causal=True, decoder_causal=False,
                                 spatial_compression_ratio=2, temporal_compression_ratio=2).eval()
    torch.manual_seed(seed + 4)
    audio_vae = AutoencoderKLLTX2Audio(base_channels=128, output_channels=2, ch_mult=(1,), num_res_blocks=1,
                                       attn_resolutions=None, in_channels=2, resolution=32, latent_channels=8,
                                       norm_type="pixel", causality_axis="height", dropout=0.0,
                                       mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160,
                                       is_causal=True, mel_bins=64).eval()
    torch.manual_seed(seed + 5)
    vocoder = LTX2Vocoder(in_channels=2 * 64, hidden_channels=8, out_channels=2, upsample_kernel_sizes=[4],
                          upsample_factors=[2], resnet_kernel_sizes=[3], resnet_dilations=[[1]],
                          leaky_relu_negative_slope=0.1, output_sampling_rate=16000).eval()
    pipe = LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text,
                        tokenizer=tok, connectors=connectors, transformer=transformer, vocoder=vocoder)
    path = Path(path)
    pipe.save_pretrained(path)
    return path

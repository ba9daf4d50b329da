"""What a LoRA file holds, read without ComfyUI (nodes/lora_content.py, nodes/lora_family.py): the
text-encoder part a LoRA slider skips, PEFT's DoRA magnitudes, broken weights, identical files, and
the model family a file looks made for (used in messages and to refuse mixed sliders)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def content(nodes_module):
    return nodes_module("lora_content")


@pytest.fixture(scope="module")
def family(nodes_module):
    return nodes_module("lora_family")


def lora(*prefixes: str, width: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {}
    for p in prefixes:
        out[f"{p}.lora_down.weight"] = torch.randn(4, width, generator=g)
        out[f"{p}.lora_up.weight"] = torch.randn(8, 4, generator=g)
        out[f"{p}.alpha"] = torch.tensor(4.0)
    return out


def test_text_encoder_keys_of_every_common_layout_are_split_off(content):
    sd = lora("lora_unet_input_blocks_1_1_proj_in", "lora_te1_text_model_encoder_layers_0_mlp_fc1",
              "lora_te2_text_model_encoder_layers_0_mlp_fc1", "lora_te_text_model_encoder_layers_0_mlp_fc1",
              "text_encoder.text_model.encoder.layers.0.self_attn.q_proj",
              "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj", "text_encoders.clip_l.transformer.x",
              "transformer.transformer_blocks.0.attn.to_q")
    model, text = content.split_text_encoder(sd)
    assert sorted({k.rsplit(".", 2)[0] if "lora_" in k.rsplit(".", 2)[-2] else k.rsplit(".", 1)[0] for k in model}) == [
        "lora_unet_input_blocks_1_1_proj_in", "transformer.transformer_blocks.0.attn.to_q"]
    assert len(text) == 18


def test_peft_dora_magnitude_becomes_comfyuis_dora_scale_of_shape_out_by_1(content):
    m = torch.arange(8.0)
    sd = {"transformer.x.lora_A.weight": torch.ones(4, 8), "transformer.x.lora_magnitude_vector": m,
          "transformer.y.lora_magnitude_vector.weight": m}
    out = content.peft_dora_as_comfy(sd)
    assert set(out) == {"transformer.x.lora_A.weight", "transformer.x.dora_scale", "transformer.y.dora_scale"}
    assert out["transformer.x.dora_scale"].shape == (8, 1) and torch.equal(out["transformer.y.dora_scale"][:, 0], m)


def test_the_first_nonfinite_key_is_found_in_sorted_order(content):
    sd = lora("b", "a")
    assert content.first_nonfinite(sd) is None
    sd["b.lora_up.weight"][1, 1] = float("inf")
    sd["a.lora_down.weight"][0, 0] = float("nan")
    assert content.first_nonfinite(sd) == "a.lora_down.weight"


def test_the_digest_sees_content_not_names_of_dicts(content):
    a, b = lora("x"), lora("x")
    assert content.content_digest(a) == content.content_digest(b)
    b["x.lora_up.weight"][0, 0] += 1e-3
    assert content.content_digest(a) != content.content_digest(b)
    assert content.content_digest({"x.alpha": torch.tensor(1.0)}) != content.content_digest({"x.alpha": torch.tensor(2.0)})


def test_a_checkpoint_is_not_an_adapter_but_every_lycoris_layout_is(content):
    assert not content.looks_like_adapter({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)})
    for key in ("x.lokr_w1", "x.hada_w1_a", "x.lora_B.weight", "x.dora_scale", "x.diff", "x.oft_blocks"):
        assert content.looks_like_adapter({key: torch.zeros(1)}), key


@pytest.mark.parametrize("keys,width,want", [
    (["lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"], 2048, "SDXL"),
    (["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"], 768, "SD1.5"),
    (["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v"], 1024, "SD2"),
    (["lora_unet_input_blocks_1_1_proj_in", "lora_te2_text_model_encoder_layers_0_mlp_fc1"], 8, "SDXL"),
    (["lora_unet_input_blocks_1_1_proj_in"], 8, "an SD UNet"),
    (["transformer.transformer_blocks.0.attn.add_q_proj"], 8, "SD3"),
    (["lora_unet_joint_blocks_0_x_block_attn_qkv"], 8, "SD3"),
    (["transformer.single_transformer_blocks.0.attn.to_q", "transformer.transformer_blocks.0.attn.add_q_proj"], 8,
     "Flux"),
    (["lora_unet_double_blocks_0_img_attn_qkv"], 8, "Flux"),
    (["diffusion_model.blocks.0.self_attn.q"], 8, "Wan"),
    (["transformer.transformer_blocks.0.img_mlp.net.0.proj"], 8, "Qwen-Image"),
    (["diffusion_model.double_blocks.0.img_attn_qkv"], 8, "HunyuanVideo"),
    (["diffusion_model.layers.0.attention.qkv"], 8, "Lumina 2"),
    (["transformer.transformer_blocks.0.attn1.to_q"], 8, "LTX-Video / LTX-2"),
    (["some.custom.layer"], 8, None),
])
def test_the_family_a_lora_looks_made_for(family, keys, width, want):
    assert family.guess_family(lora(*keys, width=width)) == want


def test_an_unsure_sd_unet_guess_agrees_with_every_sd_unet_family_only(family):
    assert family.same_family("an SD UNet", "SDXL") and family.same_family("an SD UNet", "SD1.5")
    assert not family.same_family("an SD UNet", "SD3")
    assert family.same_family(None, "Flux") and family.same_family("LTX-Video / LTX-2", "LTX-2")
    assert not family.same_family("SDXL", "SD1.5")

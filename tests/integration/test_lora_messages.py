"""Bad LoRAs in a LoRA slider get one line that says what is wrong and what to do (in a real
ComfyUI; the checks run in its python: lora_message_checks.py)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def said() -> dict:
    proc = subprocess.run([comfy_python(), str(HERE / "lora_message_checks.py"), str(comfy_dir()), str(REPO)],
                          env=comfy_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_same_lora_under_two_names_is_refused_naming_both(said):
    assert said["identical"] == ("'sdxl_a.safetensors' and 'sdxl_a_copy.safetensors' hold the same LoRA (identical "
                                 "weights), so the slider would not move; choose a different LoRA for one end")


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_nan_or_inf_weights_name_the_file_and_the_first_bad_key(said, bad):
    r = said[f"nonfinite_{bad}"]
    assert r["message"] == (f"LoRA 'broken.safetensors' holds NaN or infinite weights (first: {r['key']}); the file "
                            "is damaged or was saved from a diverged training run: choose another LoRA")


def test_a_lora_for_another_family_names_the_family_it_looks_made_for(said):
    msg = said["sdxl_lora_on_sd3"]
    assert msg.startswith("LoRA sdxl_a.safetensors looks made for SDXL, not this SD3 model: none of its 315 model "
                          "keys match it (lora_unet_add_embedding_linear_1.alpha, ") and msg.endswith(
        "(+312 more)). Choose LoRAs made for SD3")
    msg = said["sd15_lora_on_sdxl"]     # some names are shared: the others are counted and shown
    assert msg.startswith("LoRA sd15_style.safetensors looks made for SD1.5, not this SDXL model: 36 of its 129 "
                          "model keys do not match it (unet.down_blocks.0.attentions.0.proj_in.alpha, ")
    assert msg.endswith("Choose LoRAs made for SDXL")
    assert said["sd3_lora_on_sdxl"].startswith("LoRA sd3_photo.safetensors looks made for SD3, not this SDXL model: "
                                               "none of its 96 model keys match it (")


def test_loras_for_different_families_in_one_slider_are_refused(said):
    assert said["mixed_families"] == (
        "these LoRAs were made for different model families ('sdxl_a.safetensors' looks made for SDXL, "
        "'sd3_photo.safetensors' looks made for SD3); a slider's LoRAs must all be made for the model you sample with")


def test_text_encoder_keys_are_skipped_with_one_info_line_and_the_slider_runs(said):
    r = said["text_encoder"]
    assert r["skipped"] == 9 and r["applies"]
    assert r["info"] == ["ParetoSlider: sdxl_with_te.safetensors: skipped 9 text-encoder key(s) (a LoRA slider "
                         "patches the diffusion model only, like LoraLoaderModelOnly)"]


def test_a_text_encoder_only_lora_and_a_checkpoint_are_refused_with_what_they_are(said):
    assert said["only_text_encoder"].startswith("LoRA 'te_only.safetensors' holds only text-encoder weights (9 keys)")
    assert said["checkpoint"].startswith("'model.safetensors' holds no LoRA weights")


def test_a_trained_file_on_sdxl_names_the_family_and_the_lora_slider_node(said):
    assert said["trained_file_on_sdxl"].startswith("trained ParetoSlider files are for SD3 / SD3.5, Flux / Flux "
                                                   "Kontext and LTX-2 models; this model is SDXL. On this model use "
                                                   "'ParetoSlider from LoRAs'")


def test_a_patch_that_replaces_a_weight_or_touches_a_norm_is_refused_unmerged_and_merged_by_soups(said):
    assert said["set_patch"]["blend"].startswith("LoRA sdxl_set.safetensors: its 'set' patch of diffusion_model.")
    assert said["set_patch"]["blend"].endswith("replaces the weight instead of adding to it; only soups with one ω "
                                               "can apply it")
    norm = said["norm_layer"]["module"]
    assert said["norm_layer"]["blend"] == (
        f"LoRA sdxl_norm.safetensors updates {norm}.weight, a GroupNorm: blend, msdda and soups per sample or on a "
        "schedule apply updates of Linear and Conv layers only (use soups with one ω)")
    assert said["set_patch"]["soups_one_omega"] == "" and said["norm_layer"]["soups_one_omega"] == ""


def test_a_key_map_slice_past_the_weight_is_refused_as_comfyuis_own_limit(said):
    r = said["slice_past_weight"]
    assert r["end"] > r["rows"]
    assert r["message"] == (
        f"LoRA lumina_diffusers.safetensors: ComfyUI's key map puts its update of {r['weight']} at rows "
        f"{r['start']}–{r['end']} of a weight with {r['rows']}, so ComfyUI cannot apply it to this model either "
        "(LoraLoader fails too); choose a LoRA in another layout")

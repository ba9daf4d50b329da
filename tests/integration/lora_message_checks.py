"""What a LoRA slider tells the artist about bad LoRAs, in ComfyUI's python (test_lora_messages.py):
python lora_message_checks.py COMFYUI_DIR REPO → one JSON line {case: message or result}."""
from __future__ import annotations

import json
import logging
import sys
from importlib import import_module

from testsupport.comfy.comfy_inprocess import comfy_setup, import_extension  # noqa: E402

comfy_dir, repo = sys.argv[1:3]
comfy_setup(comfy_dir)
import torch  # noqa: E402

from testsupport.comfy import lora_formats  # noqa: E402
from testsupport.comfy import tiny_families  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")
sliders = import_module(ext.__name__ + ".nodes.lora_slider")
loader = import_module(ext.__name__ + ".nodes.loader")
core = import_module(ext.__name__ + ".pareto_core")
errors = import_module(ext.__name__ + ".nodes.errors")


def lora_file(name: str, sd: dict):
    return sliders.read_lora(name, loader.FileStamp(f"/messages/{name}", 1, len(sd)), sd)


def message(fn) -> str:
    """The one line ComfyUI would show (nodes/errors.user_errors), or "" when fn succeeded."""
    try:
        errors.user_errors(fn)()
    except errors.ParetoSliderNodeError as err:
        return str(err)
    return ""


def slider(method, *files):
    return sliders.LoraSlider(method, tuple(files), [f.name for f in files], 1.0)


models = {f: tiny_families.build(f) for f in ("sd15", "sdxl", "sd3")}
loras = {(f, fmt, seed): lora_formats.make_lora(models[f], fmt, seed)
         for f in models for fmt in ("kohya_te", "diffusers_unet" if f != "sd3" else "diffusers_peft") for seed in (1, 2)}
# an SD1.5 file as diffusers writes it carries its CLIP-L (768 wide) text-encoder LoRA too
for seed in (1, 2):
    g = torch.Generator().manual_seed(seed)
    loras["sd15", "diffusers_unet", seed].update({
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.randn(4, 768, generator=g),
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight": torch.randn(768, 4, generator=g)})
sdxl_a, sdxl_b = lora_file("sdxl_a.safetensors", loras["sdxl", "kohya_te", 1]), lora_file("sdxl_b.safetensors",
                                                                                          loras["sdxl", "kohya_te", 2])
out = {}

# the same LoRA under two names
twin = lora_file("sdxl_a_copy.safetensors", dict(loras["sdxl", "kohya_te", 1]))
out["identical"] = message(lambda: sliders.check_contents([sdxl_a, twin]))

# NaN / inf weights: the file and the first bad key, when the file is read (before sampling)
for bad in ("nan", "inf"):
    sd = {k: v.clone() for k, v in loras["sdxl", "kohya_te", 1].items()}
    key = sorted(k for k in sd if k.endswith("lora_up.weight"))[3]
    sd[key][0, 0] = float(bad)
    out[f"nonfinite_{bad}"] = {"message": message(lambda: lora_file("broken.safetensors", sd)), "key": key}

# a LoRA made for another family, on each model
out["sdxl_lora_on_sd3"] = message(lambda: apply_mod.apply_paretoslider(
    models["sd3"], slider("blend", sdxl_a, sdxl_b), torch.tensor([0.5, 0.5])))
sd15 = lora_file("sd15_style.safetensors", loras["sd15", "diffusers_unet", 1])
out["sd15_lora_on_sdxl"] = message(lambda: apply_mod.apply_paretoslider(
    models["sdxl"], slider("soups", sd15, lora_file("sd15_b.safetensors", loras["sd15", "diffusers_unet", 2])),
    torch.tensor([0.5, 0.5])))
sd3_a = lora_file("sd3_photo.safetensors", loras["sd3", "diffusers_peft", 1])
out["sd3_lora_on_sdxl"] = message(lambda: apply_mod.apply_paretoslider(
    models["sdxl"], slider("soups", sd3_a, lora_file("sd3_b.safetensors", loras["sd3", "diffusers_peft", 2])),
    torch.tensor([1.0, 0.0])))

# LoRAs for different families in one slider
out["mixed_families"] = message(lambda: sliders.check_contents([sdxl_a, sd3_a]))

# text-encoder keys: skipped with one info line, the slider works and equals LoraLoaderModelOnly
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("ParetoSlider").addHandler(handler)
logging.getLogger("ParetoSlider").setLevel(logging.INFO)
te = lora_file("sdxl_with_te.safetensors", lora_formats.make_lora(models["sdxl"], "kohya_te", 1))
logging.getLogger("ParetoSlider").removeHandler(handler)
out["text_encoder"] = {"info": [r.getMessage() for r in records], "skipped": te.text_encoder_keys,
                       "applies": message(lambda: apply_mod.apply_paretoslider(
                           models["sdxl"], slider("blend", te, sdxl_b), torch.tensor([0.5, 0.5]))) == ""}

# only text-encoder weights; a full checkpoint instead of a LoRA
only_te = {k: v for k, v in lora_formats.make_lora(models["sdxl"], "kohya_te", 1).items() if k.startswith(("lora_te", "text_"))}
out["only_text_encoder"] = message(lambda: lora_file("te_only.safetensors", only_te))
out["checkpoint"] = message(lambda: lora_file("model.safetensors",
                                              {k: v for k, v in list(models["sdxl"].model.state_dict().items())[:5]}))

# updates only a merge can apply: a 'set' patch and a norm layer's 'diff' refuse the unmerged paths,
# soups at one ω apply them (ComfyUI merges them)
sdxl_model = models["sdxl"]
linear = next(n for n, m in sdxl_model.model.diffusion_model.named_modules() if isinstance(m, torch.nn.Linear))
norm = next(n for n, m in sdxl_model.model.diffusion_model.named_modules() if isinstance(m, torch.nn.GroupNorm))
sd = sdxl_model.model.diffusion_model.state_dict()
set_file = lora_file("sdxl_set.safetensors", {f"diffusion_model.{linear}.set_weight": sd[f"{linear}.weight"] * 1.1})
norm_file = lora_file("sdxl_norm.safetensors", {f"diffusion_model.{norm}.diff": torch.full_like(sd[f"{norm}.weight"], 0.1)})
for case, f in (("set_patch", set_file), ("norm_layer", norm_file)):
    out[case] = {"blend": message(lambda: apply_mod.apply_paretoslider(sdxl_model, slider("blend", f, sdxl_b),
                                                                         torch.tensor([0.5, 0.5]))),
                 "soups_one_omega": message(lambda: apply_mod.apply_paretoslider(
                     sdxl_model, slider("soups", f, sdxl_b), torch.tensor([0.5, 0.5]))), "module": norm}

# a key-map slice past the weight (ComfyUI's own limit: Lumina 2's grouped k/v under diffusers names)
import comfy.lora  # noqa: E402
lumina = tiny_families.build("lumina2")
lsd = lumina.model.state_dict()
km = comfy.lora.model_lora_keys_unet(lumina.model, {})
bad = next(k for k, v in sorted(km.items()) if k.startswith("transformer.") and not isinstance(v, str)
           and v[1] is not None and v[1][1] + v[1][2] > lsd[v[0]].shape[v[1][0]])
wkey, (dim, start, size) = km[bad][0], km[bad][1][:3]
g = torch.Generator().manual_seed(3)
past = {f"{bad}.lora_A.weight": torch.randn(4, lsd[wkey].shape[1], generator=g),
        f"{bad}.lora_B.weight": torch.randn(size, 4, generator=g)}
ok_lumina = lora_formats.make_lora(lumina, "kohya", 1)
out["slice_past_weight"] = {
    "message": message(lambda: apply_mod.apply_paretoslider(
        lumina, slider("blend", lora_file("lumina_diffusers.safetensors", past), lora_file("lumina_ok.safetensors", ok_lumina)),
        torch.tensor([0.5, 0.5]))),
    "weight": wkey, "start": start, "end": start + size, "rows": int(lsd[wkey].shape[dim])}

# a trained ParetoSlider file on SDXL: the message names the family and the node that works there
info = import_module(ext.__name__ + ".nodes.model_info")
out["trained_file_on_sdxl"] = message(lambda: info.describe_model(models["sdxl"]))
print(json.dumps(out))

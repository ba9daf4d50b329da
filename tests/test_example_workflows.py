"""The example workflows in example_workflows/ are valid UI-format graphs (no ComfyUI needed).

They appear in ComfyUI's template browser, so a broken link, an unknown node type or widget
values in the wrong order would greet users with an error. The browser test
(tests/browser/) additionally loads them in the real frontend.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from pareto_core import parse_preference

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
# the trainer config each template pairs with: the template samples as that config trains
CONFIGS = {"Trained slider - SD3.5 text to image": "sd35_photo_vs_sketch.yaml",
           "Trained slider - SD3.5 sweep across the front": "sd35_photo_vs_sketch.yaml",
           "Trained slider - Flux Kontext edit": "flux_kontext_adherence_vs_fidelity.yaml",
           "Trained slider - LTX-2 text to video": "ltx2_motion_vs_stability.yaml"}
# templates on a LoRA slider (no trained file: they sample as the base model does)
LORA_TEMPLATES = {"LoRA slider - SD3.5 two LoRAs with a schedule", "LoRA slider - SDXL two LoRAs (no training)"}
LORA_WIDGETS = ["method", "lora_1", "lora_2", "names", "strength"] + [f"lora_{i}" for i in range(3, 9)]
LOADER_SLOTS = {"steps": 1, "cfg": 2, "width": 3, "height": 4}   # the Loader's recommended-settings outputs

# Our nodes: (input name, type) in contract order, widget names in order, outputs.
OURS = {
    "ParetoSliderLoader": {"inputs": [], "widgets": ["slider_name"],
                           "outputs": ["PARETO_SLIDER", "INT", "FLOAT", "INT", "INT"]},   # slider, steps, cfg, w, h
    "ParetoSliderPreference": {"inputs": [("slider", "PARETO_SLIDER")], "widgets": ["preference"],
                               "outputs": ["PARETO_PREFERENCE"]},
    "ApplyParetoSlider": {"inputs": [("model", "MODEL"), ("slider", "PARETO_SLIDER"),
                                     ("preference", "PARETO_PREFERENCE")],
                          "widgets": ["lora_strength"], "outputs": ["MODEL"]},
    "ParetoSliderSweep": {"inputs": [("slider", "PARETO_SLIDER")],
                          "widgets": ["mode", "steps", "from_objective", "to_objective", "noise"],
                          "outputs": ["PARETO_PREFERENCE", "INT"]},
    "ParetoSliderFrontPreview": {"inputs": [("slider", "PARETO_SLIDER"), ("preference", "PARETO_PREFERENCE")],
                                 "widgets": ["width"], "outputs": ["IMAGE"]},
    # the frontend orders required widgets before optional ones (lora_3 … lora_8)
    "ParetoSliderFromLoras": {"inputs": [], "widgets": LORA_WIDGETS, "outputs": ["PARETO_SLIDER"]},
    "ParetoSliderSchedule": {"inputs": [("slider", "PARETO_SLIDER"), ("start", "PARETO_PREFERENCE")],
                             "widgets": ["end", "curve", "keypoints", "axis"], "outputs": ["PARETO_PREFERENCE"]},
}
SLIDER_SOURCES = {"ParetoSliderLoader", "ParetoSliderFromLoras"}

# Core node types the examples may use → their widgets in saved order (ComfyUI v0.20.x;
# the frontend inserts control_after_generate after a seed).
CORE = {
    "CheckpointLoaderSimple": ["ckpt_name"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "VAELoader": ["vae_name"],
    "CLIPTextEncode": ["text"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "VAEDecode": [],
    "VAEEncode": [],
    "SaveImage": ["filename_prefix"],
    "PreviewImage": [],
    "LoadImage": ["image", "upload"],
    "FluxKontextImageScale": [],
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "ModelSamplingFlux": ["max_shift", "base_shift", "width", "height"],
    "ReferenceLatent": [],
    "FluxGuidance": ["guidance"],
    "ConditioningZeroOut": [],
    # LTX-2 (comfy_extras/nodes_lt.py, nodes_lt_audio.py, nodes_video.py)
    "LTXAVTextEncoderLoader": ["text_encoder", "ckpt_name", "device"],
    "LTXVAudioVAELoader": ["ckpt_name"],
    "ModelSamplingLTXV": ["max_shift", "base_shift"],
    "EmptyLTXVLatentVideo": ["width", "height", "length", "batch_size"],
    "LTXVEmptyLatentAudio": ["frames_number", "frame_rate", "batch_size"],
    "LTXVConditioning": ["frame_rate"],
    "LTXVConcatAVLatent": [],
    "LTXVSeparateAVLatent": [],
    "LTXVAudioVAEDecode": [],
    "CreateVideo": ["fps"],
    "SaveVideo": ["filename_prefix", "format", "codec"],
    "MarkdownNote": ["text"],   # frontend-only note nodes (never executed)
    "Note": ["text"],
}
FRONTEND_ONLY = {"MarkdownNote", "Note"}
PREFERENCE_FORMAT = re.compile(r"^\d\.\d{3}(, \d\.\d{3})+$")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def by_id(wf: dict) -> dict:
    return {n["id"]: n for n in wf["nodes"]}


def nodes_of(wf: dict, type_: str) -> list[dict]:
    return [n for n in wf["nodes"] if n["type"] == type_]


def upstream(wf: dict, node: dict, input_name: str) -> tuple[dict, int] | None:
    """(origin node, origin slot) feeding node.input_name, or None."""
    inp = next((i for i in node.get("inputs", []) if i["name"] == input_name), None)
    if not inp or inp.get("link") is None:
        return None
    link = next(lk for lk in wf["links"] if lk[0] == inp["link"])
    return by_id(wf)[link[1]], link[2]


def test_there_are_the_examples():
    names = {p.stem for p in WORKFLOWS}
    assert {"Trained slider - SD3.5 text to image", "Trained slider - Flux Kontext edit",
            "Trained slider - SD3.5 sweep across the front", "LoRA slider - SD3.5 two LoRAs with a schedule",
            "LoRA slider - SDXL two LoRAs (no training)"} <= names, names
    assert names == set(CONFIGS) | LORA_TEMPLATES, "each template is checked as a trained or a LoRA template"
    for name in names:   # the template browser shows a thumbnail next to each
        assert (ROOT / "example_workflows" / f"{name}.jpg").is_file(), f"{name}.jpg is missing"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_is_ui_format(path):
    wf = load(path)
    for key in ("nodes", "links", "version", "last_node_id", "last_link_id"):
        assert key in wf, f"{path.name}: missing top-level {key!r} (not a UI-format workflow)"
    ids = [n["id"] for n in wf["nodes"]]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate node ids"
    assert wf["last_node_id"] >= max(ids)
    link_ids = [lk[0] for lk in wf["links"]]
    assert len(link_ids) == len(set(link_ids)), f"{path.name}: duplicate link ids"
    assert wf["last_link_id"] >= max(link_ids)
    for n in wf["nodes"]:
        assert len(n["pos"]) == 2 and len(n["size"]) == 2, f"{path.name}: node {n['id']} pos/size"
        assert n.get("mode", 0) == 0, f"{path.name}: node {n['id']} is muted or bypassed"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_links_are_consistent(path):
    wf = load(path)
    nodes = by_id(wf)
    for link in wf["links"]:
        lid, origin, oslot, target, tslot, type_ = link
        assert origin in nodes and target in nodes, f"{path.name}: link {lid} joins missing nodes"
        out = nodes[origin]["outputs"][oslot]
        inp = nodes[target]["inputs"][tslot]
        assert lid in (out.get("links") or []), f"{path.name}: link {lid} not listed on its output"
        assert inp.get("link") == lid, f"{path.name}: link {lid} not set on {nodes[target]['type']}.{inp['name']}"
        assert out["type"] == type_, f"{path.name}: link {lid} type {type_} != output type {out['type']}"
        assert inp["type"] in (type_, "*"), (
            f"{path.name}: link {lid} carries {type_} into {nodes[target]['type']}.{inp['name']} ({inp['type']})")
    known = {lk[0] for lk in wf["links"]}
    for n in wf["nodes"]:
        for inp in n.get("inputs", []):
            assert inp.get("link") is None or inp["link"] in known, f"{path.name}: dangling input link"
        for out in n.get("outputs", []):
            assert set(out.get("links") or []) <= known, f"{path.name}: dangling output link"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_socket_input_is_connected(path):
    """Inputs that are sockets (not widgets) are required by all nodes used here."""
    wf = load(path)
    for n in wf["nodes"]:
        for inp in n.get("inputs", []):
            if "widget" not in inp:
                assert inp.get("link") is not None, f"{path.name}: {n['type']}.{inp['name']} is not connected"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_node_types_and_widget_counts(path):
    wf = load(path)
    for n in wf["nodes"]:
        t = n["type"]
        widgets = OURS[t]["widgets"] if t in OURS else CORE.get(t)
        assert widgets is not None, f"{path.name}: node type {t!r} is neither ours nor a known core node"
        assert len(n.get("widgets_values", [])) == len(widgets), (
            f"{path.name}: {t} has widgets_values {n.get('widgets_values')} for widgets {widgets}")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_our_nodes_follow_the_contract(path):
    wf = load(path)
    for n in wf["nodes"]:
        spec = OURS.get(n["type"])
        if spec is None:
            continue
        sockets = [(i["name"], i["type"]) for i in n.get("inputs", []) if "widget" not in i]
        assert sockets == spec["inputs"], f"{path.name}: {n['type']} inputs {sockets} != contract {spec['inputs']}"
        widget_inputs = [i["widget"]["name"] for i in n.get("inputs", []) if "widget" in i]
        assert widget_inputs == spec["widgets"][:len(widget_inputs)], f"{path.name}: {n['type']} widget inputs order"
        assert [o["type"] for o in n["outputs"]] == spec["outputs"], f"{path.name}: {n['type']} outputs"
        values = n["widgets_values"]
        if n["type"] == "ParetoSliderLoader":
            assert values[0].endswith(".safetensors")
            assert [o["name"] for o in n["outputs"]] == ["slider", "steps", "cfg", "width", "height"]
        elif n["type"] == "ParetoSliderPreference":
            assert PREFERENCE_FORMAT.match(values[0]), f"{path.name}: preference {values[0]!r} not like '0.300, 0.700'"
            omega = parse_preference(values[0])
            assert len(omega) >= 2 and min(omega) >= 0 and abs(sum(omega) - 1) < 1e-6
            src = upstream(wf, n, "slider")
            assert src and src[0]["type"] in SLIDER_SOURCES, "the widget labels itself from the slider source"
        elif n["type"] == "ApplyParetoSlider":
            assert isinstance(values[0], (int, float)) and -4 <= values[0] <= 4
        elif n["type"] == "ParetoSliderSweep":
            mode, steps, start, end, noise = values
            assert mode in ("edge", "grid") and 2 <= steps <= 64
            assert noise == "same for every row", "the rows of a sweep differ only by ω"
            assert isinstance(start, int) and isinstance(end, int)
            assert start >= 0 and end >= 0 and start != end
        elif n["type"] == "ParetoSliderFromLoras":
            method, lora_1, lora_2, names, strength, *more = values
            assert method in ("blend", "msdda", "soups") and isinstance(strength, (int, float))
            loras = [v for v in (lora_1, lora_2, *more) if v != "None"]
            assert len(more) == 6 and len(set(loras)) == len(loras) >= 2
            assert all(v.endswith(".safetensors") for v in loras)
            assert not names or len([x for x in names.split(",") if x.strip()]) == len(loras)
        elif n["type"] == "ParetoSliderSchedule":
            end, curve, keypoints, axis = values
            assert PREFERENCE_FORMAT.match(end), f"{path.name}: end {end!r} not like '0.300, 0.700'"
            assert curve in ("linear", "smoothstep", "ease_in", "ease_out", "step")
            assert axis in ("percent", "sigma") and isinstance(keypoints, str)
            src = upstream(wf, n, "slider")
            assert src and src[0]["type"] in SLIDER_SOURCES
            assert upstream(wf, n, "start")[0]["type"] in ("ParetoSliderPreference", "ParetoSliderSweep")


def test_sd35_text_to_image_chain():
    wf = load(ROOT / "example_workflows" / "Trained slider - SD3.5 text to image.json")
    ks = nodes_of(wf, "KSampler")[0]
    apply, _ = upstream(wf, ks, "model")
    assert apply["type"] == "ApplyParetoSlider"
    assert upstream(wf, apply, "model")[0]["type"] == "CheckpointLoaderSimple"
    assert "sd3.5" in upstream(wf, apply, "model")[0]["widgets_values"][0]
    assert upstream(wf, apply, "preference")[0]["type"] == "ParetoSliderPreference"
    assert upstream(wf, ks, "latent_image")[0]["type"] == "EmptySD3LatentImage"
    assert nodes_of(wf, "SaveImage") and nodes_of(wf, "VAEDecode")


def test_flux_kontext_edit_uses_kontext_reference_latent():
    wf = load(ROOT / "example_workflows" / "Trained slider - Flux Kontext edit.json")
    ks = nodes_of(wf, "KSampler")[0]
    apply, _ = upstream(wf, ks, "model")
    assert apply["type"] == "ApplyParetoSlider"
    # UNETLoader → ModelSamplingFlux (Flux's schedule at the training size) → Apply
    sampling, _ = upstream(wf, apply, "model")
    assert sampling["type"] == "ModelSamplingFlux" and upstream(wf, sampling, "model")[0]["type"] == "UNETLoader"
    # positive: FluxGuidance ← ReferenceLatent ← (text, VAEEncode ← ImageScale ← LoadImage)
    guidance, _ = upstream(wf, ks, "positive")
    ref, _ = upstream(wf, guidance, "conditioning")
    assert (guidance["type"], ref["type"]) == ("FluxGuidance", "ReferenceLatent")
    enc, _ = upstream(wf, ref, "latent")
    scale, _ = upstream(wf, enc, "pixels")
    assert (enc["type"], scale["type"], upstream(wf, scale, "image")[0]["type"]) == (
        "VAEEncode", "ImageScale", "LoadImage")
    assert upstream(wf, ks, "latent_image")[0] is enc      # the edit starts from the source's latent
    pref = upstream(wf, apply, "preference")[0]
    assert pref["type"] == "ParetoSliderPreference" and len(parse_preference(pref["widgets_values"][0])) == 2


def test_sweep_count_drives_the_latent_batch():
    wf = load(ROOT / "example_workflows" / "Trained slider - SD3.5 sweep across the front.json")
    sweep = nodes_of(wf, "ParetoSliderSweep")[0]
    latent = nodes_of(wf, "EmptySD3LatentImage")[0]
    src = upstream(wf, latent, "batch_size")
    assert src == (sweep, 1), "Sweep.count must be wired to EmptySD3LatentImage.batch_size"
    batch_input = next(i for i in latent["inputs"] if i["name"] == "batch_size")
    assert batch_input["widget"] == {"name": "batch_size"}
    apply = nodes_of(wf, "ApplyParetoSlider")[0]
    assert upstream(wf, apply, "preference") == (sweep, 0)
    assert upstream(wf, nodes_of(wf, "KSampler")[0], "model")[0] is apply


def test_ltx2_text_to_video_chain_samples_video_and_audio_as_the_config_trains():
    """Checkpoint → ModelSamplingLTXV (the trainer's shift, from the latent's size) → Apply → KSampler
    on [video | audio] latents; frames and frame rate everywhere as in ltx2_motion_vs_stability.yaml."""
    wf = load(ROOT / "example_workflows" / "Trained slider - LTX-2 text to video.json")
    config = yaml.safe_load((ROOT / "trainer" / "configs" / "ltx2_motion_vs_stability.yaml").read_text(encoding="utf-8"))
    frames, fps = config["model"]["num_frames"], config["model"]["frame_rate"]
    ks = nodes_of(wf, "KSampler")[0]
    apply, _ = upstream(wf, ks, "model")
    assert apply["type"] == "ApplyParetoSlider"
    sampling, _ = upstream(wf, apply, "model")
    assert sampling["type"] == "ModelSamplingLTXV" and (widget(sampling, "max_shift"), widget(sampling, "base_shift")) \
        == (2.05, 0.95)                               # trainer.backbones.ltx2.sigmas: 0.95 at 1024 tokens, 2.05 at 4096
    assert upstream(wf, sampling, "model")[0]["type"] == "CheckpointLoaderSimple"
    video = nodes_of(wf, "EmptyLTXVLatentVideo")[0]
    assert upstream(wf, sampling, "latent")[0] is video
    concat, _ = upstream(wf, ks, "latent_image")
    assert concat["type"] == "LTXVConcatAVLatent" and upstream(wf, concat, "video_latent")[0] is video
    audio = upstream(wf, concat, "audio_latent")[0]
    assert audio["type"] == "LTXVEmptyLatentAudio"
    assert widget(video, "length") == widget(audio, "frames_number") == frames
    cond, _ = upstream(wf, ks, "positive")
    assert cond["type"] == "LTXVConditioning" and widget(cond, "frame_rate") == widget(audio, "frame_rate") == fps
    assert widget(nodes_of(wf, "CreateVideo")[0], "fps") == fps
    sep = nodes_of(wf, "LTXVSeparateAVLatent")[0]
    assert upstream(wf, sep, "av_latent")[0] is ks
    assert upstream(wf, nodes_of(wf, "VAEDecode")[0], "samples") == (sep, 0)
    assert upstream(wf, nodes_of(wf, "LTXVAudioVAEDecode")[0], "samples") == (sep, 1)
    assert nodes_of(wf, "SaveVideo")


def from_loader(wf: dict, node: dict, input_name: str) -> int | None:
    """The Loader output slot feeding node.input_name, or None when it is not a Loader's."""
    src = upstream(wf, node, input_name)
    return src[1] if src and src[0]["type"] == "ParetoSliderLoader" else None


def widget(node: dict, name: str):
    widgets = OURS[node["type"]]["widgets"] if node["type"] in OURS else CORE[node["type"]]
    return node["widgets_values"][widgets.index(name)]


def test_two_loras_slider_chain():
    """Checkpoint → Apply ← (LoRA slider, Schedule ← Preference); all three read one LoRA node."""
    wf = load(ROOT / "example_workflows" / "LoRA slider - SD3.5 two LoRAs with a schedule.json")
    ks = nodes_of(wf, "KSampler")[0]
    apply, _ = upstream(wf, ks, "model")
    assert apply["type"] == "ApplyParetoSlider"
    assert upstream(wf, apply, "model")[0]["type"] == "CheckpointLoaderSimple"
    assert "sd3.5_medium" in upstream(wf, apply, "model")[0]["widgets_values"][0]
    loras = nodes_of(wf, "ParetoSliderFromLoras")
    assert len(loras) == 1
    src = loras[0]
    values = dict(zip(LORA_WIDGETS, src["widgets_values"]))
    assert [v for k, v in values.items() if k.startswith("lora_") and v != "None"] == [
        values["lora_1"], values["lora_2"]], "two LoRAs"
    assert values["method"] == "blend", "the method that needs no special sampler and re-patches nothing"
    schedule, _ = upstream(wf, apply, "preference")
    assert schedule["type"] == "ParetoSliderSchedule"
    pref, _ = upstream(wf, schedule, "start")
    assert pref["type"] == "ParetoSliderPreference"
    for n, name in ((apply, "slider"), (schedule, "slider"), (pref, "slider")):
        assert upstream(wf, n, name)[0] is src
    start, end = parse_preference(pref["widgets_values"][0]), parse_preference(schedule["widgets_values"][0])
    assert len(start) == len(end) == 2 and start != end, "the schedule moves ω (the template shows it off)"
    assert schedule["widgets_values"][2] == "", "start / end / curve, not keypoints"
    assert upstream(wf, ks, "latent_image")[0]["type"] == "EmptySD3LatentImage"
    assert nodes_of(wf, "SaveImage") and nodes_of(wf, "VAEDecode")


def test_sdxl_two_loras_slider_chain():
    """What an SDXL artist has: one SDXL checkpoint's MODEL → Apply ← (LoRA slider, Preference),
    its CLIP → both prompts, its VAE → decode; KSampler with SDXL's usual settings at 1024 px."""
    wf = load(ROOT / "example_workflows" / "LoRA slider - SDXL two LoRAs (no training).json")
    ckpt = nodes_of(wf, "CheckpointLoaderSimple")
    assert len(ckpt) == 1 and "sd_xl" in widget(ckpt[0], "ckpt_name"), "one SDXL checkpoint"
    ckpt = ckpt[0]
    ks = nodes_of(wf, "KSampler")[0]
    apply, _ = upstream(wf, ks, "model")
    assert apply["type"] == "ApplyParetoSlider" and upstream(wf, apply, "model") == (ckpt, 0)
    assert widget(apply, "lora_strength") == 1.0
    src = nodes_of(wf, "ParetoSliderFromLoras")
    assert len(src) == 1
    src = src[0]
    values = dict(zip(LORA_WIDGETS, src["widgets_values"]))
    loras = [v for k, v in values.items() if k.startswith("lora_") and v != "None"]
    assert loras == [values["lora_1"], values["lora_2"]] and all(v.startswith("sdxl_") for v in loras), loras
    assert values["method"] == "blend", "the method that works under KSampler and re-patches nothing"
    assert values["names"] == "Photo, Sketch" and values["strength"] == 1.0
    pref, _ = upstream(wf, apply, "preference")
    assert pref["type"] == "ParetoSliderPreference", "one fixed ω: Preference straight into Apply"
    assert upstream(wf, apply, "slider")[0] is src and upstream(wf, pref, "slider")[0] is src
    # the checkpoint's CLIP encodes both prompts, its VAE decodes
    pos, neg = upstream(wf, ks, "positive")[0], upstream(wf, ks, "negative")[0]
    assert pos["type"] == neg["type"] == "CLIPTextEncode" and pos is not neg
    assert upstream(wf, pos, "clip") == upstream(wf, neg, "clip") == (ckpt, 1)
    latent, _ = upstream(wf, ks, "latent_image")
    assert latent["type"] == "EmptyLatentImage"
    assert (widget(latent, "width"), widget(latent, "height"), widget(latent, "batch_size")) == (1024, 1024, 1)
    assert 20 <= widget(ks, "steps") <= 30 and 5.0 <= widget(ks, "cfg") <= 7.0
    assert (widget(ks, "sampler_name"), widget(ks, "scheduler")) in (("dpmpp_2m", "karras"), ("euler", "normal"))
    assert widget(ks, "denoise") == 1.0
    decode = nodes_of(wf, "VAEDecode")[0]
    assert upstream(wf, decode, "samples") == (ks, 0) and upstream(wf, decode, "vae") == (ckpt, 2)
    assert upstream(wf, nodes_of(wf, "SaveImage")[0], "images") == (decode, 0)
    # the note names what to pick and what msdda needs
    note = " ".join(n["widgets_values"][0] for n in nodes_of(wf, "MarkdownNote"))
    for needed in ("SDXL", "blend", "soups", "msdda", "SamplerCustom", "ParetoSlider MSDDA Sampler",
                   "models/loras/", "models/checkpoints/"):
        assert needed in note, f"the note does not mention {needed!r}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_nodes_do_not_overlap(path):
    """Saved sizes, title bars included: a template opens with every node readable."""
    wf = load(path)
    title = 30

    def box(n):
        return n["pos"][0], n["pos"][1] - title, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1]
    for i, a in enumerate(wf["nodes"]):
        for b in wf["nodes"][i + 1:]:
            ax0, ay0, ax1, ay1 = box(a)
            bx0, by0, bx1, by1 = box(b)
            assert not (ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1), (
                f"{path.name}: {a['type']} #{a['id']} overlaps {b['type']} #{b['id']}")


@pytest.mark.parametrize("path", [p for p in WORKFLOWS if p.stem in CONFIGS], ids=lambda p: p.stem)
def test_templates_sample_as_the_paired_config_trains(path):
    """KSampler's steps / cfg and the image size come from the Loader (the file's training
    settings); the saved widget values, shown when unlinked, are the paired trainer config's."""
    wf = load(path)
    config = yaml.safe_load((ROOT / "trainer" / "configs" / CONFIGS[path.stem]).read_text(encoding="utf-8"))
    resolution, sample_steps = config["model"]["resolution"], config["train"]["sample_steps"]
    assert (resolution, sample_steps) == (512, 10)
    ks = nodes_of(wf, "KSampler")[0]
    assert (from_loader(wf, ks, "steps"), from_loader(wf, ks, "cfg")) == (LOADER_SLOTS["steps"], LOADER_SLOTS["cfg"])
    assert (widget(ks, "steps"), widget(ks, "cfg")) == (sample_steps, 1.0)     # the references train CFG-free
    # the image size: the empty latent (text-to-image) or the source image's scale (edit)
    sized = (nodes_of(wf, "EmptySD3LatentImage") + nodes_of(wf, "ImageScale") + nodes_of(wf, "ModelSamplingFlux")
             + nodes_of(wf, "EmptyLTXVLatentVideo"))
    assert sized, "nothing sets the image size"
    for n in sized:
        for side in ("width", "height"):
            assert from_loader(wf, n, side) == LOADER_SLOTS[side], f"{n['type']}.{side} is not the Loader's"
            assert widget(n, side) == resolution
    for n in nodes_of(wf, "ImageScale"):            # the trainer resizes sources bilinearly to a square
        assert (widget(n, "upscale_method"), widget(n, "crop")) == ("bilinear", "disabled")
    for n in nodes_of(wf, "ModelSamplingFlux"):     # the trainer's Flux shift: 0.5 at 256 tokens, 1.15 at 4096
        assert (widget(n, "max_shift"), widget(n, "base_shift")) == (1.15, 0.5)
    for n in nodes_of(wf, "FluxGuidance"):
        assert widget(n, "guidance") == config["model"]["guidance"] == 2.5


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_core_node_types_exist_in_comfyui(path):
    """With a ComfyUI checkout, every core type we use is defined in its source."""
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy:
        pytest.skip("COMFYUI_DIR is not set (a ComfyUI checkout); the structural tests above still ran")
    sources = [Path(comfy) / "nodes.py", *sorted((Path(comfy) / "comfy_extras").glob("*.py"))]
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sources)
    for t in {n["type"] for n in load(path)["nodes"]} - set(OURS) - FRONTEND_ONLY:
        assert re.search(rf'["\']{re.escape(t)}["\']', text), f"{t} is not defined in {comfy}"


def test_lora_slider_templates_come_first_and_titles_are_readable():
    """The template browser shows the file name as the title (sorted A-Z on request): the LoRA
    sliders, which need no training, sort first; no title is a raw snake_case file name."""
    names = sorted(p.stem for p in WORKFLOWS)
    lora_first = [n for n in names if n.startswith("LoRA slider")]
    assert names[:len(lora_first)] == lora_first and len(lora_first) == len(LORA_TEMPLATES)
    for n in names:
        assert " " in n and "_" not in n, f"{n!r} reads as a file name, not a title"


@pytest.mark.parametrize("path", [p for p in WORKFLOWS if p.stem in CONFIGS], ids=lambda p: p.stem)
def test_trained_templates_say_how_to_make_their_file(path):
    """The Loader's line shows this when the file is not there: the trainer command with a config
    that exists, or a LoRA slider instead."""
    for loader in nodes_of(load(path), "ParetoSliderLoader"):
        make = loader["properties"]["paretoslider_make"]
        config = re.search(r"--config (\S+\.yaml)", make).group(1)
        assert (ROOT / config).is_file(), f"{path.name}: {config} does not exist"
        assert config.endswith(CONFIGS[path.stem]) and "python -m trainer train" in make and "LoRA" in make


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_slider_files_declare_their_folder_for_the_missing_models_panel(path):
    """ComfyUI's frontend files a missing model under the `directory` of the node's
    properties.models entry with the widget's file name (else under "Unknown"): a trained file
    goes in paretoslider/, a LoRA in loras/. No `url`: a slider trained on your rewards cannot be
    downloaded (the Loader's line says how to make one), and the template's LoRAs are examples."""
    folder = {"ParetoSliderLoader": "paretoslider", "ParetoSliderFromLoras": "loras"}
    for node in load(path)["nodes"]:
        if node["type"] not in folder:
            continue
        files = [v for v in node["widgets_values"] if isinstance(v, str) and v.endswith(".safetensors")]
        models = node["properties"].get("models", [])
        assert files and [m["name"] for m in models] == files, f"{path.name}: {node['type']} declares {models}"
        assert all(m["directory"] == folder[node["type"]] and "url" not in m for m in models), models


def test_inputs_a_template_loads_are_shipped():
    """LoadImage reads input/: the extension copies example_workflows/input/ there (example_inputs.py)."""
    for path in WORKFLOWS:
        for n in nodes_of(load(path), "LoadImage"):
            assert (ROOT / "example_workflows" / "input" / n["widgets_values"][0]).is_file(), path.name


def test_example_inputs_are_copied_once_and_never_replace_a_users_file(tmp_path):
    from nodes.example_inputs import SOURCE, install_example_inputs
    shipped = sorted(p.name for p in SOURCE.iterdir())
    assert install_example_inputs(str(tmp_path)) == shipped
    assert (tmp_path / shipped[0]).read_bytes() == (SOURCE / shipped[0]).read_bytes()
    (tmp_path / shipped[0]).write_bytes(b"mine")
    assert install_example_inputs(str(tmp_path)) == [] and (tmp_path / shipped[0]).read_bytes() == b"mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".paretoslider-")]

"""LoRA sliders (issue 13) in a real ComfyUI server on the tiny SD3 / Flux models: a vertex is that
LoRA alone, the output moves monotonically along an edge, MSDDA at a vertex is that LoRA under
the MSDDA sampler (its derivation), bad input gets a clear message."""
from __future__ import annotations

import json

import pytest
import torch

from testsupport.comfy.comfy_client import PromptRejected
from testsupport.comfy.comfy_client import input_nodes as base_graph

LORAS = {"sd3": ("tiny_sd3_lora_photo.safetensors", "tiny_sd3_lora_sketch.safetensors",
                 "tiny_sd3_lora_color.safetensors"),
         "flux": ("tiny_flux_lora_photo.safetensors", "tiny_flux_lora_sketch.safetensors")}
HOOK_TOL = 1e-4     # unmerged LoRA (x Aᵀ Bᵀ added to W x) vs merged weights: float rounding only


def finish(g: dict, model, arch: str, prefix: str, sampler: str = "ksampler", seed: int = 7, steps: int = 3,
           eta: float = 0.7) -> dict:
    cfg = 2.0 if arch == "sd3" else 1.0
    if sampler == "ksampler":
        g["sampler"] = {"class_type": "KSampler",
                        "inputs": {"model": model, "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": "euler",
                                   "scheduler": "simple", "denoise": 1.0, "positive": ["pos", 0],
                                   "negative": ["neg", 0], "latent_image": ["latent", 0]}}
    else:     # SamplerCustom with the ParetoSlider MSDDA Sampler
        g["msdda"] = {"class_type": "ParetoSliderMSDDASampler", "inputs": {"eta": eta}}
        g["sigmas"] = {"class_type": "BasicScheduler",
                       "inputs": {"model": model, "scheduler": "simple", "steps": steps, "denoise": 1.0}}
        g["sampler"] = {"class_type": "SamplerCustom",
                        "inputs": {"model": model, "add_noise": True, "noise_seed": seed, "cfg": cfg,
                                   "positive": ["pos", 0], "negative": ["neg", 0], "sampler": ["msdda", 0],
                                   "sigmas": ["sigmas", 0], "latent_image": ["latent", 0]}}
    g["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sampler", 0], "filename_prefix": f"latents/{prefix}"}}
    return g


def lora_alone(arch: str, lora: str, prefix: str, strength: float = 1.0, **kw) -> dict:
    g = base_graph(arch)
    g["lora"] = {"class_type": "LoraLoaderModelOnly",
                 "inputs": {"model": ["unet", 0], "lora_name": lora, "strength_model": strength}}
    return finish(g, ["lora", 0], arch, prefix, **kw)


def slider_graph(arch: str, method: str, prefix: str, preference: str = "0.5, 0.5", loras=None,
                 names: str = "", strength: float = 1.0, sweep: int | None = None, schedule: dict | None = None,
                 **kw) -> dict:
    loras = loras or LORAS[arch][:2]
    g = base_graph(arch)
    inputs = {"method": method, "names": names, "strength": strength}
    inputs.update({f"lora_{i + 1}": name for i, name in enumerate(loras)})
    g["loras"] = {"class_type": "ParetoSliderFromLoras", "inputs": inputs}
    if sweep:
        g["pref"] = {"class_type": "ParetoSliderSweep",
                     "inputs": {"slider": ["loras", 0], "mode": "edge", "steps": sweep, "from_objective": 0,
                                "to_objective": 1}}
        g["latent"]["inputs"]["batch_size"] = ["pref", 1]   # every row the same noise: the Sweep's own
    else:
        g["pref"] = {"class_type": "ParetoSliderPreference", "inputs": {"slider": ["loras", 0], "preference": preference}}
    pref = ["pref", 0]
    if schedule:
        g["schedule"] = {"class_type": "ParetoSliderSchedule",
                         "inputs": {"slider": ["loras", 0], "start": pref, "end": "0.5, 0.5", "curve": "linear",
                                    "keypoints": "", "axis": "percent", **schedule}}
        pref = ["schedule", 0]
    g["apply"] = {"class_type": "ApplyParetoSlider",
                  "inputs": {"model": ["unet", 0], "slider": ["loras", 0], "preference": pref, "lora_strength": 1.0}}
    return finish(g, ["apply", 0], arch, prefix, **kw)


def run_latent(comfy, g) -> torch.Tensor:
    r = comfy.run(g)
    assert r.ok, f"graph failed: {r.error}\n{comfy.log.read_text()[-2000:]}"
    return comfy.latent(r)


def run_error(comfy, g) -> str:
    r = comfy.run(g)
    assert not r.ok, "the graph should have failed"
    return r.error


def test_lora_slider_node_has_the_interface_contract(comfy):
    info = comfy.get("/object_info")["ParetoSliderFromLoras"]
    assert info["input_order"]["required"] == ["method", "lora_1", "lora_2", "names", "strength"]
    assert info["input_order"]["optional"] == [f"lora_{i}" for i in range(3, 9)]
    req = info["input"]["required"]
    assert req["method"][1]["options"] == ["blend", "msdda", "soups"] and req["method"][1]["default"] == "blend"
    assert "tiny_sd3_lora_photo.safetensors" in req["lora_1"][1]["options"]
    assert info["input"]["optional"]["lora_3"][1]["options"][0] == "None"
    assert info["output"] == ["PARETO_SLIDER"] and info["display_name"] == "ParetoSlider from LoRAs"
    sched = comfy.get("/object_info")["ParetoSliderSchedule"]
    assert sched["input_order"]["required"] == ["slider", "start", "end", "curve", "keypoints", "axis"]
    assert sched["output"] == ["PARETO_PREFERENCE"]


@pytest.mark.parametrize("arch", ["sd3", "flux"])
@pytest.mark.parametrize("vertex", [0, 1])
def test_at_a_vertex_soups_and_blend_equal_that_lora_alone(comfy, arch, vertex):
    lora = LORAS[arch][vertex]
    alone = run_latent(comfy, lora_alone(arch, lora, f"alone_{arch}{vertex}"))
    base = run_latent(comfy, finish(base_graph(arch), ["unet", 0], arch, f"base_{arch}"))
    assert (alone - base).abs().max() > 1e-2          # the LoRA does something
    pref = "1, 0" if vertex == 0 else "0, 1"
    soups = run_latent(comfy, slider_graph(arch, "soups", f"soups_{arch}{vertex}", pref))
    assert torch.equal(soups, alone)                   # the same ComfyUI weight patches: bit-identical
    blend = run_latent(comfy, slider_graph(arch, "blend", f"blend_{arch}{vertex}", pref))
    assert (blend - alone).abs().max() < HOOK_TOL


def test_msdda_at_a_vertex_is_that_lora_under_the_msdda_sampler(comfy):
    """The derivation (docs/LORA_SLIDERS.md): equal-variance Gaussian steps multiply to the SDE step
    of the blended velocity; at a vertex that is the LoRA's own SDE step, with the same noise."""
    alone = run_latent(comfy, lora_alone("sd3", LORAS["sd3"][1], "m_alone", sampler="msdda"))
    msdda = run_latent(comfy, slider_graph("sd3", "msdda", "m_vertex", "0, 1", sampler="msdda"))
    assert (msdda - alone).abs().max() < HOOK_TOL
    ode = run_latent(comfy, lora_alone("sd3", LORAS["sd3"][1], "m_ode"))
    assert (alone - ode).abs().max() > 1e-2            # the SDE steps do add noise
    eta0 = run_latent(comfy, slider_graph("sd3", "msdda", "m_eta0", "0.3, 0.7", sampler="msdda", eta=0.0))
    blend_sde = run_latent(comfy, slider_graph("sd3", "blend", "m_b_eta0", "0.3, 0.7", sampler="msdda", eta=0.0))
    assert torch.equal(eta0, blend_sde)


def test_msdda_under_ksampler_says_which_sampler_to_use(comfy):
    err = run_error(comfy, slider_graph("sd3", "msdda", "m_ks", "0.5, 0.5"))
    assert err.startswith("ParetoSliderError: method msdda combines stochastic steps") and "MSDDA Sampler" in err


@pytest.mark.parametrize("method", ["soups", "blend", "msdda"])
def test_output_moves_monotonically_along_an_edge(comfy, method):
    """Five ω from LoRA 1 to LoRA 2, same seed: the distance to LoRA 1's output grows and to
    LoRA 2's shrinks, step by step."""
    kw = {"sampler": "msdda"} if method == "msdda" else {}
    a, b = (run_latent(comfy, lora_alone("sd3", lora, f"edge_{method}_{i}", **kw))
            for i, lora in enumerate(LORAS["sd3"][:2]))
    outs = [run_latent(comfy, slider_graph("sd3", method, f"edge_{method}{i}", f"{1 - t}, {t}", **kw))[0]
            for i, t in enumerate((0.0, 0.25, 0.5, 0.75, 1.0))]
    da = [float((o - a[0]).norm()) for o in outs]
    db = [float((o - b[0]).norm()) for o in outs]
    assert da[0] < 1e-2 * da[-1] and db[-1] < 1e-2 * db[0]
    assert all(x < y for x, y in zip(da, da[1:])), da
    assert all(x > y for x, y in zip(db, db[1:])), db


@pytest.mark.parametrize("arch", ["sd3", "flux"])
def test_sweep_rows_equal_single_runs_and_soups_sweep_is_unmerged_soups(comfy, arch):
    sweep = run_latent(comfy, slider_graph(arch, "blend", f"sw_blend_{arch}", sweep=3))
    mid = run_latent(comfy, slider_graph(arch, "blend", f"sw_mid_{arch}", "0.5, 0.5"))
    assert (sweep[1] - mid[0]).abs().max() < HOOK_TOL
    soups_sweep = run_latent(comfy, slider_graph(arch, "soups", f"sw_soups_{arch}", sweep=3))
    soups_mid = run_latent(comfy, slider_graph(arch, "soups", f"sw_soups_mid_{arch}", "0.5, 0.5"))
    assert (soups_sweep[1] - soups_mid[0]).abs().max() < HOOK_TOL      # per-row Σ ω ΔW == merged soup
    assert (soups_mid - mid).abs().max() > 1e-3                         # soups and blend differ


def test_three_loras_and_names(comfy):
    lat = run_latent(comfy, slider_graph("sd3", "blend", "three", "0.2, 0.3, 0.5", loras=LORAS["sd3"],
                                         names="photo, , color"))
    assert lat.shape[0] == 1 and torch.isfinite(lat).all()


@pytest.mark.parametrize("method", ["soups", "blend"])
def test_constant_schedule_equals_todays_output_and_two_point_differs_from_both_ends(comfy, method):
    plain = run_latent(comfy, slider_graph("sd3", method, f"c_plain_{method}", "0.3, 0.7"))
    const = run_latent(comfy, slider_graph("sd3", method, f"c_const_{method}", "0.3, 0.7",
                                           schedule={"end": "0.3, 0.7"}))
    assert torch.equal(const, plain)
    start = run_latent(comfy, slider_graph("sd3", method, f"c_start_{method}", "1, 0"))
    end = run_latent(comfy, slider_graph("sd3", method, f"c_end_{method}", "0, 1"))
    moving = run_latent(comfy, slider_graph("sd3", method, f"c_move_{method}", "1, 0", schedule={"end": "0, 1"}))
    assert (moving - start).abs().max() > 1e-3 and (moving - end).abs().max() > 1e-3
    keys = run_latent(comfy, slider_graph("sd3", method, f"c_keys_{method}", "0.5, 0.5",
                                          schedule={"keypoints": "0: 1, 0\n1: 0, 1"}))
    assert torch.equal(keys, moving) if method == "blend" else (keys - moving).abs().max() < HOOK_TOL


def test_front_preview_of_a_lora_slider_says_there_is_no_front_and_marks_omega(comfy):
    g = base_graph("sd3")
    g["loras"] = {"class_type": "ParetoSliderFromLoras",
                  "inputs": {"method": "blend", "lora_1": LORAS["sd3"][0], "lora_2": LORAS["sd3"][1],
                             "names": "", "strength": 1.0}}
    g["pref"] = {"class_type": "ParetoSliderPreference", "inputs": {"slider": ["loras", 0], "preference": "0.2, 0.8"}}
    g = {k: v for k, v in g.items() if k in ("loras", "pref")}
    g["preview"] = {"class_type": "ParetoSliderFrontPreview",
                    "inputs": {"slider": ["loras", 0], "preference": ["pref", 0], "width": 384}}
    r = comfy.run(g)
    assert r.ok, r.error
    assert r.outputs["preview"]["images"]


def slider_only(method: str, lora_1: str, lora_2: str) -> dict:
    g = base_graph("sd3")
    g["loras"] = {"class_type": "ParetoSliderFromLoras",
                  "inputs": {"method": method, "lora_1": lora_1, "lora_2": lora_2, "names": "", "strength": 1.0}}
    g["pref"] = {"class_type": "ParetoSliderPreference", "inputs": {"slider": ["loras", 0], "preference": "0.5, 0.5"}}
    g["apply"] = {"class_type": "ApplyParetoSlider",
                  "inputs": {"model": ["unet", 0], "slider": ["loras", 0], "preference": ["pref", 0],
                             "lora_strength": 1.0}}
    return finish(g, ["apply", 0], "sd3", f"bad_{method}")


def rejected(comfy, g) -> str:
    with pytest.raises(PromptRejected) as err:
        comfy.queue(g)
    return str(err.value.body)


def test_a_single_lora_is_refused_once(comfy):
    r = comfy.run(slider_only("blend", LORAS["sd3"][0], LORAS["sd3"][0]))
    assert not r.ok and r.error.strip() == (
        "ParetoSliderError: a LoRA slider needs at least 2 different LoRAs (one per end of the slider); "
        "got 1: choose another LoRA for lora_2"), r.error


def test_a_missing_lora_file_is_refused_before_running_once(comfy):
    """ComfyUI's own check, on the one input that names the missing file (not once per input)."""
    with pytest.raises(PromptRejected) as err:
        comfy.queue(slider_only("blend", LORAS["sd3"][0], "gone.safetensors"))
    errors = err.value.body["node_errors"]["loras"]["errors"]
    assert [e["extra_info"]["input_name"] for e in errors] == ["lora_2"], errors
    assert "gone.safetensors" in json.dumps(errors[0])


def test_a_new_lora_node_starts_on_two_different_files(comfy):
    req = comfy.get("/object_info")["ParetoSliderFromLoras"]["input"]["required"]
    files = req["lora_1"][1]["options"]
    assert len(files) >= 2 and req["lora_2"][1]["default"] == files[1] != files[0]


@pytest.mark.parametrize("method", ["soups", "blend"])
def test_a_lora_for_another_model_is_refused(comfy, method):
    err = run_error(comfy, slider_only(method, LORAS["sd3"][0], "tiny_sd3_lora_other_width.safetensors"))
    assert err.startswith("ParetoSliderError: LoRA tiny_sd3_lora_other_width.safetensors is for another model: "
                          "its update of diffusion_model."), err
    assert "does not fit this SD3 model's 384×128 weight. Choose LoRAs made for SD3" in err, err
    err = run_error(comfy, slider_only(method, LORAS["sd3"][0], LORAS["flux"][0]))     # an SD3 and a Flux LoRA
    assert err.strip() == ("ParetoSliderError: these LoRAs were made for different model families "
                           "('tiny_sd3_lora_photo.safetensors' looks made for SD3, 'tiny_flux_lora_photo.safetensors' "
                           "looks made for Flux); a slider's LoRAs must all be made for the model you sample with"), err


@pytest.mark.parametrize("method", ["soups", "blend"])
def test_a_lora_whose_keys_do_not_map_is_refused_naming_them(comfy, method):
    err = run_error(comfy, slider_only(method, LORAS["sd3"][0], "tiny_sd3_lora_unmapped.safetensors"))
    assert err.startswith("ParetoSliderError: LoRA tiny_sd3_lora_unmapped.safetensors: 2 of its 47 model keys do not "
                          "match this SD3 model (transformer.no_such_block.attn.to_q.lora_A.weight, "
                          "transformer.no_such_block.attn.to_q.lora_B.weight). Choose LoRAs made for SD3"), err
    assert "transformer.no_such_block.attn.to_q.lora_A.weight" in err

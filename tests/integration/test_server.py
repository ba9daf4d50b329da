"""A real ComfyUI server runs graphs with the ParetoSlider nodes on tiny random SD3 and Flux models."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from testsupport.comfy.comfy_client import PromptRejected, graph
from testsupport.comfy.tiny_models import TRAINED

NODES = {
    "ParetoSliderLoader": ["slider_name"],
    "ParetoSliderPreference": ["slider", "preference"],
    "ApplyParetoSlider": ["model", "slider", "preference", "lora_strength"],
    "ParetoSliderSweep": ["slider", "mode", "steps", "from_objective", "to_objective"],
    "ParetoSliderFrontPreview": ["slider"],
}
ARCHS = ["sd3", "flux"]


def run_ok(comfy, g):
    r = comfy.run(g)
    assert r.ok, f"graph failed: {r.error}\n{comfy.log.read_text()[-2000:]}"
    return r


def test_server_lists_the_nodes_with_their_input_contract(comfy):
    info = comfy.get("/object_info")
    for node, inputs in NODES.items():
        assert node in info, f"{node} not registered"
        assert info[node]["category"] == "ParetoSlider"
        assert info[node]["input_order"]["required"] == inputs
    assert info["ParetoSliderSweep"]["output"] == ["PARETO_PREFERENCE", "INT"]
    loader = info["ParetoSliderLoader"]   # the slider stays output 0; the recommended settings follow it
    assert loader["output"] == ["PARETO_SLIDER", "INT", "FLOAT", "INT", "INT"]
    assert loader["output_name"] == ["slider", "steps", "cfg", "width", "height"]
    preview = info["ParetoSliderFrontPreview"]
    assert preview["input_order"]["optional"] == ["preference", "width"]
    assert preview["output"] == ["IMAGE"] and preview["output_node"]
    assert "tiny_sd3_slider.safetensors" in info["ParetoSliderLoader"]["input"]["required"]["slider_name"][1]["options"]


def test_info_route_gives_objectives_and_errors(comfy):
    status, body = comfy.get_status("/paretoslider/info?name=tiny_sd3_slider.safetensors")
    assert status == 200
    assert [o["label"] for o in body["objectives"]] == ["Photo", "Sketch"]
    assert body["architecture"] == "sd3" and body["width"] == 128 and body["front"]
    status, body = comfy.get_status("/paretoslider/info?name=bad_pickle.safetensors")
    assert status == 404 and "never unpickles" in body["error"]


def test_info_route_gives_the_recommended_sampling_settings(comfy):
    status, body = comfy.get_status("/paretoslider/info?name=tiny_flux_trained.safetensors")
    assert status == 200
    assert body["recommended"] == {"steps": 2, "cfg": 1.0, "width": 64, "height": 64, "guidance": 2.5,
                                   "text": "trained at 64 px, 2 sampling steps, CFG-free (cfg 1.0), guidance 2.5",
                                   "defaulted": []}
    _, old = comfy.get_status("/paretoslider/info?name=tiny_sd3_slider.safetensors")   # records none
    assert (old["recommended"]["steps"], old["recommended"]["width"]) == (20, 1024)
    assert old["recommended"]["defaulted"] == ["resolution", "steps"]
    # unusable recorded values: the labels still come, the settings say what is wrong
    status, bad = comfy.get_status("/paretoslider/info?name=bad_training_values.safetensors")
    assert status == 200 and [o["label"] for o in bad["objectives"]] == ["Photo", "Sketch"]
    assert "sample_steps = -3" in bad["recommended"]["error"]


def loader_values_graph(slider: str) -> dict:
    """The Loader's four settings outputs, each shown by core PreviewAny (an output node)."""
    g = {"loader": {"class_type": "ParetoSliderLoader", "inputs": {"slider_name": slider}}}
    for i, name in enumerate(["steps", "cfg", "width", "height"], start=1):
        g[name] = {"class_type": "PreviewAny", "inputs": {"source": ["loader", i]}}
    return g


@pytest.mark.parametrize("slider, values, text", [
    ("tiny_sd3_trained.safetensors", ["3", "1.0", "64", "64"],
     "trained at 64 px, 3 sampling steps, CFG-free (cfg 1.0)"),
    ("tiny_flux_trained.safetensors", ["2", "1.0", "64", "64"],
     "trained at 64 px, 2 sampling steps, CFG-free (cfg 1.0), guidance 2.5"),
    ("tiny_sd3_slider.safetensors", ["20", "1.0", "1024", "1024"],     # an older file: defaults, said so
     "resolution not recorded (using 1024 px), sampling steps not recorded (using 20), CFG-free (cfg 1.0)"),
])
def test_loader_outputs_the_files_sampling_settings_and_shows_them_as_text(comfy, slider, values, text):
    r = run_ok(comfy, loader_values_graph(slider))
    assert [r.outputs[n]["text"][0] for n in ("steps", "cfg", "width", "height")] == values
    assert r.outputs["loader"]["text"] == [text], r.outputs.get("loader")   # the node's ui text


@pytest.mark.parametrize("arch", ARCHS)
def test_loader_settings_wired_into_ksampler_and_latent_sample_as_trained(comfy, arch):
    """The example workflows' wiring: Loader steps/cfg → KSampler, width/height → the latent."""
    slider = f"tiny_{arch}_trained.safetensors"
    wired = graph(arch, slider=slider, preference="0.3, 0.7", prefix=f"{arch}_wired")
    wired["sampler"]["inputs"].update(steps=["loader", 1], cfg=["loader", 2])
    wired["latent"]["inputs"].update(width=["loader", 3], height=["loader", 4])
    lat = comfy.latent(run_ok(comfy, wired))
    assert lat.shape[-2:] == (8, 8)                       # 64 px as trained (latent = px / 8)
    by_hand = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference="0.3, 0.7", size=64, cfg=1.0,
                                               steps=TRAINED[arch]["sample_steps"], prefix=f"{arch}_by_hand")))
    torch.testing.assert_close(lat, by_hand, rtol=0, atol=1e-6)


def test_a_file_with_unusable_training_values_is_refused_by_the_loader(comfy):
    r = comfy.run(loader_values_graph("bad_training_values.safetensors"))
    assert not r.ok and "sample_steps = -3" in r.error and "re-export the file" in r.error, r.error
    assert_one_line_user_error(r, "ParetoSliderLoader")


def test_front_preview_runs_in_a_graph_and_shows_an_image(comfy):
    g = {"loader": {"class_type": "ParetoSliderLoader", "inputs": {"slider_name": "tiny_sd3_slider.safetensors"}},
         "pref": {"class_type": "ParetoSliderPreference", "inputs": {"slider": ["loader", 0], "preference": "0.3, 0.7"}},
         "preview": {"class_type": "ParetoSliderFrontPreview",
                     "inputs": {"slider": ["loader", 0], "preference": ["pref", 0], "width": 320}}}
    r = run_ok(comfy, g)
    images = r.outputs["preview"]["images"]
    assert len(images) == 1 and images[0]["type"] == "temp"
    path = comfy.base_dir / "temp" / images[0]["subfolder"] / images[0]["filename"]
    with Image.open(path) as img:
        assert img.size == (320, 240)


@pytest.mark.parametrize("arch", ARCHS)
def test_preference_changes_output_and_same_preference_reproduces_it(comfy, arch):
    slider = f"tiny_{arch}_slider.safetensors"
    a = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference="1, 0", prefix=f"{arch}_a")))
    b = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference="0, 1", prefix=f"{arch}_b")))
    r = run_ok(comfy, graph(arch, slider=slider, preference="1, 0", prefix=f"{arch}_a2"))
    assert "sampler" not in r.cached_nodes  # it really sampled again
    a2 = comfy.latent(r)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert (a - b).abs().max() > 1e-3, "ω had no effect on the output"
    torch.testing.assert_close(a2, a, rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_zero_preference_modules_and_zero_lora_equal_base_model(comfy, arch):
    base = comfy.latent(run_ok(comfy, graph(arch, prefix=f"{arch}_base")))
    zero = comfy.latent(run_ok(comfy, graph(arch, slider=f"tiny_{arch}_zero.safetensors",
                                            preference="0.3, 0.7", prefix=f"{arch}_zero")))
    torch.testing.assert_close(zero, base, rtol=0, atol=1e-6)
    real = comfy.latent(run_ok(comfy, graph(arch, slider=f"tiny_{arch}_slider.safetensors",
                                            preference="0.3, 0.7", prefix=f"{arch}_real")))
    assert (real - base).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_block_modulation_file_runs_and_follows_preference(comfy, arch):
    slider = f"tiny_{arch}_blockmod.safetensors"
    a = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference="1, 0", prefix=f"{arch}_bm_a")))
    b = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference="0, 1", prefix=f"{arch}_bm_b")))
    assert torch.isfinite(a).all() and (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_sweep_gives_one_latent_per_preference(comfy, arch):
    r = run_ok(comfy, graph(arch, slider=f"tiny_{arch}_slider.safetensors", sweep={"steps": 4},
                            prefix=f"{arch}_sweep"))
    lat = comfy.latent(r)
    assert lat.shape[0] == 4
    assert torch.isfinite(lat).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_sweep_rows_differ_only_by_omega(comfy, arch):
    """ComfyUI gives every image of a batch its own noise; a sweep's rows share one (the Sweep and
    Apply do it, no extra node): row i equals a single image at ω_i with the same seed (equal ω,
    identical image), and a row's distance to the first grows with its ω distance. ω of the edge
    sweep of 5: (1, 0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0, 1)."""
    slider = f"tiny_{arch}_slider.safetensors"
    sweep = comfy.latent(run_ok(comfy, graph(arch, slider=slider, sweep={"steps": 5}, prefix=f"{arch}_iso")))
    assert sweep.shape[0] == 5
    for row, pref in ((0, "1, 0"), (2, "0.5, 0.5"), (4, "0, 1")):
        single = comfy.latent(run_ok(comfy, graph(arch, slider=slider, preference=pref, prefix=f"{arch}_iso{row}")))
        torch.testing.assert_close(sweep[row:row + 1], single, rtol=1e-4, atol=1e-5,
                                   msg=lambda m: f"sweep row {row} is not the single image at ω {pref}: {m}")
    far = [float((sweep[j] - sweep[0]).abs().mean()) for j in range(1, 5)]
    near = [float((sweep[j + 1] - sweep[j]).abs().mean()) for j in range(4)]
    print(f"\n{arch} sweep: mean |row j - row 0| {['%.2e' % d for d in far]}; neighbours {['%.2e' % d for d in near]}")
    assert all(a < b for a, b in zip(far, far[1:])), f"the distance to row 0 does not grow with ω distance: {far}"
    assert far[0] > 0 and max(near) < far[-1]
    # per row (ComfyUI's own noise): rows differ by their noise, far more than by ω
    own = comfy.latent(run_ok(comfy, graph(arch, slider=slider, sweep={"steps": 5, "noise": "per row"},
                                           prefix=f"{arch}_iso_per_row")))
    torch.testing.assert_close(own[0], sweep[0], rtol=1e-4, atol=1e-5)     # the first row's noise is the seed's
    assert float((own[1] - own[0]).abs().mean()) > 3 * near[0], "per row: the second row has its own noise"


def test_sweep_rows_share_the_step_noise_of_an_ancestral_sampler(comfy):
    """euler_ancestral adds fresh noise at every step: the rows share it too, so row i is still
    the single image at ω_i (what a batch of one draws at that seed)."""
    def ancestral(g):
        g["sampler"]["inputs"]["sampler_name"] = "euler_ancestral"
        return g
    slider = "tiny_sd3_slider.safetensors"
    sweep = comfy.latent(run_ok(comfy, ancestral(graph("sd3", slider=slider, sweep={"steps": 3}, prefix="anc"))))
    for row, pref in ((0, "1, 0"), (2, "0, 1")):
        single = comfy.latent(run_ok(comfy, ancestral(graph("sd3", slider=slider, preference=pref,
                                                            prefix=f"anc{row}"))))
        torch.testing.assert_close(sweep[row:row + 1], single, rtol=1e-4, atol=1e-5)


def test_lora_strength_zero_with_zero_modules_is_base_and_strength_matters(comfy):
    base = comfy.latent(run_ok(comfy, graph("sd3", prefix="ls_base")))
    s1 = comfy.latent(run_ok(comfy, graph("sd3", slider="tiny_sd3_slider.safetensors", lora_strength=1.0,
                                          prefix="ls_1")))
    s0 = comfy.latent(run_ok(comfy, graph("sd3", slider="tiny_sd3_slider.safetensors", lora_strength=0.0,
                                          prefix="ls_0")))
    assert (s1 - s0).abs().max() > 1e-4 and (s0 - base).abs().max() > 1e-4  # ω still acts at strength 0


# (slider file, preference, model, expected words in the error) — every bad input names its fix
BAD_RUNS = {
    "truncated": ("bad_truncated.safetensors", "0.5, 0.5", "sd3", ["truncated"]),
    "pickle": ("bad_pickle.safetensors", "0.5, 0.5", "sd3", ["pickle", "never unpickles"]),
    "not_safetensors": ("bad_garbage.safetensors", "0.5, 0.5", "sd3", ["not a safetensors file"]),
    "oversized_metadata": ("bad_oversized_metadata.safetensors", "0.5, 0.5", "sd3", ["metadata is", "limit"]),
    "plain_lora": ("bad_plain_lora.safetensors", "0.5, 0.5", "sd3", ["not a ParetoSlider file"]),
    "flux_file_on_sd3": ("tiny_flux_slider.safetensors", "0.5, 0.5", "sd3", ["trained for Flux", "SD3"]),
    "sd3_file_on_flux": ("tiny_sd3_slider.safetensors", "0.5, 0.5", "flux", ["trained for SD3", "Flux"]),
    "wrong_width": ("tiny_sd3_width64.safetensors", "0.5, 0.5", "sd3", ["width 64", "width 128"]),
    "length_mismatch": ("tiny_sd3_slider.safetensors", "0.2, 0.3, 0.5", "sd3", ["3 value(s)", "2 objectives"]),
    "three_objectives_two_values": ("tiny_sd3_three.safetensors", "0.5, 0.5", "sd3", ["3 objectives"]),
    "nan": ("tiny_sd3_slider.safetensors", "nan, 1", "sd3", ["NaN"]),
    "negative": ("tiny_sd3_slider.safetensors", "-1, 2", "sd3", ["negative"]),
    "all_zero": ("tiny_sd3_slider.safetensors", "0, 0", "sd3", ["all zero"]),
    "unreadable": ("tiny_sd3_slider.safetensors", "photo please", "sd3", ["cannot read a preference"]),
}


def assert_one_line_user_error(r, node_type: str) -> None:
    """The execution_error as the UI gets it: 'ParetoSliderError: <one line>', from `node_type`,
    its traceback ending at the node (nodes/errors.py), none of pareto_core's frames."""
    data = next(d for kind, d in r.messages if kind == "execution_error")
    assert data["node_type"] == node_type and data["exception_type"] == "ParetoSliderError", data
    assert data["exception_message"].endswith("\n") and "\n" not in data["exception_message"][:-1]
    assert data["traceback"][-1].startswith("  File ") and "errors.py" in data["traceback"][-1]
    assert "pareto_core" not in "".join(data["traceback"])


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_input_gives_a_clear_message(comfy, case):
    slider, pref, arch, words = BAD_RUNS[case]
    r = comfy.run(graph(arch, slider=slider, preference=pref, prefix=f"bad_{case}"))
    assert not r.ok, f"{case}: the graph ran instead of failing"
    for w in words:
        assert w in r.error, f"{case}: {w!r} not in the message {r.error!r}"
    assert "Traceback" not in r.error
    node = {"loader": "ParetoSliderLoader", "pref": "ParetoSliderPreference", "apply": "ApplyParetoSlider"}
    failed = next(d["node_id"] for kind, d in r.messages if kind == "execution_error")
    assert_one_line_user_error(r, node[failed])


def test_missing_file_is_refused_before_running_with_where_to_put_it(comfy):
    with pytest.raises(PromptRejected) as err:
        comfy.run(graph("sd3", slider="no_such_slider.safetensors"))
    text = str(err.value.body)
    assert "no_such_slider.safetensors" in text and "not found" in text and "paretoslider" in text


def test_sweep_with_a_latent_batch_that_does_not_fit_says_which_batch_size_to_use(comfy):
    g = graph("sd3", slider="tiny_sd3_slider.safetensors", sweep={"steps": 4}, prefix="bad_sweep_batch")
    g["latent"]["inputs"]["batch_size"] = 3  # not wired to the sweep's count
    r = comfy.run(g)
    assert not r.ok and "use a latent batch size of 4" in r.error, r.error
    assert_one_line_user_error(r, "KSampler")   # raised while sampling, by the ω wrapper

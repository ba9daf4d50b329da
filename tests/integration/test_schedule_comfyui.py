"""ω schedules on a trained ParetoSlider file in a real ComfyUI server (LoRA sliders:
test_lora_slider.py): a constant schedule is today's output exactly, a moving one differs from
both ends, σ keypoints and a sweep as the start work."""
from __future__ import annotations

import pytest
import torch

from testsupport.comfy.comfy_client import graph

SLIDER = "tiny_{arch}_slider.safetensors"


def scheduled(arch: str, prefix: str, start: str, sweep: int | None = None, **schedule) -> dict:
    g = graph(arch, slider=SLIDER.format(arch=arch), preference=start, prefix=prefix,
              sweep={"steps": sweep} if sweep else None, steps=4)
    g["schedule"] = {"class_type": "ParetoSliderSchedule",
                     "inputs": {"slider": ["loader", 0], "start": ["pref", 0], "end": start, "curve": "linear",
                                "keypoints": "", "axis": "percent", **schedule}}
    g["apply"]["inputs"]["preference"] = ["schedule", 0]
    return g


def run_latent(comfy, g) -> torch.Tensor:
    r = comfy.run(g)
    assert r.ok, f"graph failed: {r.error}\n{comfy.log.read_text()[-2000:]}"
    return comfy.latent(r)


@pytest.mark.parametrize("arch", ["sd3", "flux"])
def test_constant_schedule_equals_todays_output_exactly(comfy, arch):
    plain = run_latent(comfy, graph(arch, slider=SLIDER.format(arch=arch), preference="0.3, 0.7",
                                    prefix=f"s_plain_{arch}", steps=4))
    const = run_latent(comfy, scheduled(arch, f"s_const_{arch}", "0.3, 0.7"))
    assert torch.equal(const, plain)
    keys = run_latent(comfy, scheduled(arch, f"s_constk_{arch}", "0.5, 0.5", keypoints="0.4: 0.3, 0.7"))
    assert torch.equal(keys, plain)                   # one keypoint: constant everywhere


@pytest.mark.parametrize("arch", ["sd3", "flux"])
@pytest.mark.parametrize("curve", ["linear", "step"])
def test_two_point_schedule_differs_from_both_ends(comfy, arch, curve):
    ends = [run_latent(comfy, graph(arch, slider=SLIDER.format(arch=arch), preference=p,
                                    prefix=f"s_end{i}_{arch}", steps=4)) for i, p in enumerate(("1, 0", "0, 1"))]
    moving = run_latent(comfy, scheduled(arch, f"s_move_{arch}_{curve}", "1, 0", end="0, 1", curve=curve))
    for end in ends:
        assert (moving - end).abs().max() > 1e-3


def test_sigma_keypoints_and_percent_keypoints_agree_on_a_known_schedule(comfy):
    """KSampler 'simple' over 4 steps on SD3 (shift 3): σ falls from 1; a σ keypoint at σ = 1
    (first step) and at the last step's σ reproduces the percent keypoints 0 and 1."""
    pct = run_latent(comfy, scheduled("sd3", "s_pct", "1, 0", keypoints="0: 1, 0\n1: 0, 1"))
    lin = run_latent(comfy, scheduled("sd3", "s_lin", "1, 0", end="0, 1"))
    assert torch.equal(pct, lin)
    sig = run_latent(comfy, scheduled("sd3", "s_sig", "1, 0", keypoints="1.0: 1, 0\n0.0: 0, 1", axis="sigma"))
    assert (sig - lin).abs().max() > 1e-4     # σ-linear is not step-linear on a shifted schedule
    assert (sig - run_latent(comfy, graph("sd3", slider=SLIDER.format(arch="sd3"), preference="1, 0",
                                          prefix="s_sig_start", steps=4))).abs().max() > 1e-3


def test_a_sweep_as_the_start_moves_every_row_to_the_end(comfy):
    lat = run_latent(comfy, scheduled("sd3", "s_sweep", "0.5, 0.5", sweep=3, end="0.5, 0.5", curve="ease_in"))
    assert lat.shape[0] == 3 and (lat[0] - lat[2]).abs().max() > 1e-3


def test_a_schedule_from_a_sweep_keeps_the_sweeps_noise_choice(comfy):
    """Sweep → Schedule → Apply: rows share one noise unless the Sweep says 'per row', which the
    schedule carries through. The middle row of an edge sweep of 3 is ω (0.5, 0.5) from start to end:
    with one noise it is the single image at that ω; per row it has its own noise."""
    def sweep_schedule(prefix, noise):
        g = scheduled("sd3", prefix, "0.5, 0.5", sweep=3, end="0.5, 0.5")
        g["pref"]["inputs"]["noise"] = noise       # graph() names the Sweep node "pref"
        return g
    single = run_latent(comfy, graph("sd3", slider=SLIDER.format(arch="sd3"), preference="0.5, 0.5",
                                     prefix="s_noise_single", steps=4))
    same = run_latent(comfy, sweep_schedule("s_noise_same", "same for every row"))
    own = run_latent(comfy, sweep_schedule("s_noise_own", "per row"))
    torch.testing.assert_close(same[1:2], single, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(own[0], same[0], rtol=1e-4, atol=1e-5)    # the first row's noise is the seed's
    assert float((own[1] - same[1]).abs().mean()) > 10 * float((same[1:2] - single).abs().mean()) + 1e-3, (
        "per row: the middle row should start from its own noise, not the first row's")


def test_bad_keypoints_get_a_clear_message(comfy):
    r = comfy.run(scheduled("sd3", "s_bad", "1, 0", keypoints="0: 1, 0\nhalf: 0, 1"))
    assert not r.ok and r.error.startswith("ParetoSliderError: keypoint line 2: 'half' is not a number")
    r = comfy.run(scheduled("sd3", "s_bad2", "1, 0", keypoints="0: 1, 0, 0"))
    assert not r.ok and "3 value(s)" in r.error


def test_a_schedule_as_the_start_of_another_says_what_to_connect(comfy):
    g = scheduled("sd3", "s_chain", "1, 0", end="0, 1")
    g["schedule2"] = {"class_type": "ParetoSliderSchedule",
                      "inputs": {"slider": ["loader", 0], "start": ["schedule", 0], "end": "0.5, 0.5",
                                 "curve": "linear", "keypoints": "", "axis": "percent"}}
    g["apply"]["inputs"]["preference"] = ["schedule2", 0]
    r = comfy.run(g)
    assert not r.ok and r.error.startswith("ParetoSliderError: the schedule's start is itself a schedule")

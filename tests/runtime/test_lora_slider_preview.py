"""The Front Preview of a LoRA slider (nodes/front_plot.render_lora_slider): no front was trained,
so the image says so and still shows ω, one bar per objective."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def plot(nodes_module):
    return nodes_module("front_plot")


def red_per_bar(img, n: int) -> list[int]:
    a = np.asarray(img.convert("RGB")).astype(int)
    red = (a[..., 0] > 200) & (a[..., 1] < 90) & (a[..., 2] < 120)      # the marker colour
    rows = np.nonzero(red.any(1))[0]
    if rows.size == 0:
        return [0] * n
    # bars are stacked top to bottom; split the red rows into n runs
    runs = np.split(rows, np.nonzero(np.diff(rows) > 2)[0] + 1)
    return [int(red[r].sum()) for r in runs]


def test_bars_follow_omega(plot):
    img = plot.render_lora_slider(["photo", "sketch", "color"], "blend", np.array([0.2, 0.3, 0.5]), 512)
    assert img.size == (512, 384)
    reds = red_per_bar(img, 3)
    assert len(reds) == 3 and reds[0] < reds[1] < reds[2]
    assert reds[2] / reds[0] == pytest.approx(2.5, rel=0.2)


def test_without_a_preference_no_bar_is_filled_and_a_sweep_draws_ticks(plot):
    empty = plot.render_lora_slider(["a", "b"], "soups", None, 384)
    assert red_per_bar(empty, 2) == [0, 0]
    one = plot.render_lora_slider(["a", "b"], "soups", np.array([[0.5, 0.5]]), 384)
    sweep = plot.render_lora_slider(["a", "b"], "soups", np.array([[0.5, 0.5], [0.2, 0.8], [0.8, 0.2]]), 384)
    changed = np.abs(np.asarray(sweep.convert("L"), float) - np.asarray(one.convert("L"), float)) > 40
    assert changed.sum() > 40                    # the further rows are ticks on the bars

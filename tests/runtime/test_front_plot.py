"""nodes/front_plot.py, the Front Preview's chart, without ComfyUI: what it reads from a stored
front, where it draws, and the message image when there is nothing to draw."""
from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch

LABELS2, LABELS3 = ["Photo", "Sketch"], ["Photo", "Sketch", "Color"]


@pytest.fixture(scope="module")
def plot(nodes_module):
    return nodes_module("front_plot")


def eval_front():
    """A front as `python -m trainer eval` stores it (2 objectives, 11 ω, base and reference)."""
    t = np.linspace(0, 1, 11)
    return {"omega": [[round(1 - v, 6), round(v, 6)] for v in t],
            "scores": {"clip": [0.31 - 0.09 * v ** 1.8 for v in t], "aesthetic": [5.1 + 0.9 * v ** 0.6 for v in t]},
            "scorers": ["clip", "aesthetic"], "hypervolume": 0.0712, "reference": [0.22, 5.02],
            "base": {"clip": 0.262, "aesthetic": 5.02}}


def three_front():
    omega = [[a / 4, b / 4, (4 - a - b) / 4] for a in range(5) for b in range(5 - a)]
    return {"omega": omega,
            "scores": {"clip": [0.2 + 0.1 * w[0] + 0.02 * w[2] for w in omega],
                       "aesthetic": [5 + w[1] - 0.3 * w[0] for w in omega], "pick": [20 + w[2] for w in omega]},
            "scorers": ["clip", "aesthetic", "pick"], "hypervolume": 0.31}


def pixels(img) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def to_pixel(plot, front, extra, width, x, y):
    """Where the chart puts scores (x, y), in output pixels: the plot box spans the padded range."""
    pts = np.asarray([front["scores"][n] for n in front["scorers"][:2]]).T
    x0, x1 = plot.padded([*pts[:, 0], *(p[0] for p in extra)])
    y0, y1 = plot.padded([*pts[:, 1], *(p[1] for p in extra)])
    u, w, h = width / 512, width, round(width * 0.75)
    left, right, top, bottom = plot.BOX[0] * u, w - plot.BOX[1] * u, plot.BOX[2] * u, h - plot.BOX[3] * u
    to_px = lambda c: c - 0.5  # noqa: E731  (a drawing coordinate → the index of the pixel around it)
    return (to_px(left + (x - x0) / (x1 - x0) * (right - left)),
            to_px(bottom - (y - y0) / (y1 - y0) * (bottom - top)))


def test_the_module_imports_without_comfyui(plot):
    assert plot.render_front and plot.preview
    assert not [m for m in sys.modules if m.split(".")[0] in ("comfy", "comfy_api", "folder_paths")]


def test_read_front_gives_names_omega_and_the_first_two_scorers(plot):
    names, omega, pts = plot.read_front(three_front(), 3)
    assert names == ["clip", "aesthetic", "pick"]
    assert omega.shape == (15, 3) and pts.shape == (15, 2)
    np.testing.assert_allclose(pts[0], [0.2 + 0.02, 5.0])      # ω = (0, 0, 1)


@pytest.mark.parametrize("front, k, words", [
    ({"omega": [[1, 0], [0, 1]], "scores": {"a": [1, 2], "b": [1, 2]}}, 3, "not (N, 3)"),
    ({"omega": [[1, 0], [0, 1]], "scores": {"a": [1, 2]}}, 2, "1 scorer(s)"),
    ({"omega": [[1, 0], [0, 1]], "scores": {"a": [1, 2]}, "scorers": ["a", "b"]}, 2, "no scores stored for b"),
    ({"omega": [[1, 0], [0, 1]], "scores": {"a": [1, float("nan")], "b": [1, 2]}}, 2, "finite scores"),
])
def test_read_front_refuses_a_front_it_cannot_plot_and_says_why(plot, front, k, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plot.read_front(front, k)


def test_interpolation_is_linear_along_the_edge_and_between_the_two_nearest_on_a_simplex(plot):
    omega = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    pts = np.array([[0.3, 5.0], [0.25, 5.5], [0.1, 6.0]])
    np.testing.assert_allclose(plot.interpolate(omega, pts, np.array([0.3, 0.7])), [0.25 + 0.4 * -0.15, 5.7])
    np.testing.assert_allclose(plot.interpolate(omega[::-1], pts[::-1], np.array([0.8, 0.2])), [0.28, 5.2])
    np.testing.assert_allclose(plot.interpolate(omega[:1], pts[:1], np.array([0.0, 1.0])), pts[0])
    omega3 = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    pts3 = np.array([[0.0, 0.0], [1.0, 2.0], [5.0, 5.0]])
    np.testing.assert_allclose(plot.interpolate(omega3, pts3, np.array([0.75, 0.25, 0.0])), [0.25, 0.5])


def test_ticks_are_round_values_inside_the_range_with_the_decimals_they_need(plot):
    ticks, dec = plot.nice_ticks(0.2, 0.31)
    np.testing.assert_allclose(ticks, [0.2, 0.25, 0.3])
    assert dec == 2
    ticks, dec = plot.nice_ticks(4.93, 6.07)
    np.testing.assert_allclose(ticks, [5.0, 5.5, 6.0])
    assert dec == 1


def test_colours_follow_omega(plot):
    assert plot.viridis(0) == (68, 1, 84) and plot.viridis(1) == (253, 231, 37)
    assert plot.omega_colour([0, 1, 0]) == (40, 230, 40)        # 3 objectives: ω as RGB
    assert plot.omega_colour([0.5, 0.5]) == plot.viridis(0.5)   # otherwise viridis along ω₁


@pytest.mark.parametrize("omega", [[0.85, 0.15], [0.33, 0.67]])   # between the stored ω
def test_the_marker_lands_at_the_interpolated_scores(plot, omega):
    front, width = eval_front(), 512
    # ω twice: two marks at one place and no ω label beside it, so the red pixels are the marker
    img = plot.render_front(front, LABELS2, np.array([omega, omega]), width, "slider")
    assert img.size == (512, 384)
    px = pixels(img)
    red = (px[..., 0] > 0.7) & (px[..., 1] < 0.35) & (px[..., 2] < 0.45)
    red[int(384 - plot.BOX[3]):] = False                         # the legend's ω pointer
    ys, xs = np.nonzero(red)
    _, om, pts = plot.read_front(front, 2)
    score = plot.interpolate(om, pts, np.array(omega))
    extra = [(0.262, 5.02), (0.22, 5.02), score, score]          # base, reference, the marks
    ex, ey = to_pixel(plot, front, extra, width, *score)
    assert abs(xs.mean() - ex) < 1.0 and abs(ys.mean() - ey) < 1.0, ((xs.mean(), ys.mean()), (ex, ey))


def test_a_three_objective_front_renders_its_points_coloured_by_omega(plot):
    front, width = three_front(), 512
    img = plot.render_front(front, LABELS3, np.array([[0.2, 0.3, 0.5]]), width, "three")
    assert img.size == (512, 384)
    px = pixels(img)
    _, om, pts = plot.read_front(front, 3)
    score = plot.interpolate(om, pts, np.array([0.2, 0.3, 0.5]))
    extra = [score]
    for w in ([0.0, 1.0, 0.0], [0.25, 0.5, 0.25]):             # points no label or marker covers
        i = next(i for i, row in enumerate(front["omega"]) if row == w)
        x, y = to_pixel(plot, front, extra, width, *pts[i])
        np.testing.assert_allclose(px[round(y), round(x)] * 255, plot.omega_colour(w), atol=12)
    # the legend: one swatch per objective on the bottom row, no viridis bar
    legend = px[int(384 - 20 * width / 512)]
    for j in range(3):
        swatch = np.asarray(plot.omega_colour(np.eye(3)[j])) / 255
        assert (np.abs(legend - swatch).max(-1) < 0.05).sum() >= 6, LABELS3[j]
    assert not (np.abs(legend - np.asarray(plot.viridis(0.5)) / 255).max(-1) < 0.05).any()


def test_the_marker_follows_omega_and_the_same_input_gives_the_same_image(plot):
    a = pixels(plot.render_front(eval_front(), LABELS2, np.array([[0.9, 0.1]]), 384))
    b = pixels(plot.render_front(eval_front(), LABELS2, np.array([[0.2, 0.8]]), 384))
    a2 = pixels(plot.render_front(eval_front(), LABELS2, np.array([[0.9, 0.1]]), 384))
    assert a.shape == (288, 384, 3)
    assert (np.abs(a - b).max(-1) > 0.1).sum() > 200
    np.testing.assert_array_equal(a, a2)


def test_without_a_front_the_preview_is_a_message_with_the_command_that_adds_one(plot):
    img, msg = plot.preview(None, LABELS2, torch.tensor([0.5, 0.5]), 384, "my_slider.safetensors")
    assert msg == ("no measured front in this file: run python -m trainer eval my_slider.safetensors "
                   "--config <your.yaml> --prompts <held-out.txt> to add one")
    px = pixels(img)
    assert img.size == (384, 288) and px.mean() > 0.9
    chart, none = plot.preview(eval_front(), LABELS2, None, 384, "my_slider.safetensors")
    assert none is None and (np.abs(pixels(chart) - px).max(-1) > 0.1).sum() > 1000


def test_an_unreadable_front_gives_a_message_image_and_a_warning_not_an_error(plot, caplog):
    bad = {"omega": [[1, 0, 0]], "scores": {"a": [1], "b": [2]}}
    with caplog.at_level(logging.WARNING, logger="ParetoSlider"):
        img, msg = plot.preview(bad, LABELS2, None, 320, "odd.safetensors")
    assert msg.startswith("the measured front stored in odd.safetensors cannot be drawn: its ω grid")
    assert img.size == (320, 240) and pixels(img).mean() > 0.9
    assert [r.name for r in caplog.records] == ["ParetoSlider"] and "cannot be drawn" in caplog.text


def test_preview_accepts_a_preference_vector_or_rows_and_the_stored_minimal_front(plot):
    tiny = {"omega": [[1, 0], [0.5, 0.5], [0, 1]], "scores": {n: [0.1, 0.5, 0.9] for n in ("photo", "sketch")}}
    one, msg = plot.preview(tiny, LABELS2, torch.tensor([0.5, 0.5]), 512, "tiny.safetensors")
    rows, _ = plot.preview(tiny, LABELS2, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 512, "tiny.safetensors")
    assert msg is None and one.size == rows.size == (512, 384)
    assert (np.abs(pixels(one) - pixels(rows)).max(-1) > 0.1).sum() > 200


def test_image_tensor_is_a_comfyui_image(plot):
    img = plot.render_message("Headline", "body text", "a command", 256)
    t = plot.image_tensor(img)
    assert t.shape == (1, 192, 256, 3) and t.dtype == torch.float32
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    np.testing.assert_allclose(t[0].numpy(), pixels(img), atol=1e-6)


@pytest.mark.parametrize("front, labels", [(eval_front(), LABELS2), (three_front(), LABELS3)])
def test_the_subtitle_is_one_line_between_the_title_and_the_plot(plot, front, labels):
    """The Front Preview puts the file's recommended sampling settings there."""
    width = 512
    plain = pixels(plot.render_front(front, labels, None, width, "slider"))
    text = "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0), guidance 2.5"
    sub = pixels(plot.render_front(front, labels, None, width, "slider", text))
    rows = np.nonzero((np.abs(sub - plain).max(-1) > 0.1).any(1))[0]
    assert len(rows) > 5, "the subtitle was not drawn"
    assert rows.min() >= 30 and rows.max() < plot.BOX[2], rows   # below the title, above the plot box
    long = pixels(plot.render_front(front, labels, None, 256, "slider", text * 4))   # shortened to fit
    assert long.shape == (192, 256, 3)


def test_an_imported_file_says_no_front_is_stored_until_trainer_eval_runs(plot):
    img, msg = plot.preview(None, LABELS2, None, 384, "imported.safetensors",
                            imported_from="the reference code (checkpoint-1000)")
    assert msg.startswith("imported from the reference code (checkpoint-1000): no front is stored until "
                          "`python -m trainer eval` runs on it: run python -m trainer eval imported.safetensors")
    plain, _ = plot.preview(None, LABELS2, None, 384, "imported.safetensors")
    assert (np.abs(pixels(img) - pixels(plain)).max(-1) > 0.1).sum() > 200   # another message is drawn

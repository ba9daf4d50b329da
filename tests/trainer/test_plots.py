"""trainer.evaluation.plots: image strips (size, tiles, labels), tensor → PIL, the front plots."""
import numpy as np
import pytest
import torch
from PIL import Image

from trainer.backbones.base import Sample
from trainer.evaluation.plots import image_strip, plot_front, pyplot, save_figure, to_pil
from trainer.evaluation.summary import summarize
from trainer.evaluation.sweep import SweepResult, omega_grid

PAD, LABEL_H, TITLE_H = 4, 14, 18        # image_strip's layout


def solid(rgb, n=1, size=16):
    return torch.tensor(rgb, dtype=torch.float32)[None, :, None, None].expand(n, 3, size, size).clone()


def test_to_pil_rounds_unit_floats_to_bytes_and_clamps():
    img = torch.stack([torch.full((2, 3), 1.0), torch.full((2, 3), 0.5), torch.full((2, 3), -1.0)])
    arr = np.asarray(to_pil(img))
    assert arr.shape == (2, 3, 3) and arr.dtype == np.uint8
    assert arr[0, 0].tolist() == [255, 128, 0]


def test_strip_size_follows_tiles_columns_rows_and_title():
    # 16 px images upscale ×8 to 128 px tiles; base + 11 = 12 tiles in one row
    strip = image_strip(torch.rand(11, 3, 16, 16), [str(i) for i in range(11)], title="a cat", base=torch.rand(3, 16, 16))
    assert strip.size == (12 * (128 + PAD) + PAD, TITLE_H + (128 + LABEL_H + PAD) + PAD)
    # 5 tiles, 2 columns: 3 rows; no title: no title band
    strip = image_strip(torch.rand(5, 3, 16, 16), list("abcde"), tile=32, max_columns=2)
    assert strip.size == (2 * (32 + PAD) + PAD, 3 * (32 + LABEL_H + PAD) + PAD)
    # images as large as the tile stay at their size
    assert image_strip(torch.rand(2, 3, 64, 48), ["x", "y"], tile=64).size == (2 * (48 + PAD) + PAD,
                                                                            64 + LABEL_H + PAD + PAD)


def test_strip_puts_each_image_in_its_tile_and_its_label_below_it():
    red, blue = solid([1, 0, 0]), solid([0, 0, 1])
    strip = np.asarray(image_strip(torch.cat([red, blue]), ["ω 1/0", "0/1"], tile=32, base=solid([0, 1, 0])[0]))
    tile_y = slice(PAD, PAD + 32)
    for c, colour in enumerate([[0, 255, 0], [255, 0, 0], [0, 0, 255]]):     # base first, then the images
        x0 = PAD + c * (32 + PAD)
        block = strip[tile_y, x0:x0 + 32]
        assert (block == colour).all(), c
        label = strip[PAD + 32:PAD + 32 + LABEL_H, x0:x0 + 32]
        assert (label < 128).any(), f"no label text below tile {c}"       # dark text on white
    no_title = np.asarray(image_strip(red, ["x"], tile=32))
    titled = np.asarray(image_strip(red, ["x"], tile=32, title="a red cat"))
    assert (titled[:TITLE_H] < 128).any() and titled.shape[0] == no_title.shape[0] + TITLE_H


def summary_for(scorers, k=2, base=False):
    omega = omega_grid(k, points=5) if k == 2 else omega_grid(3, divisions=2)
    g = torch.Generator().manual_seed(0)
    res = SweepResult(omega=omega, samples=[Sample("p"), Sample("q")],
                      scores={s: torch.rand(omega.shape[0], 2, generator=g) for s in scorers},
                      base_scores={s: torch.rand(2, generator=g) for s in scorers} if base else None)
    return summarize(res)


@pytest.mark.parametrize(("scorers", "k"), [(["a"], 2), (["a", "b"], 2), (["a", "b", "c"], 2), (["a", "b"], 3)])
def test_plot_front_writes_a_png_for_one_to_three_scorers_and_three_objectives(tmp_path, scorers, k):
    path = plot_front(summary_for(scorers, k, base=True), tmp_path / "sub" / "front.png", title="t")
    assert path == tmp_path / "sub" / "front.png"
    with Image.open(path) as im:
        width = im.size[0]
    panels = max(1, len(scorers) * (len(scorers) - 1) // 2)
    assert width > 400 * panels                               # one panel per pair of scorers


def test_save_figure_makes_the_folder_and_closes_the_figure(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "a" / "b.png")
    assert out.stat().st_size > 1000 and not plt.fignum_exists(fig.number)


def test_front_plot_caption_says_what_its_hypervolume_is_relative_to():
    from trainer.evaluation.plots import hypervolume_caption
    summary = {"scorers": ["brightness", "saturation"], "hypervolume": 0.0121234, "reference": [0.39442, 0.27419],
               "reference_source": "per-scorer minimum over the measured points and the base model; pass --reference "
                                   "to compare runs on a fixed point"}
    assert hypervolume_caption(summary) == (
        "hypervolume 0.01212 = the area the front dominates above the reference point + (brightness 0.394, "
        "saturation 0.274: the per-scorer minimum over the measured points and the base model)")
    three = {**summary, "scorers": ["a", "b", "c"], "reference": [0, 0, 0], "reference_source": "given"}
    assert hypervolume_caption(three) == ("hypervolume 0.01212 = the volume the front dominates above the reference "
                                          "point + (a 0, b 0, c 0: given with --reference)")


def test_image_grid_has_a_column_per_image_and_room_for_the_longest_row_label():
    from pareto_core.fonts import font
    from trainer.evaluation.plots import image_grid
    rows = [torch.cat([solid([1, 0, 0]), solid([0, 0, 1], 2)]), torch.cat([solid([0, 1, 0]), solid([1, 1, 0], 2)])]
    labels = ["red circle", "a much longer row label than the others"]
    grid = image_grid(rows, ["base", "1/0", "0/1"], labels, title="ω = a/b", tile=32)
    left = int(font(11).getlength(labels[1])) + 10
    assert grid.size == (left + 3 * (32 + 3) + 3, 18 + 18 + 2 * (32 + 3) + 3)
    arr = np.asarray(grid)
    assert arr[18 + 18 + 16, left + 16].tolist() == [255, 0, 0]                 # row 1, the base column
    assert arr[18 + 18 + 35 + 16, left + 2 * 35 + 16].tolist() == [255, 255, 0]  # row 2, the last ω

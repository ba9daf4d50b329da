"""The pictures of an evaluation: the measured front (matplotlib) and image strips across ω (PIL).

    plot_front(summary, "eval/front.png")                       # from trainer.evaluation.summary.summarize
    plot_fronts({"ParetoSlider": front, "fixed": point}, "cmp.png", "a", "b")
    image_strip(images, ["1/0", "0.5/0.5", "0/1"], title="a red cat").save("strip.png")
    image_grid([row_a, row_b], ["base", "1/0", "0/1"], ["red circle", "blue square"]).save("grid.png")

matplotlib and PIL are imported on first use; figures are written with the Agg backend.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pareto_core.fonts import font

from .sweep import omega_label

__all__ = ["hypervolume_caption", "image_grid", "image_strip", "plot_front", "plot_fronts", "pyplot", "save_figure",
           "to_pil"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` to `path` (making its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def _omega_colours(omega: np.ndarray, end: int = 1):
    import matplotlib
    if omega.shape[1] == 3:      # ω itself as RGB: the simplex's corners are red, green, blue
        return np.clip(omega, 0, 1), None
    cmap = matplotlib.colormaps["viridis"]
    t = omega[:, min(end, omega.shape[1] - 1)]
    return cmap(t), cmap


def plot_front(summary: dict[str, Any], path: str | Path, title: str = "", end: int = 1) -> Path:
    """The measured front: one panel per pair of scorers (the first three pairs), or score vs ω
    for a single scorer (with ±std over prompts). Points coloured by ω and annotated;
    ★ non-dominated (one pair only); × base model; + the hypervolume reference."""
    import matplotlib
    plt = pyplot()

    names = summary["scorers"]
    omega = np.asarray(summary["omega"], dtype=np.float64)
    mean = {n: np.asarray(summary["scores"][n]) for n in names}
    std = {n: np.asarray(summary["std"][n]) for n in names}
    colours, cmap = _omega_colours(omega, end)
    labels = [omega_label(w) for w in omega]
    front = set(summary.get("non_dominated", []))
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]][:3]
    panels = max(1, len(pairs))
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.6), squeeze=False)
    if not pairs:                       # one scorer: score against ω_end
        ax, n = axes[0, 0], names[0]
        x = omega[:, min(end, omega.shape[1] - 1)]
        ax.errorbar(x, mean[n], yerr=std[n], fmt="-", color="0.6", zorder=1)
        ax.scatter(x, mean[n], c=colours, s=50, zorder=2, edgecolors="k", linewidths=0.5)
        ax.set_xlabel(f"weight on {summary['objectives'][min(end, omega.shape[1] - 1)]} "
                      f"(ω = {'/'.join(summary['objectives'])})")
        ax.set_ylabel(n)
    for ax, (a, b) in zip(axes[0], pairs):
        x, y = mean[a], mean[b]
        if omega.shape[1] == 2:
            ax.plot(x, y, "-", color="0.75", zorder=1)           # the sweep order along the edge
        # no error bars: the spread over prompts (std, in eval.json) is not the uncertainty of the
        # ω effect and would hide the front's shape behind the prompt-to-prompt variation
        ax.scatter(x, y, c=colours, s=55, zorder=2, edgecolors="k", linewidths=0.5)
        fi = sorted(front, key=lambda i: x[i])
        if len(pairs) == 1 and fi:
            ax.scatter(x[fi], y[fi], marker="*", s=160, facecolors="none", edgecolors="crimson",
                       zorder=3, label="non-dominated")
        step = 1 if len(labels) <= 6 else 2          # every other label on dense sweeps
        for i, lab in enumerate(labels):
            if i % step and i != len(labels) - 1:
                continue
            ax.annotate(lab, (x[i], y[i]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if summary.get("base"):
            ax.scatter([summary["base"][a]["mean"]], [summary["base"][b]["mean"]], marker="x", s=80,
                       color="k", zorder=4, label="base model")
        if len(pairs) == 1:
            ref = summary["reference"]
            ax.scatter([ref[0]], [ref[1]], marker="+", s=80, color="0.4", label="HV reference")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.locator_params(nbins=5)
        ax.grid(alpha=0.3)
    if cmap is not None:
        sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, 1))
        objectives = summary["objectives"]
        fig.colorbar(sm, ax=axes[0, -1], label=f"weight on {objectives[min(end, omega.shape[1] - 1)]} "
                                               f"(ω = {'/'.join(objectives)})")
    # wrapped to the figure's width
    caption = textwrap.fill(hypervolume_caption(summary), width=68 * panels, break_on_hyphens=False)
    fig.suptitle("\n".join(x for x in (title, caption) if x), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def hypervolume_caption(summary: dict[str, Any]) -> str:
    """What the plot's hypervolume number is: the area (volume) the front dominates above the
    reference point, with that point and where it came from, so two plots are read correctly."""
    hv, ref = summary.get("hypervolume"), summary.get("reference")
    if hv is None:
        return ""
    names = summary["scorers"]
    if len(names) < 2 or ref is None:
        return f"hypervolume {hv:.4g}"
    what = "area" if len(names) == 2 else "volume"
    point = ", ".join(f"{n} {v:.3g}" for n, v in zip(names, ref))
    source = str(summary.get("reference_source", "")).split(";")[0]
    source = "given with --reference" if source == "given" else f"the {source}" if source else ""
    return (f"hypervolume {hv:.4g} = the {what} the front dominates above the reference point + ({point}"
            + (f": {source})" if source else ")"))


def plot_fronts(fronts: dict[str, dict[str, Any]], path: str | Path, x: str, y: str, title: str = "",
                reference: Sequence[float] | None = None) -> Path:
    """Overlay several fronts on the (x, y) scorer plane, e.g. the ω-conditioned model against
    fixed-weight runs. Each value is a summary / `front` dict ({"scores": {name: [...]},
    optional "omega", "hypervolume"}); a one-point entry is drawn as a labelled marker."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 5))
    markers = "os^Dv<>pPX*h"
    for i, (label, f) in enumerate(fronts.items()):
        xs, ys = np.asarray(f["scores"][x], dtype=float), np.asarray(f["scores"][y], dtype=float)
        hv = f.get("hypervolume")
        name = label + (f" (HV {hv:.3g})" if isinstance(hv, (int, float)) else "")
        if len(xs) == 1:
            ax.scatter(xs, ys, marker=markers[i % len(markers)], s=70, label=name, zorder=3)
            continue
        line, = ax.plot(xs, ys, "-", marker=markers[i % len(markers)], ms=5, label=name, zorder=2)
        omega = f.get("omega")
        if omega is not None:
            for j in (0, len(xs) - 1):
                ax.annotate(omega_label(omega[j]), (xs[j], ys[j]), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=line.get_color())
    if reference is not None:
        ax.scatter([reference[0]], [reference[1]], marker="+", s=80, color="0.4", label="HV reference")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def to_pil(img: torch.Tensor):
    """A (3, H, W) image in [0, 1] as a PIL RGB image."""
    from PIL import Image
    arr = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr)


def image_strip(images: torch.Tensor, labels: Sequence[str], title: str = "", tile: int = 128,
                base: torch.Tensor | None = None, max_columns: int = 12):
    """A PIL grid: images (N, 3, H, W) left to right, each with its label below, wrapping after
    `max_columns` (12 = base + an 11-point sweep); an optional base-model image first; `title`
    on top. Small images are upscaled (nearest) to about `tile` pixels."""
    from PIL import Image, ImageDraw
    tiles = list(images)
    labs = list(labels)
    if base is not None:
        tiles, labs = [base] + tiles, ["base"] + labs
    h, w = tiles[0].shape[-2:]
    s = max(1, round(tile / max(h, w))) if max(h, w) < tile else 1
    th, tw = h * s, w * s
    cols = min(len(tiles), max_columns)
    nrows = math.ceil(len(tiles) / cols)
    pad, label_h, title_h = 4, 14, 18 if title else 0
    canvas = Image.new("RGB", (cols * (tw + pad) + pad, title_h + nrows * (th + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    label_font = font(11)
    if title:
        draw.text((pad, 3), title[:160], fill="black", font=label_font)
    resample = Image.NEAREST if s > 1 else Image.BICUBIC
    for i, (t, lab) in enumerate(zip(tiles, labs)):
        r, c = divmod(i, cols)
        x0 = pad + c * (tw + pad)
        y0 = title_h + pad + r * (th + label_h + pad)
        canvas.paste(to_pil(t).resize((tw, th), resample), (x0, y0))
        draw.text((x0 + 2, y0 + th + 1), lab, fill="black", font=label_font)
    return canvas


def image_grid(rows: Sequence[torch.Tensor], column_labels: Sequence[str], row_labels: Sequence[str],
               title: str = "", tile: int = 48):
    """A PIL grid with labelled rows and columns: rows[i] is (N, 3, H, W), one image per column.
    The left margin is as wide as the longest row label (none is cut off); small images are
    upscaled (nearest) to `tile` pixels."""
    from PIL import Image, ImageDraw
    label_font = font(11)
    pad, top = 3, 18
    title_h = 18 if title else 0
    left = int(max((label_font.getlength(lab) for lab in row_labels), default=0)) + 10
    cols = max(len(r) for r in rows)
    canvas = Image.new("RGB", (left + cols * (tile + pad) + pad, title_h + top + len(rows) * (tile + pad) + pad),
                       "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 3), title, fill="black", font=label_font)
    for c, lab in enumerate(column_labels):
        x = left + c * (tile + pad) + (tile - label_font.getlength(lab)) / 2
        draw.text((x, title_h + 3), lab, fill="black", font=label_font)
    for r, (images, lab) in enumerate(zip(rows, row_labels)):
        y = title_h + top + r * (tile + pad)
        draw.text((4, y + tile // 2 - 7), lab, fill="black", font=label_font)
        for c, img in enumerate(images):
            canvas.paste(to_pil(img).resize((tile, tile), Image.NEAREST), (left + c * (tile + pad), y))
    return canvas

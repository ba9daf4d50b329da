"""The Front Preview's chart: the measured front stored in a ParetoSlider file, drawn with PIL.

`python -m trainer eval` stores metadata.front = {"omega": [[..]], "scores": {scorer: [..]},
"scorers", "hypervolume", "reference", "base": {scorer: mean}, ...}. `preview` plots the first two
scorers against each other, or says in the image why it cannot. PIL only (ComfyUI's venv may have
no matplotlib); it draws at 2x and downscales, which anti-aliases lines, circles and text.
No ComfyUI import: the node is nodes/front_preview.py, the tests run without ComfyUI.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..pareto_core.fonts import font

log = logging.getLogger("ParetoSlider")

SS = 2                                                     # supersampling factor
BOX = (66, 18, 46, 86)      # the plot box's margins (left, right, top, bottom), layout units
INK, MUTED, GRID, FRAME = (38, 42, 50), (112, 118, 128), (234, 236, 240), (196, 200, 208)
LINE, AREA, MARK = (176, 182, 192), (227, 236, 250), (222, 40, 72)
VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


# ------------------------------------------------------------------------------------ helpers

def viridis(t: float) -> tuple[int, ...]:
    t = min(max(float(t), 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    return tuple(round(a + (b - a) * (t - i)) for a, b in zip(VIRIDIS[i], VIRIDIS[i + 1]))


def omega_colour(w) -> tuple[int, ...]:
    """Like the trainer's front.png: 3 objectives → ω as RGB, otherwise viridis along ω₁."""
    return tuple(round(40 + 190 * float(v)) for v in w) if len(w) == 3 else viridis(w[1])


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], int]:
    """Round tick values in [lo, hi] and the decimals to print them with."""
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    return ticks, max(0, -math.floor(math.log10(step) + 1e-9))


def padded(values, pad: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    return lo - pad * span, hi + pad * span


def read_front(front: dict, num_objectives: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(scorer names, ω (N, K), mean scores (N, M)) of a stored front; ValueError if unusable."""
    scores = front.get("scores") or {}
    names = list(front.get("scorers") or scores)
    omega = np.asarray(front.get("omega") or [], dtype=np.float64)
    if omega.ndim != 2 or len(omega) == 0 or omega.shape[1] != num_objectives:
        raise ValueError(f"its ω grid has shape {omega.shape}, not (N, {num_objectives})")
    if len(names) < 2:
        raise ValueError(f"it has {len(names)} scorer(s); the preview plots two against each other")
    missing = [n for n in names[:2] if n not in scores]
    if missing:
        raise ValueError(f"no scores stored for {', '.join(missing)}")
    pts = np.asarray([scores[n] for n in names[:2]], dtype=np.float64).T
    if pts.shape[0] != len(omega) or not np.isfinite(pts).all():
        raise ValueError(f"{pts.shape[0]} finite scores are needed per scorer, one per ω ({len(omega)})")
    return names, omega, pts


def interpolate(omega: np.ndarray, pts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Scores at ω = w, linear between the two nearest stored ω (2 objectives: along the edge)."""
    if len(omega) == 1:
        return pts[0]
    if omega.shape[1] == 2:
        order = np.argsort(omega[:, 1], kind="stable")
        return np.array([np.interp(w[1], omega[order, 1], pts[order, j]) for j in range(pts.shape[1])])
    i, j = np.argsort(np.linalg.norm(omega - w, axis=1), kind="stable")[:2]
    d = omega[j] - omega[i]
    s = float(np.clip((w - omega[i]) @ d / max(float(d @ d), 1e-12), 0.0, 1.0))
    return pts[i] + s * (pts[j] - pts[i])


def _vertical_text(img: Image.Image, text: str, face, fill, cx: float, cy: float) -> None:
    _, _, right, bottom = face.getbbox(text)
    tile = Image.new("L", (right + 4, bottom + 4), 0)
    ImageDraw.Draw(tile).text((2, 2), text, 255, face)
    tile = tile.rotate(90, expand=True)
    img.paste(Image.new("RGB", tile.size, fill), (round(cx - tile.width / 2), round(cy - tile.height / 2)), tile)


def _wrap(text: str, face, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and face.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _canvas(width: int, background="white"):
    img = Image.new("RGB", (width * SS, round(width * 0.75) * SS), background)
    return img, ImageDraw.Draw(img), width * SS / 512          # u: one layout unit at 512 px


def _finish(img: Image.Image, width: int) -> Image.Image:
    return img.resize((width, img.height // SS), Image.LANCZOS)


# ------------------------------------------------------------------------------------ drawing

def render_message(headline: str, body: str, command: str = "", width: int = 512) -> Image.Image:
    """A framed message (and a command to run, in monospace) instead of a plot."""
    img, d, u = _canvas(width, (248, 249, 251))
    W, H = img.size
    d.rounded_rectangle([16 * u, 16 * u, W - 16 * u, H - 16 * u], radius=12 * u, outline=FRAME,
                        width=round(1.5 * u))
    f_head, f_body = font(round(17 * u), True), font(round(12.5 * u))
    f_code = font(round(11 * u), mono=True)
    lines = [(line, f_body, MUTED) for line in _wrap(body, f_body, W - 96 * u)]
    lines += [(line, f_code, INK) for line in _wrap(command, f_code, W - 110 * u)] if command else []
    step = 19 * u
    y = H / 2 - (34 * u + step * len(lines)) / 2
    d.text((W / 2, y), headline, INK, f_head, anchor="mt")
    for i, (line, face, fill) in enumerate(lines):
        d.text((W / 2, y + 34 * u + step * i + (8 * u if face is f_code else 0)), line, fill, face, anchor="mt")
    return _finish(img, width)


def render_front(front: dict, labels: list[str], omegas: np.ndarray | None = None, width: int = 512,
                 name: str = "", subtitle: str = "") -> Image.Image:
    """The front (scorer 1 → x, scorer 2 → y), coloured by ω, with the base model and each row of
    `omegas` (M, K) marked at its interpolated scores; `subtitle` (e.g. the file's recommended
    sampling settings) under the title. ValueError if the front cannot be read."""
    names, omega, pts = read_front(front, len(labels))
    k = omega.shape[1]
    number = lambda v: isinstance(v, (int, float)) and math.isfinite(v)
    base = front.get("base") or {}
    base_pt = (base[names[0]], base[names[1]]) if all(number(base.get(n)) for n in names[:2]) else None
    ref = front.get("reference")
    ref_pt = (ref[0], ref[1]) if isinstance(ref, list) and len(ref) == len(names) and all(map(number, ref)) else None
    marks = [interpolate(omega, pts, w) for w in (omegas if omegas is not None else [])]
    extra = [p for p in (base_pt, ref_pt) if p] + marks
    x0, x1 = padded([*pts[:, 0], *(p[0] for p in extra)])
    y0, y1 = padded([*pts[:, 1], *(p[1] for p in extra)])

    img, d, u = _canvas(width)
    W, H = img.size
    L, R, T, B = BOX[0] * u, W - BOX[1] * u, BOX[2] * u, H - BOX[3] * u   # the plot box
    px = lambda v: L + (v - x0) / (x1 - x0) * (R - L)
    py = lambda v: B - (v - y0) / (y1 - y0) * (B - T)
    f_title, f_label, f_bold, f_tick = (font(round(15 * u), True), font(round(12 * u)),
                                        font(round(12 * u), True), font(round(10.5 * u)))
    halo = {"stroke_width": round(2.5 * u), "stroke_fill": "white"}

    # title, grid, ticks, axis labels (higher is better on both axes)
    hv = front.get("hypervolume")
    hv_text = f"hypervolume {hv:.4g}" if isinstance(hv, (int, float)) else ""
    while name and d.textlength(f"{name} · {hv_text}", font=f_title) > W - 40 * u:
        name = name[:-2] + "…"      # a long file name gives way to the hypervolume
    title = " · ".join(t for t in (name, hv_text) if t) or "measured front"
    d.text((W / 2, 16 * u), title, INK, f_title, anchor="mt")
    note = f"scorers 1–2 of {len(names)}" if len(names) > 2 else ""
    if subtitle:    # one muted line under the title, the scorers note after it
        line = " · ".join(t for t in (subtitle, note) if t)
        while d.textlength(line, font=f_tick) > W - 40 * u and len(subtitle) > 1:
            subtitle = subtitle[:-2] + "…"
            line = " · ".join(t for t in (subtitle, note) if t)
        d.text((W / 2, 34 * u), line, MUTED, f_tick, anchor="mt")
    elif note:
        d.text((R, T - 6 * u), note, MUTED, f_tick, anchor="rb")
    xt, xdec = nice_ticks(x0, x1)
    yt, ydec = nice_ticks(y0, y1)
    for v in xt:
        d.line([(px(v), T), (px(v), B)], GRID, round(u))
        d.text((px(v), B + 6 * u), f"{v:.{xdec}f}", MUTED, f_tick, anchor="mt")
    for v in yt:
        d.line([(L, py(v)), (R, py(v))], GRID, round(u))
        d.text((L - 6 * u, py(v)), f"{v:.{ydec}f}", MUTED, f_tick, anchor="rm")
    d.text(((L + R) / 2, B + 24 * u), f"{names[0]}  →", INK, f_label, anchor="mt")
    _vertical_text(img, f"{names[1]}  →", f_label, INK, 14 * u, (T + B) / 2)

    # the region the front dominates over the hypervolume reference point
    if ref_pt:
        for X, Y in pts:
            if X > ref_pt[0] and Y > ref_pt[1]:
                d.rectangle([px(ref_pt[0]), py(Y), px(X), py(ref_pt[1])], fill=AREA)
        a = 4 * u
        d.line([(px(ref_pt[0]) - a, py(ref_pt[1])), (px(ref_pt[0]) + a, py(ref_pt[1]))], MUTED, round(u))
        d.line([(px(ref_pt[0]), py(ref_pt[1]) - a), (px(ref_pt[0]), py(ref_pt[1]) + a)], MUTED, round(u))
    d.rectangle([L, T, R, B], outline=FRAME, width=round(u))

    # the front: line along the edge (2 objectives), points coloured by ω
    if k == 2:
        order = np.argsort(omega[:, 1], kind="stable")
        d.line([(px(pts[i, 0]), py(pts[i, 1])) for i in order], LINE, round(2 * u), joint="curve")
    r = 5.5 * u
    for (X, Y), w in zip(pts, omega):
        d.ellipse([px(X) - r, py(Y) - r, px(X) + r, py(Y) + r], fill=omega_colour(w), outline="white",
                  width=round(1.5 * u))

    def place(X, Y, text, face, dx, dy, gap):   # text beside (X, Y) in direction (dx, dy) ∈ {-1, 0, 1}²
        xy, anchor = (X + dx * gap, Y + dy * gap), "rml"[dx + 1] + "bmt"[dy + 1]
        x0_, y0_, x1_, y1_ = d.textbbox(xy, text, font=face, anchor=anchor)
        shift = (max(0, L + 3 * u - x0_) - max(0, x1_ - R + 3 * u),   # pushed back inside the plot
                 max(0, T + 3 * u - y0_) - max(0, y1_ - B + 3 * u))
        return xy, anchor, shift

    def label(X, Y, text, fill, face, away=None, gap=10 * u):
        """Beside a point: away from `away` (a neighbour) if that fits in the plot, else towards the centre."""
        toward = (1 if X < (L + R) / 2 else -1, 1 if Y < T + 24 * u else -1)
        tries = [toward]
        if away is not None:
            vx, vy = X - away[0], Y - away[1]
            sx, sy = int(np.sign(vx)), int(np.sign(vy))
            tries = [(sx, 0), (0, toward[1])] if abs(vx) >= abs(vy) else [(0, sy), (toward[0], 0)]
            tries = [t for t in tries if t != (0, 0)] + [toward]
        placed = [place(X, Y, text, face, dx, dy, gap) for dx, dy in tries]
        xy, anchor, shift = next((p for p in placed if p[2] == (0, 0)), placed[-1])
        d.text((xy[0] + shift[0], xy[1] + shift[1]), text, fill, face, anchor=anchor, **halo)

    for j in range(k):    # the objective each end of the front belongs to
        i = int(np.argmax(omega[:, j]))
        if omega[i, j] > 0.99:
            nb = None
            if k == 2:    # the next point along the edge: the label goes on the far side from it
                pos = int(np.flatnonzero(order == i)[0])
                nb = order[pos + 1] if pos + 1 < len(order) else order[pos - 1] if pos > 0 else None
            label(px(pts[i, 0]), py(pts[i, 1]), labels[j], INK, f_bold,
                  None if nb is None else (px(pts[nb, 0]), py(pts[nb, 1])))
    if base_pt:
        X, Y, a = px(base_pt[0]), py(base_pt[1]), 6 * u
        d.line([(X - a, Y - a), (X + a, Y + a)], INK, round(2.5 * u))
        d.line([(X - a, Y + a), (X + a, Y - a)], INK, round(2.5 * u))
        label(X, Y, "base", MUTED, f_label)
    for m, w in zip(marks, omegas if omegas is not None else []):   # the current ω
        X, Y, rr = px(m[0]), py(m[1]), 10 * u
        d.ellipse([X - rr, Y - rr, X + rr, Y + rr], outline=MARK, width=round(3 * u))
        d.ellipse([X - 2.5 * u, Y - 2.5 * u, X + 2.5 * u, Y + 2.5 * u], fill=MARK)
        if len(marks) == 1:
            label(X, Y, "ω " + ", ".join(f"{v:.2f}" for v in w), MARK, f_bold, gap=14 * u)

    # ω legend: a gradient between the two objectives, or one swatch per objective
    cy = H - 20 * u
    if k == 2:
        bw, bh = 150 * u, 9 * u
        bx = W / 2 - bw / 2
        for i in range(round(bw)):
            d.line([(bx + i, cy - bh / 2), (bx + i, cy + bh / 2)], viridis(i / (bw - 1)))
        d.text((bx - 8 * u, cy), labels[0], INK, f_label, anchor="rm")
        d.text((bx + bw + 8 * u, cy), labels[1], INK, f_label, anchor="lm")
        for w in (omegas if omegas is not None else []):
            X = bx + float(w[1]) * bw
            d.polygon([(X, cy - bh / 2), (X - 5 * u, cy - bh / 2 - 8 * u), (X + 5 * u, cy - bh / 2 - 8 * u)],
                      fill=MARK)
    else:
        items = [(omega_colour(np.eye(k)[j]), lab) for j, lab in enumerate(labels)]
        total = sum(16 * u + f_label.getlength(lab) for _, lab in items) + 14 * u * (k - 1)
        x = W / 2 - total / 2
        for colour, lab in items:
            d.rounded_rectangle([x, cy - 5 * u, x + 10 * u, cy + 5 * u], 2 * u, fill=colour)
            d.text((x + 16 * u, cy), lab, INK, f_label, anchor="lm")
            x += 16 * u + f_label.getlength(lab) + 14 * u
    return _finish(img, width)


def preview(front: dict | None, labels: list[str], omegas=None, width: int = 512,
            file_name: str = "", subtitle: str = "", imported_from: str = "") -> tuple[Image.Image, str | None]:
    """The preview of a file's stored front with `omegas` ((K,) or (N, K), validated) marked and
    `subtitle` under its title, and, when it shows a message instead of the front, that message.
    `imported_from` (ParetoSliderMetadata.imported_from): an imported file never has a front yet."""
    if not front:
        run = f"python -m trainer eval {file_name} --config <your.yaml> --prompts <held-out.txt>"
        if imported_from:
            msg = (f"imported from {imported_from}: no front is stored until `python -m trainer eval` runs "
                   f"on it: run {run}")
            return render_message("No front stored yet (imported file)",
                                  f"Imported from {imported_from}. No front is stored until "
                                  "`python -m trainer eval` runs on it:", run, width), msg
        msg = f"no measured front in this file: run {run} to add one"
        return render_message("No measured front in this file",
                              "Run this to measure it and store it in the file:", run,
                              width), msg
    if omegas is not None:
        omegas = np.asarray(omegas, dtype=np.float64).reshape(-1, len(labels))
    try:
        return render_front(front, labels, omegas, width, Path(file_name).stem, subtitle), None
    except (ValueError, TypeError, KeyError) as err:   # a front this preview cannot read: say so, do not fail
        msg = f"the measured front stored in {file_name} cannot be drawn: {err}"
        log.warning("ParetoSlider: %s", msg)
        return render_message("Cannot draw the stored front", msg, width=width), msg


def render_lora_slider(labels: list[str], method: str, omegas=None, width: int = 512) -> Image.Image:
    """A LoRA slider has no measured front (nothing was trained): say so, and still show ω as one
    bar per objective (a sweep's or schedule's further rows as ticks on the bars)."""
    img, d, u = _canvas(width, (248, 249, 251))
    W, H = img.size
    d.rounded_rectangle([16 * u, 16 * u, W - 16 * u, H - 16 * u], radius=12 * u, outline=FRAME,
                        width=round(1.5 * u))
    f_head, f_body, f_label = font(round(17 * u), True), font(round(12.5 * u)), font(round(12 * u))
    d.text((W / 2, 34 * u), "No trained front: a LoRA slider", INK, f_head, anchor="mt")
    body = (f"{method} over {len(labels)} LoRAs ({', '.join(labels)}): nothing was trained or measured, "
            "so there is no front to plot. The preference ω:")
    for i, line in enumerate(_wrap(body, f_body, W - 96 * u)):
        d.text((W / 2, 62 * u + 18 * u * i), line, MUTED, f_body, anchor="mt")
    rows = None if omegas is None else np.asarray(omegas, dtype=np.float64).reshape(-1, len(labels))
    top, left, right = 120 * u, 130 * u, W - 60 * u
    step = min(34 * u, (H - top - 40 * u) / max(len(labels), 1))
    for k, lab in enumerate(labels):
        y = top + step * k
        d.text((left - 10 * u, y + 6 * u), lab[:18], INK, f_label, anchor="rm")
        d.rounded_rectangle([left, y, right, y + 12 * u], radius=6 * u, fill=GRID)
        if rows is None:
            continue
        w = float(rows[0, k])
        if w > 0:
            d.rounded_rectangle([left, y, left + (right - left) * w, y + 12 * u], radius=6 * u, fill=MARK)
        d.text((right + 6 * u, y + 6 * u), f"{w:.2f}", INK, f_label, anchor="lm")
        for r in rows[1:]:
            x = left + (right - left) * float(r[k])
            d.line([x, y - 4 * u, x, y + 16 * u], fill=INK, width=round(2 * u))
    if rows is None:
        d.text((W / 2, H - 36 * u), "connect a preference to mark ω", MUTED, f_body, anchor="mt")
    return _finish(img, width)


def image_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB → ComfyUI IMAGE (1, H, W, 3) float in [0, 1]."""
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)[None]

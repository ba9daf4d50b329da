"""One font lookup for the PIL-drawn figures of both halves (Front Preview, the trainer's front.png).

DejaVu has every glyph the figures print (ω, →, –, …). It comes from matplotlib's font_manager
when matplotlib is installed (the trainer venv), otherwise from the system by file name (ComfyUI's
venv may have no matplotlib), otherwise PIL's own font. PIL and matplotlib are imported on first
use, so pareto_core still imports with torch alone.
"""
from __future__ import annotations

from functools import lru_cache

_FAMILY = {False: "DejaVu Sans", True: "DejaVu Sans Mono"}
_FILES = {  # (bold, mono) → system font files, best first
    (False, False): ("DejaVuSans.ttf", "arial.ttf", "Arial.ttf", "LiberationSans-Regular.ttf"),
    (True, False): ("DejaVuSans-Bold.ttf", "arialbd.ttf", "Arial Bold.ttf", "LiberationSans-Bold.ttf"),
    (False, True): ("DejaVuSansMono.ttf", "consola.ttf", "Menlo.ttc", "LiberationMono-Regular.ttf"),
    (True, True): ("DejaVuSansMono-Bold.ttf", "consolab.ttf", "Menlo.ttc", "LiberationMono-Bold.ttf"),
}


def _matplotlib_file(bold: bool, mono: bool) -> str | None:
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    prop = font_manager.FontProperties(family=_FAMILY[mono], weight="bold" if bold else "normal")
    try:
        return font_manager.findfont(prop, fallback_to_default=False)
    except ValueError:   # matplotlib without that DejaVu face
        return None


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False, mono: bool = False):
    """A PIL font `size` pixels high: DejaVu Sans (bold / Sans Mono), or the nearest available."""
    from PIL import ImageFont
    path = _matplotlib_file(bold, mono)
    for name in ((path,) if path else ()) + _FILES[bool(bold), bool(mono)]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size)   # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()

"""pareto_core.fonts: one DejaVu lookup for the PIL figures, imported lazily."""
from __future__ import annotations

import subprocess
import sys

from PIL import ImageFont

from pareto_core.fonts import font


def test_font_is_a_scalable_dejavu_with_the_glyphs_the_figures_print():
    f = font(24)
    assert isinstance(f, ImageFont.FreeTypeFont) and f.size == 24
    assert f.getname()[0] == "DejaVu Sans"
    assert f.getmask("ω").getbbox() is not None and f.getmask("→").getbbox() is not None


def test_bold_and_mono_are_other_faces_and_the_lookup_is_cached():
    regular, bold, mono = font(20), font(20, bold=True), font(20, mono=True)
    assert bold.getname() == ("DejaVu Sans", "Bold")
    assert mono.getname()[0] == "DejaVu Sans Mono"
    assert mono.getlength("iiii") == mono.getlength("WWWW") != regular.getlength("iiii")
    assert font(20, bold=True) is bold


def test_pareto_core_imports_without_pil_or_matplotlib():
    code = ("import sys; import pareto_core, pareto_core.fonts; "
            "print(sorted(m for m in ('PIL', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "[]"

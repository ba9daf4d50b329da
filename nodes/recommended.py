"""How to sample a ParetoSlider file: its training settings → KSampler / latent values and one line.

The references train CFG-free (cfg 1.0) at one square resolution with a few Euler steps, and a
slider samples best as it was trained. `TrainingMetadata` records resolution, sample_steps,
guidance (Flux) and cfg; 0 means "not recorded" (older files), and then a default stands in and
the text says so. No ComfyUI import: the Loader, the info route and the Front Preview use it, and
tests/runtime tests it without ComfyUI.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..pareto_core import ParetoSliderFileError, ParetoSliderMetadata

DEFAULT_STEPS = 20                                            # ComfyUI's KSampler default
DEFAULT_RESOLUTION = {"sd3": 1024, "flux": 1024, "ltx2": 768}  # the base models' usual sizes
MAX_RESOLUTION = 16384                                        # ComfyUI's nodes.MAX_RESOLUTION
MAX_STEPS = 10000                                             # KSampler's steps maximum
MAX_CFG = 100.0                                               # KSampler's cfg maximum


@dataclass(frozen=True)
class Recommended:
    """The sampling settings a file recommends (what the Loader outputs, the widget shows)."""
    steps: int
    cfg: float
    width: int
    height: int
    guidance: float | None            # Flux distilled guidance (FluxGuidance); None: none recorded
    text: str                         # e.g. "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0)"
    defaulted: list[str] = field(default_factory=list)   # which of resolution / steps were not recorded

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt(v: float) -> str:
    return f"{v:.1f}" if float(v).is_integer() else f"{v:g}"


def recommended(meta: ParetoSliderMetadata, source: str = "file") -> Recommended:
    """The file's recommended sampling settings; ParetoSliderFileError naming the field when a
    recorded value cannot be used (negative, NaN, beyond what ComfyUI's nodes accept)."""
    t = meta.training
    res, steps, cfg, guidance = t.resolution, t.sample_steps, t.cfg, t.guidance

    def bad(name: str, value, want: str) -> ParetoSliderFileError:
        return ParetoSliderFileError(
            f"{source}: its training metadata records {name} = {value!r}, which cannot be used for "
            f"sampling ({want}); re-export the file with the trainer or fix its metadata")

    if not isinstance(res, int) or not 0 <= res <= MAX_RESOLUTION:
        raise bad("resolution", res, f"want 0 (not recorded) or 1..{MAX_RESOLUTION} px")
    if not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise bad("sample_steps", steps, f"want 0 (not recorded) or 1..{MAX_STEPS}")
    if not isinstance(cfg, (int, float)) or not math.isfinite(cfg) or not 0 <= cfg <= MAX_CFG:
        raise bad("cfg", cfg, f"want a number in 0..{MAX_CFG:g}")
    if guidance is not None and (not isinstance(guidance, (int, float)) or not math.isfinite(guidance)
                                 or guidance < 0):
        raise bad("guidance", guidance, "want a number >= 0 or none")

    defaulted, parts = [], []
    if meta.imported_from:      # e.g. "imported from the reference code (checkpoint-1000)"
        parts.append(f"imported from {meta.imported_from}")
    if res:
        parts.append(f"trained at {res} px")
    else:
        res = DEFAULT_RESOLUTION[meta.architecture]
        defaulted.append("resolution")
        parts.append(f"resolution not recorded (using {res} px)")
    if steps:
        parts.append(f"{steps} sampling steps")
    else:
        steps = DEFAULT_STEPS
        defaulted.append("steps")
        parts.append(f"sampling steps not recorded (using {steps})")
    cfg = float(cfg)
    parts.append("CFG-free (cfg 1.0)" if cfg == 1.0 else f"cfg {_fmt(cfg)}")
    if meta.per_objective_lora:       # say why moving ω re-patches the weights for this file
        parts.append("one LoRA per objective (mixed by ω; moving ω re-patches weights)")
    if guidance is not None:
        guidance = float(guidance)
        parts.append(f"guidance {_fmt(guidance)}")
    elif meta.architecture == "flux":
        parts.append("guidance not recorded")
    return Recommended(steps=steps, cfg=cfg, width=res, height=res, guidance=guidance,
                       text=", ".join(parts), defaulted=defaulted)

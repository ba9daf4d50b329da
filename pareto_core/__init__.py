"""The contract between the ParetoSlider trainer and the ComfyUI runtime (pure torch).

The names below are imported on first use (PEP 562), so `from pareto_core import ParetoSliderError`
costs no torch import: the trainer's config checks and `--help` answer before torch loads.
"""
from __future__ import annotations

import importlib

from .errors import ParetoSliderError

# public name → the submodule that defines it
_WHERE = {
    **dict.fromkeys(("ARCHITECTURES", "FORMAT_VERSION", "Objective", "ParetoSliderFile", "ParetoSliderFileError",
                     "ParetoSliderMetadata", "ParetoSliderMismatchError", "TrainingMetadata", "load_paretoslider",
                     "read_metadata", "save_paretoslider"), "fileformat"),
    **dict.fromkeys(("BlockModulation", "EmbeddingConfig", "PreferenceEmbedding", "PreferenceError",
                     "PreferenceModules", "edge_sweep", "parse_preference", "rows_for_batch", "simplex_grid",
                     "validate_preference"), "preference"),
    **dict.fromkeys(("OmegaSchedule", "omega_now", "parse_keypoints", "start_end_schedule"), "schedule"),
}

_SUBMODULES = ("combine", "fileformat", "fonts", "preference", "schedule")

__all__ = ["ParetoSliderError", *_WHERE]


def __getattr__(name: str):
    if name in _SUBMODULES:          # `pareto_core.fileformat` after a bare `import pareto_core`
        return importlib.import_module(f".{name}", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

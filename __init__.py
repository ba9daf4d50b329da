"""ComfyUI-ParetoSlider: one model, a slider over the Pareto front of competing rewards.

Thin entry point. ComfyUI loads this folder as a package from custom_nodes/<any name>/; the
nodes are registered only when ComfyUI is importable, so the core and the trainer can be
used (and tested) without it.
"""
WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY"]

try:
    import comfy_api.latest  # noqa: F401  (present only inside ComfyUI)
except ImportError:  # outside ComfyUI: nothing to register
    pass
else:
    from .nodes.extension import comfy_entrypoint  # noqa: F401
    __all__.append("comfy_entrypoint")

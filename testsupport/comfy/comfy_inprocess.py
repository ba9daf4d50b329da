"""Using ComfyUI as a library (run with ComfyUI's python): the recipe the in-process checks, the
benchmark and a diffusers-parity test share.

    comfy_setup(COMFYUI_DIR)                  # --cpu into ComfyUI's args BEFORE importing comfy.*
    ext = import_extension(REPO)              # this repo as a package, like custom_nodes/ does
    model = load_model(path_or_state_dict)    # comfy.sd.load_diffusion_model[_state_dict]
    x0 = denoise(patched, x, sigma, context, pooled)   # apply_model with the patcher's wrappers
    v = (x - x0) / sigma                      # ComfyUI returns the denoised x0, not the velocity
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path


def comfy_setup(comfy_dir: str | os.PathLike, extra_args: tuple[str, ...] = ()) -> None:
    comfy_dir = str(Path(comfy_dir).resolve())
    if comfy_dir not in sys.path:
        sys.path.insert(0, comfy_dir)
    import comfy.options
    comfy.options.enable_args_parsing()
    argv, sys.argv = sys.argv, [sys.argv[0], "--cpu", *extra_args]
    try:
        import comfy.cli_args  # noqa: F401  parses sys.argv now
    finally:
        sys.argv = argv


def import_extension(repo: str | os.PathLike, name: str = "comfyui_paretoslider_under_test"):
    """Import the repo root as a package (relative imports work; the repo is not put on sys.path,
    so its nodes/ never shadows ComfyUI's nodes.py)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(repo) / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_model(source):
    """A ModelPatcher from a file path or a state dict. Pass CLONED tensors: ComfyUI swaps
    norm_out halves in place in the dict it is given."""
    import comfy.sd
    if isinstance(source, (str, os.PathLike)):
        return comfy.sd.load_diffusion_model(str(source))
    return comfy.sd.load_diffusion_model_state_dict({k: v.clone() for k, v in source.items()})


def load_slider(ext, path: str | os.PathLike):
    from importlib import import_module
    loader = import_module(ext.__name__ + ".nodes.loader")
    core = import_module(ext.__name__ + ".pareto_core")
    return loader.LoadedSlider(Path(path).name, loader.FileStamp.of(str(path)), core.load_paretoslider(path))


def denoise(patcher, x, sigma, context, pooled, guidance: float | None = 3.5,
            cond_or_uncond: list | None = None, load: bool = True, **extra):
    """patcher.model.apply_model with the patcher's wrappers merged into transformer_options, as
    sampling does (comfy.sampler_helpers.prepare_model_patcher); returns the denoised x0."""
    import torch
    import comfy.model_management
    import comfy.patcher_extension
    if load:  # sampling loads once per run, not per step
        comfy.model_management.load_models_gpu([patcher])
    options = comfy.patcher_extension.copy_nested_dicts(patcher.model_options.get("transformer_options", {}))
    comfy.patcher_extension.merge_nested_dicts(options.setdefault("wrappers", {}), patcher.wrappers,
                                               copy_dict1=False)
    options["cond_or_uncond"] = cond_or_uncond or [0]
    b = x.shape[0]
    kwargs = dict(extra)
    if pooled is not None:
        kwargs["y"] = pooled
    if guidance is not None:
        kwargs["guidance"] = torch.full((b,), guidance)
    sig = sigma if torch.is_tensor(sigma) else torch.full((b,), float(sigma))
    with torch.no_grad():
        return patcher.model.apply_model(x, sig, c_crossattn=context, transformer_options=options, **kwargs)


@contextlib.contextmanager
def counting_weight_patches():
    """Counts ComfyUI's LoRA weight computations (comfy.lora.calculate_weight) while active, in
    the yielded {"n": calls}: a re-patch of the weights shows as calls."""
    import comfy.lora
    calls = {"n": 0}
    original = comfy.lora.calculate_weight

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)
    comfy.lora.calculate_weight = counting
    try:
        yield calls
    finally:
        comfy.lora.calculate_weight = original

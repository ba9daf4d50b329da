"""One noise for every row of a sweep: what lets a Preference Sweep show ω and nothing else.

ComfyUI draws a different noise for each image of a batch (KSampler and SamplerCustom use one
generator for the whole batch), so the rows of a sweep would differ by their noise as much as by
their ω. Apply ParetoSlider adds this OUTER_SAMPLE wrapper when its ω has one row per image: every
row then starts from the first row's noise, which is the noise a batch of one draws from that seed,
so row i is the image a single Preference at ω_i gives with the same seed. Samplers that add noise
at each step (ancestral, SDE, the MSDDA sampler) get one step noise shared by all rows as well.
The Sweep's `noise` input "per row" opts out (ComfyUI's own behaviour).
"""
from __future__ import annotations

import copy
import inspect

import torch

from ..pareto_core.schedule import OmegaSchedule

WRAPPER_KEY = "paretoslider_sweep_noise"
_PER_ROW = "_paretoslider_noise_per_row"      # set on the Sweep's ω tensor when the user asks for it


def noise_per_row(omega: torch.Tensor) -> torch.Tensor:
    """Mark a sweep's ω: keep ComfyUI's own noise per image (the Sweep's `noise` = per row)."""
    setattr(omega, _PER_ROW, True)
    return omega


def keep_noise_choice(start, schedule: OmegaSchedule) -> OmegaSchedule:
    """A schedule from a sweep keeps the sweep's noise choice (the mark rides on its ω tensors,
    which the schedule builds anew)."""
    if getattr(start, _PER_ROW, False):
        for w in schedule.omegas:
            setattr(w, _PER_ROW, True)
    return schedule


def wants_same_noise(preference) -> bool:
    """Whether sampling with this preference should give every row the same noise: it has one ω
    per image (a sweep, or a schedule from one) and was not marked per row."""
    omegas = preference.omegas if isinstance(preference, OmegaSchedule) else (preference,)
    if any(getattr(w, _PER_ROW, False) for w in omegas):
        return False
    return any(torch.is_tensor(w) and w.dim() == 2 and w.shape[0] > 1 for w in omegas)


def _row_noise_sampler(shape: torch.Size, seed: int | None):
    """A k-diffusion noise_sampler drawing one row as the default one would for a batch of one
    (comfy.k_diffusion.sampling.default_noise_sampler), repeated for every row."""
    from comfy.k_diffusion.sampling import default_noise_sampler
    row_shape = (1, *shape[1:])
    draw = None

    def sample(sigma, sigma_next):
        nonlocal draw
        if draw is None:      # built on the first call: the sampler's device is known only then
            draw = default_noise_sampler(torch.zeros(row_shape, device=sigma.device), seed=seed)
        return draw(sigma, sigma_next).expand(shape).clone()
    return sample


def _with_shared_step_noise(sampler, shape: torch.Size, seed: int | None):
    """A copy of a KSAMPLER whose step noise is one row for all (samplers that take a noise_sampler)."""
    function = getattr(sampler, "sampler_function", None)
    options = getattr(sampler, "extra_options", None)
    if function is None or not isinstance(options, dict) or "noise_sampler" in options:
        return sampler
    try:
        takes = "noise_sampler" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return sampler
    if not takes:
        return sampler
    shared = copy.copy(sampler)      # ComfyUI reuses sampler objects: never change the original
    shared.extra_options = {**options, "noise_sampler": _row_noise_sampler(shape, seed)}
    return shared


def same_noise_outer_sample(executor, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None,
                            disable_pbar=False, seed=None, **kwargs):
    """OUTER_SAMPLE wrapper: every row gets row 0's starting noise (and step noise)."""
    if noise.shape[0] > 1:
        noise = noise[:1].expand(noise.shape).clone()
        sampler = _with_shared_step_noise(sampler, noise.shape, seed)
    return executor(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed, **kwargs)


def add_same_noise(model):
    """Install the wrapper on a (cloned) ModelPatcher; applying again replaces it."""
    from comfy.patcher_extension import WrappersMP
    if hasattr(model, "remove_wrappers_with_key"):  # absent in old ComfyUI
        model.remove_wrappers_with_key(WrappersMP.OUTER_SAMPLE, WRAPPER_KEY)
    model.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, WRAPPER_KEY, same_noise_outer_sample)
    return model

"""ParetoSlider MSDDA Sampler: MSDDA's stochastic steps as a ComfyUI SAMPLER (for SamplerCustom).

MSDDA's step is the ω-weighted product of the single-objective models' Gaussian reverse steps.
With one η and one σ schedule all of them have the same variance and a mean affine in the
model's prediction, so the product is one Gaussian step on the blended prediction
(docs/LORA_SLIDERS.md): a LoRA slider with method msdda blends the LoRAs' predictions (as blend)
and this sampler takes the stochastic step. Which step depends on the model's sampling frame:

- flow matching (ComfyUI model_sampling CONST: x_σ = (1 − σ) x0 + σ ε; SD3, Flux, LTX-2...): the
  Flow-GRPO SDE step (pareto_core.combine.msdda_step), η default 0.7 (Flow-GRPO's);
- the x0 + σ ε frame (noise_scaling x0 + σ ε: EPS, V_PREDICTION, EDM, V_PREDICTION_DDPM,
  COSMOS_RFLOW; SD1.5, SDXL, SD2-v...): the ancestral step (pareto_core.combine.msdda_ancestral_step,
  k-diffusion's euler_ancestral step), η default 1.0 (the DDPM posterior, euler_ancestral's default);
- anything else (X0, IMG_TO_IMG: models that predict the output image directly) is refused.

It marks transformer_options so the msdda wrapper knows it runs under it. Step noise comes from a
CPU generator seeded with the sampler's seed, so a seed reproduces the image on any device.
"""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pareto_core import ParetoSliderMismatchError
from ..pareto_core.combine import msdda_ancestral_step, msdda_step
from .errors import user_errors
from .multi_lora import MSDDA_FLAG
from .socket_types import CATEGORY

DEFAULT_ETA = 0.7            # flow: Flow-GRPO's default noise level (the front benchmark's MSDDA_ETA)
DEFAULT_ETA_ANCESTRAL = 1.0  # x0 + σ ε frame: the DDPM posterior, k-diffusion euler_ancestral's default

FLOW, ANCESTRAL = "flow", "ancestral"


def sampling_type_name(sampling) -> str:
    """The prediction type a model_sampling object mixes in (ComfyUI builds it as a class
    ModelSampling(<schedule>, <type>)): 'X0', 'IMG_TO_IMG', 'EPS', ... or its class name."""
    for cls in type(sampling).__mro__:
        if cls.__module__ == "comfy.model_sampling" and not cls.__name__.startswith("ModelSampling") \
                and cls.__name__ != "StableCascadeSampling":
            return cls.__name__
    return type(sampling).__name__


def adds_sigma_noise(sampling) -> bool:
    """Whether the model's noise_scaling is the x0 + σ ε frame (probed on numbers, so a subclass or
    another extension's sampling type with that frame is recognised too)."""
    sigma = torch.tensor([0.5, 3.0], dtype=torch.float64)
    try:
        out = sampling.noise_scaling(sigma, torch.ones(2, 1, dtype=torch.float64),
                                     torch.full((2, 1), 2.0, dtype=torch.float64), max_denoise=False)
    except (TypeError, AttributeError, ValueError, RuntimeError, NotImplementedError):
        return False      # an unknown sampling type that cannot take the probe: refused below with its name
        return False
    return torch.is_tensor(out) and out.shape == (2, 1) and torch.allclose(out.flatten(), 2.0 + sigma)


def step_kind(sampling) -> str:
    """FLOW for CONST (and its subclasses; also a caller without a model_sampling, as before),
    ANCESTRAL for the x0 + σ ε frame; otherwise a one-line refusal naming the sampling type."""
    import comfy.model_sampling as ms
    if sampling is None or isinstance(sampling, ms.CONST):
        return FLOW
    if not isinstance(sampling, ms.X0) and adds_sigma_noise(sampling):
        return ANCESTRAL
    raise ParetoSliderMismatchError(
        f"the ParetoSlider MSDDA Sampler takes flow-matching (CONST) models and ε-/v-prediction models "
        f"(EPS, V_PREDICTION, EDM...), not this model's sampling type {sampling_type_name(sampling)}")


@torch.no_grad()
def sample_msdda(model, x, sigmas, extra_args=None, callback=None, disable=None, eta: float = DEFAULT_ETA,
                 eta_ancestral: float = DEFAULT_ETA_ANCESTRAL, noise_sampler=None):
    """k-diffusion-style sampler: x at σ_0 → x at σ_last by MSDDA steps.
    Flow models: Flow-GRPO SDE steps with `eta` (the last step deterministic).
    x0 + σ ε models: ancestral steps with `eta_ancestral` (deterministic where σ_up = 0: to σ = 0).
    Step noise from a CPU generator seeded with the sampler's seed, or from `noise_sampler` (a
    sweep's rows share one, nodes/sweep_noise.py)."""
    from tqdm.auto import trange
    extra_args = dict(extra_args or {})
    options = dict(extra_args.get("model_options", {}))
    options["transformer_options"] = {**options.get("transformer_options", {}), MSDDA_FLAG: True}
    extra_args["model_options"] = options
    inner = getattr(getattr(model, "inner_model", None), "inner_model", None)
    kind = step_kind(getattr(inner, "model_sampling", None))
    g = torch.Generator().manual_seed(int(extra_args.get("seed", 0) or 0))
    s_in = x.new_ones([x.shape[0]])
    cap = float(sigmas[1]) if len(sigmas) > 1 else 1.0
    n = x.shape[0]
    for i in trange(len(sigmas) - 1, disable=disable):
        s, s_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, s * s_in, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": s, "sigma_hat": s, "denoised": denoised})
        if kind == ANCESTRAL:
            mean, std = msdda_ancestral_step(x, [(1.0, denoised)], s.expand(n), s_next.expand(n),
                                             float(eta_ancestral))
            if not bool(std.any()):
                x = mean
                continue
        else:
            v = (x - denoised) / s
            if float(s_next) == 0.0 or i == len(sigmas) - 2:
                x = x + (s_next - s) * v
                continue
            mean, std = msdda_step(x, [(1.0, v)], s.expand(n).float(), s_next.expand(n).float(), eta, cap)
        eps = (noise_sampler(s, s_next) if noise_sampler is not None
               else torch.randn(x.shape, generator=g)).to(x.device, x.dtype)
        x = mean + std.reshape((-1,) + (1,) * (x.ndim - 1)).to(x.dtype) * eps
    return x


class ParetoSliderMSDDASampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderMSDDASampler",
            display_name="ParetoSlider MSDDA Sampler",
            category=CATEGORY,
            description="The stochastic sampler MSDDA combines steps with: the Flow-GRPO SDE step on "
                        "flow-matching models (SD3, Flux, LTX-2), the ancestral (euler_ancestral) step on "
                        "ε- and v-prediction models (SD1.5, SDXL, SD2). Wire it into SamplerCustom's "
                        "sampler input; required for a LoRA slider with method msdda.",
            inputs=[io.Float.Input("eta", default=DEFAULT_ETA, min=0.0, max=2.0, step=0.01,
                                   tooltip="Flow-matching models (SD3, Flux, LTX-2): the Flow-GRPO SDE noise "
                                           "level η (0.7: Flow-GRPO's; 0: deterministic, the blend's ODE)"),
                    io.Float.Input("eta_ancestral", default=DEFAULT_ETA_ANCESTRAL, min=0.0, max=2.0, step=0.01,
                                   optional=True,     # graphs saved before it existed still validate
                                   tooltip="ε- and v-prediction models (SD1.5, SDXL, SD2): the ancestral noise "
                                           "level η as in euler_ancestral (1: the DDPM posterior; 0: "
                                           "deterministic, the euler / DDIM step)")],
            outputs=[io.Sampler.Output(display_name="SAMPLER")],
        )

    @classmethod
    @user_errors
    def execute(cls, eta: float = DEFAULT_ETA, eta_ancestral: float = DEFAULT_ETA_ANCESTRAL) -> io.NodeOutput:
        import comfy.samplers
        return io.NodeOutput(comfy.samplers.KSAMPLER(
            user_errors(sample_msdda), extra_options={"eta": float(eta), "eta_ancestral": float(eta_ancestral)}))

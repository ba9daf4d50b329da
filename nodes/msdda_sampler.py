"""ParetoSlider MSDDA Sampler: the Flow-GRPO SDE sampler as a ComfyUI SAMPLER (for SamplerCustom).

MSDDA's step is the ω-weighted product of the single-objective models' Gaussian reverse steps.
With one η and one σ schedule all of them have the same variance, so the product is the SDE step
on the blended velocity (pareto_core.combine.msdda_step; docs/LORA_SLIDERS.md): a LoRA slider with
method msdda blends the LoRAs' predictions (as blend) and this sampler takes the stochastic step.
It marks transformer_options so the msdda wrapper knows it runs under it.
"""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pareto_core import ParetoSliderMismatchError
from ..pareto_core.combine import msdda_step
from .errors import user_errors
from .multi_lora import MSDDA_FLAG
from .socket_types import CATEGORY

DEFAULT_ETA = 0.7           # Flow-GRPO's default noise level (the front benchmark's MSDDA_ETA)


@torch.no_grad()
def sample_msdda(model, x, sigmas, extra_args=None, callback=None, disable=None, eta: float = DEFAULT_ETA):
    """k-diffusion-style sampler: x at σ_0 → x at σ_last by Flow-GRPO SDE steps (the last step,
    to σ = 0, deterministic); step noise from a CPU generator seeded with the sampler's seed."""
    from tqdm.auto import trange
    extra_args = dict(extra_args or {})
    options = dict(extra_args.get("model_options", {}))
    options["transformer_options"] = {**options.get("transformer_options", {}), MSDDA_FLAG: True}
    extra_args["model_options"] = options
    inner = getattr(getattr(model, "inner_model", None), "inner_model", None)
    sampling = getattr(inner, "model_sampling", None)
    import comfy.model_sampling
    if sampling is not None and not isinstance(sampling, comfy.model_sampling.CONST):
        raise ParetoSliderMismatchError("the ParetoSlider MSDDA Sampler is for flow-matching models "
                                        "(SD3, Flux, LTX-2)")
    g = torch.Generator().manual_seed(int(extra_args.get("seed", 0) or 0))
    s_in = x.new_ones([x.shape[0]])
    cap = float(sigmas[1]) if len(sigmas) > 1 else 1.0
    n = x.shape[0]
    for i in trange(len(sigmas) - 1, disable=disable):
        s, s_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, s * s_in, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": s, "sigma_hat": s, "denoised": denoised})
        v = (x - denoised) / s
        if float(s_next) == 0.0 or i == len(sigmas) - 2:
            x = x + (s_next - s) * v
            continue
        mean, std = msdda_step(x, [(1.0, v)], s.expand(n).float(), s_next.expand(n).float(), eta, cap)
        eps = torch.randn(x.shape, generator=g).to(x.device, x.dtype)
        x = mean + std.reshape((-1,) + (1,) * (x.ndim - 1)).to(x.dtype) * eps
    return x


class ParetoSliderMSDDASampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderMSDDASampler",
            display_name="ParetoSlider MSDDA Sampler",
            category=CATEGORY,
            description="The stochastic (Flow-GRPO SDE) sampler MSDDA combines steps with. Wire it into "
                        "SamplerCustom's sampler input; required for a LoRA slider with method msdda.",
            inputs=[io.Float.Input("eta", default=DEFAULT_ETA, min=0.0, max=2.0, step=0.01,
                                   tooltip="SDE noise level η (0: deterministic, the blend's ODE)")],
            outputs=[io.Sampler.Output(display_name="SAMPLER")],
        )

    @classmethod
    @user_errors
    def execute(cls, eta: float = DEFAULT_ETA) -> io.NodeOutput:
        import comfy.samplers
        return io.NodeOutput(comfy.samplers.KSAMPLER(user_errors(sample_msdda), extra_options={"eta": float(eta)}))

"""The MSDDA sampler on ε- and v-prediction models, inside ComfyUI (run with ComfyUI's python by
test_msdda_eps.py): python msdda_eps_checks.py COMFYUI_DIR REPO → prints one JSON line.

A tiny SD1.5-like UNet built with ComfyUI's own classes (comfy.supported_models.SD15, random
weights, seeded) samples through comfy.sample.sample_custom (SamplerCustom's path) with the
MSDDA sampler and with ComfyUI's k-diffusion samplers; its sampling type is switched by object
patches of model_sampling, as ComfyUI's ModelSampling* nodes do.
"""
from __future__ import annotations

import json
import sys
from importlib import import_module

from testsupport.comfy.comfy_inprocess import comfy_setup, import_extension  # noqa: E402

comfy_dir, repo = sys.argv[1:3]
comfy_setup(comfy_dir)
import torch  # noqa: E402

ext = import_extension(repo)
msdda = import_module(ext.__name__ + ".nodes.msdda_sampler")
combine = import_module(ext.__name__ + ".pareto_core.combine")
errors = import_module(ext.__name__ + ".nodes.errors")

CONTEXT_DIM, SEED = 32, 1234
def tiny_sd15():
    """The shared tiny SD1.5 (EPS, ModelSamplingDiscrete σ 0.029 … 14.6) of every family's builder."""
    from testsupport.comfy import tiny_families
    return tiny_families.build("sd15")


def with_sampling(patcher, model_type=None, sampling_cls=None):
    """A clone sampling as `model_type` (comfy.model_base.ModelType) or as the class
    ModelSampling(ModelSamplingDiscrete, sampling_cls), like the ModelSamplingDiscrete node."""
    import comfy.model_base
    import comfy.model_sampling
    m = patcher.clone()
    if model_type is not None:
        sampling = comfy.model_base.model_sampling(m.model.model_config, model_type)
    else:
        class ModelSamplingAdvanced(comfy.model_sampling.ModelSamplingDiscrete, sampling_cls):
            pass
        sampling = ModelSamplingAdvanced(m.model.model_config)
    m.add_object_patch("model_sampling", sampling)
    return m


def sample(patcher, sampler, steps: int = 6, scheduler: str = "karras", sigmas=None, capture=None):
    """comfy.sample.sample_custom (SamplerCustom's path) from an empty latent, cfg 3."""
    import comfy.sample
    import comfy.samplers
    if sigmas is None:
        sigmas = comfy.samplers.calculate_sigmas(patcher.get_model_object("model_sampling"), scheduler, steps).cpu()
    latent = torch.zeros(latent_shape(patcher))
    noise = comfy.sample.prepare_noise(latent, SEED)
    g = torch.Generator().manual_seed(7)
    ctx = torch.randn(1, 77, patcher.model.model_config.unet_config.get("context_dim", CONTEXT_DIM), generator=g)
    positive, negative = [[ctx, {}]], [[torch.zeros_like(ctx), {}]]
    callback = None
    if capture is not None:
        def callback(step, x0, x, total):
            capture.append((step, x0.clone(), x.clone()))
    return comfy.sample.sample_custom(patcher, noise, 3.0, sampler, sigmas, positive, negative, latent,
                                      callback=callback, disable_pbar=True, seed=SEED), sigmas


def latent_shape(patcher) -> tuple[int, ...]:
    unet = patcher.model.model_config.unet_config
    side = max(8, 2 ** len(unet.get("channel_mult", [1, 2])))
    return (1, unet.get("in_channels", 4), side, side)


def msdda_sampler(eta: float = msdda.DEFAULT_ETA, eta_ancestral: float = msdda.DEFAULT_ETA_ANCESTRAL):
    return msdda.ParetoSliderMSDDASampler.execute(eta=eta, eta_ancestral=eta_ancestral).result[0]


def seeded_noise_sampler(shape):
    """k-diffusion's noise_sampler(σ, σ') drawing what the MSDDA sampler draws: a CPU generator
    seeded with the sampler's seed, one randn(x.shape) per stochastic step."""
    g = torch.Generator().manual_seed(SEED)
    return lambda sigma, sigma_next: torch.randn(shape, generator=g)


def diff(a, b) -> float:
    return (a - b).abs().max().item()


def eta0_is_euler(patcher) -> dict:
    """(a) η = 0: the MSDDA sampler is ComfyUI's euler for the same σ and noise."""
    import comfy.samplers
    out = {}
    for scheduler in ("karras", "normal"):
        ours, sigmas = sample(patcher, msdda_sampler(eta_ancestral=0.0), scheduler=scheduler)
        euler, _ = sample(patcher, comfy.samplers.sampler_object("euler"), sigmas=sigmas)
        out[scheduler] = {"equal": bool(torch.equal(ours, euler)), "max_diff": diff(ours, euler),
                          "sigma_max": float(sigmas[0]), "scale": ours.abs().max().item()}
    return out


def eta_matches_euler_ancestral(patcher, etas=(1.0, 0.5)) -> dict:
    """(b, whole run) η > 0: the MSDDA sampler is ComfyUI's euler_ancestral fed the same noise."""
    import comfy.samplers
    out = {}
    for eta in etas:
        ours, sigmas = sample(patcher, msdda_sampler(eta_ancestral=eta))
        ref, _ = sample(patcher, comfy.samplers.ksampler(
            "euler_ancestral", {"eta": eta, "noise_sampler": seeded_noise_sampler(latent_shape(patcher))}),
            sigmas=sigmas)
        deterministic, _ = sample(patcher, msdda_sampler(eta_ancestral=0.0), sigmas=sigmas)
        out[str(eta)] = {"max_diff": diff(ours, ref), "vs_eta0": diff(ours, deterministic),
                         "scale": ours.abs().max().item()}
    return out


def one_step_formula(patcher, eta: float = 1.0) -> dict:
    """(b, one step) from σ to σ' > 0: x' = x + (x − x0)/σ·(σ_down − σ) + σ_up·z, with x and x0
    seen by the callback and z the first randn of torch.Generator().manual_seed(seed) (then the
    latent format's process_out, which sample_custom applies)."""
    import comfy.samplers
    full = comfy.samplers.calculate_sigmas(patcher.get_model_object("model_sampling"), "karras", 6).cpu()
    sigmas = full[2:4]
    seen = []
    ours, _ = sample(patcher, msdda_sampler(eta_ancestral=eta), sigmas=sigmas, capture=seen)
    _, x0, x = seen[0]
    s, sn = float(sigmas[0]), float(sigmas[1])
    up = min(sn, eta * (sn ** 2 * (s ** 2 - sn ** 2) / s ** 2) ** 0.5)
    down = (sn ** 2 - up ** 2) ** 0.5
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(SEED))
    want = patcher.model.process_latent_out(x + (x - x0) / s * (down - s) + up * z)   # as sample_custom returns it
    return {"max_diff": diff(ours, want), "sigma": s, "sigma_next": sn, "sigma_up": up, "sigma_down": down,
            "noise_part": up * z.abs().max().item(), "scale": ours.abs().max().item()}


def marks_transformer_options(patcher) -> bool:
    """On an EPS model too the sampler marks transformer_options (the msdda wrapper's check)."""
    flag = import_module(ext.__name__ + ".nodes.multi_lora").MSDDA_FLAG
    seen = []
    m = patcher.clone()

    def unet_wrapper(apply_model, args):
        seen.append(bool(args["c"].get("transformer_options", {}).get(flag)))
        return apply_model(args["input"], args["timestep"], **args["c"])
    m.set_model_unet_function_wrapper(unet_wrapper)
    sample(m, msdda_sampler(), steps=2)
    return bool(seen) and all(seen)


def node_inputs() -> dict:
    """The node's inputs: eta (flow) and eta_ancestral (ε/v), the latter optional so API graphs
    saved with eta alone still validate (and then take the default)."""
    schema = msdda.ParetoSliderMSDDASampler.define_schema()
    out = {i.id: {"default": i.default, "optional": bool(i.optional)} for i in schema.inputs}
    sampler = msdda.ParetoSliderMSDDASampler.execute(eta=0.5).result[0]
    out["extra_options_with_eta_alone"] = sampler.extra_options
    return out


def refusals(patcher) -> dict:
    """X0 / IMG_TO_IMG models: one line naming the sampling type."""
    import comfy.model_base
    import comfy.model_sampling
    out = {}
    for label, m in (("X0", with_sampling(patcher, sampling_cls=comfy.model_sampling.X0)),
                     ("IMG_TO_IMG", with_sampling(patcher, comfy.model_base.ModelType.IMG_TO_IMG))):
        try:
            sample(patcher=m, sampler=msdda_sampler(), steps=2)
            out[label] = {"raised": None}
        except Exception as err:  # noqa: BLE001
            out[label] = {"raised": type(err).__name__, "message": str(err),
                          "is_user_error": isinstance(err, errors.ParetoSliderNodeError)}
    return out


@torch.no_grad()
def sample_msdda_before(model, x, sigmas, extra_args=None, callback=None, disable=None, eta: float = 0.7):
    """nodes/msdda_sampler.py's sample_msdda as of commit 297840c (flow only), verbatim but for the
    refusal: the reference the flow path must stay bit-identical to."""
    from tqdm.auto import trange
    extra_args = dict(extra_args or {})
    options = dict(extra_args.get("model_options", {}))
    options["transformer_options"] = {**options.get("transformer_options", {}),
                                      import_module(ext.__name__ + ".nodes.multi_lora").MSDDA_FLAG: True}
    extra_args["model_options"] = options
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
        mean, std = combine.msdda_step(x, [(1.0, v)], s.expand(n).float(), s_next.expand(n).float(), eta, cap)
        eps = torch.randn(x.shape, generator=g).to(x.device, x.dtype)
        x = mean + std.reshape((-1,) + (1,) * (x.ndim - 1)).to(x.dtype) * eps
    return x


def flow_unchanged(patcher) -> dict:
    """(c) a flow model (the same UNet sampling as FLOW: ModelSamplingDiscreteFlow + CONST) gives
    what the flow-only sampler gave, bit for bit, whatever eta_ancestral says."""
    import comfy.model_base
    import comfy.samplers
    flow = with_sampling(patcher, comfy.model_base.ModelType.FLOW)
    out = {}
    for eta in (0.7, 0.0):
        ours, sigmas = sample(flow, msdda_sampler(eta=eta, eta_ancestral=0.3), scheduler="simple")
        before, _ = sample(flow, comfy.samplers.KSAMPLER(sample_msdda_before, extra_options={"eta": eta}),
                           sigmas=sigmas)
        out[str(eta)] = {"equal": bool(torch.equal(ours, before)), "max_diff": diff(ours, before),
                         "sigma_max": float(sigmas[0])}
    return out


def main() -> None:
    import comfy.model_base
    base = tiny_sd15()
    kinds = {"eps": base,
             "v_prediction": with_sampling(base, comfy.model_base.ModelType.V_PREDICTION),
             "v_prediction_edm_continuous": with_sampling(base, comfy.model_base.ModelType.V_PREDICTION_EDM)}
    result = {"model_source": "tiny_families.build('sd15')",
              "sampling_types": {k: msdda.sampling_type_name(m.get_model_object("model_sampling"))
                                 for k, m in kinds.items()},
              "step_kinds": {k: msdda.step_kind(m.get_model_object("model_sampling")) for k, m in kinds.items()},
              "eta0_is_euler": {k: eta0_is_euler(m) for k, m in kinds.items()},
              "eta_matches_euler_ancestral": {k: eta_matches_euler_ancestral(m) for k, m in kinds.items()},
              "one_step": {"eps": one_step_formula(base, 1.0), "eps_eta_0.6": one_step_formula(base, 0.6)},
              "node_inputs": node_inputs(),
              "marks_transformer_options": marks_transformer_options(base),
              "refusals": refusals(base),
              "flow_unchanged": flow_unchanged(base)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

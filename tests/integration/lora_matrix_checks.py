"""The LoRA-slider correctness matrix (docs/LORA_SLIDERS.md), run with ComfyUI's python by
test_lora_matrix.py:  python lora_matrix_checks.py COMFYUI_DIR REPO OUT_JSON [family ...]

For every model family (tiny_families) × LoRA format (lora_formats) × method, against ComfyUI's
LoraLoaderModelOnly (comfy.sd.load_lora_for_models with no CLIP) at the same strength:
- vertex: the slider at ω = e_i equals LoRA i alone (model output), and a 2-step sampler run agrees;
- middle: soups at ω equals the two LoRAs chained at ω_i·s; blend / msdda equal Σ ω_i × LoRA i alone;
- rows: a batch with per-sample ω (a sweep; cond and uncond chunks) equals each ω alone;
- schedule: a σ schedule that is at ω at this σ equals ω.
Each error is max|ours − reference| / max|reference − base| (relative to the LoRA's effect).
Writes {family: {format: {method: {check: error}}}, "_effects": ..., "_seconds": ...} to OUT_JSON.
"""
from __future__ import annotations

import json
import sys
import time
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, import_extension  # noqa: E402

comfy_dir, repo, out_path = sys.argv[1:4]
comfy_setup(comfy_dir)
import torch  # noqa: E402

from testsupport.comfy import lora_formats  # noqa: E402
from testsupport.comfy import tiny_families  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")
sliders = import_module(ext.__name__ + ".nodes.lora_slider")
multi = import_module(ext.__name__ + ".nodes.multi_lora")
msdda = import_module(ext.__name__ + ".nodes.msdda_sampler")
loader = import_module(ext.__name__ + ".nodes.loader")
schedule = import_module(ext.__name__ + ".pareto_core.schedule")
STRENGTH = 0.8
MID = torch.tensor([0.3, 0.7])
METHODS = ("soups", "blend", "msdda")


def run(patcher, family, x, sigma, kwargs, cond_or_uncond=None, msdda_flag=False):
    """patcher.model.apply_model with its wrappers (as sampling merges them): the denoised x0."""
    import comfy.model_management
    import comfy.patcher_extension
    comfy.model_management.load_models_gpu([patcher])
    options = comfy.patcher_extension.copy_nested_dicts(patcher.model_options.get("transformer_options", {}))
    comfy.patcher_extension.merge_nested_dicts(options.setdefault("wrappers", {}), patcher.wrappers, copy_dict1=False)
    options["cond_or_uncond"] = cond_or_uncond or [0]
    if msdda_flag:
        options[multi.MSDDA_FLAG] = True
    sig = torch.full((x.shape[0],), float(sigma))
    with torch.no_grad():
        return patcher.model.apply_model(x, sig, transformer_options=options, **kwargs).float()


def reference(model, lora, strength):
    import comfy.sd
    return comfy.sd.load_lora_for_models(model, None, lora, strength, 0)[0]


def lora_file(name: str, sd: dict):
    stamp = loader.FileStamp(f"/matrix/{name}", hash(name) & 0xFFFF, sum(t.numel() for t in sd.values()))
    return sliders.read_lora(name, stamp, sd)


def rel(a, b, effect):
    return float((a - b).abs().max() / effect)


def sample(patcher, family, sampler=None, seed=3):
    """A 2-step run (euler, cfg 2, or the given SAMPLER via sample_custom)."""
    import comfy.sample
    import comfy.samplers
    pos, neg = tiny_families.conds(family, seed)
    noise = tiny_families.latent(family, 1, seed)
    latent = noise * 0
    if sampler is None:
        out = comfy.sample.sample(patcher, noise, 2, 2.0, "euler", "simple", pos, neg, latent,
                                  disable_pbar=True, seed=seed)
    else:
        sigmas = comfy.samplers.calculate_sigmas(patcher.get_model_object("model_sampling"), "simple", 2)
        out = comfy.sample.sample_custom(patcher, noise, 2.0, sampler, sigmas, pos, neg, latent,
                                         disable_pbar=True, seed=seed)
    parts = getattr(out, "tensors", None)        # LTX-2: a NestedTensor of [video, audio] latents
    return torch.cat([t.flatten() for t in parts]).float() if parts is not None else out.float()


def check_format(model, family, fmt) -> dict | None:
    lora_a = lora_formats.make_lora(model, fmt, seed=11)
    lora_b = lora_formats.make_lora(model, fmt, seed=22, subset=True)
    if not lora_a or not lora_b:
        return None                                    # the family's key map has no such names
    ref_a, ref_b = (lora_formats.as_comfy_dora(lora_a), lora_formats.as_comfy_dora(lora_b))
    files = (lora_file(f"{family}_{fmt}_a", lora_a), lora_file(f"{family}_{fmt}_b", lora_b))
    x, kwargs = tiny_families.inputs(family, 2, seed=5)
    sigma = float(model.get_model_object("model_sampling").percent_to_sigma(0.4))
    base = run(model, family, x, sigma, kwargs)
    alone = [run(reference(model, lo, STRENGTH), family, x, sigma, kwargs) for lo in (ref_a, ref_b)]
    chained = run(reference(reference(model, ref_a, MID[0].item() * STRENGTH), ref_b, MID[1].item() * STRENGTH),
                  family, x, sigma, kwargs)
    effect = min(float((a - base).abs().max()) for a in alone)
    cu = [0, 1]      # cond and uncond chunks: a batch of 2 is sample 0 of each chunk... use per-row ω below
    rows_omega = torch.stack([MID, torch.tensor([1.0, 0.0])])
    out = {"_effect": effect / float(base.abs().max())}
    sched = schedule.parse_keypoints(f"{sigma * 1.25}: 0.5, 0.5\n{sigma * 0.75}: 0.1, 0.9", "sigma")
    for method in METHODS:
        flag = method == "msdda"
        slider = sliders.LoraSlider(method, files, ["a", "b"], STRENGTH)
        r = {}
        for i in range(2):
            ours = run(apply_mod.apply_paretoslider(model, slider, torch.eye(2)[i]), family, x, sigma, kwargs,
                       msdda_flag=flag)
            r[f"vertex_{i}"] = rel(ours, alone[i], effect)
        want_mid = chained if method == "soups" else MID[0] * alone[0] + MID[1] * alone[1]
        r["middle"] = rel(run(apply_mod.apply_paretoslider(model, slider, MID), family, x, sigma, kwargs,
                              msdda_flag=flag), want_mid, effect)
        # per-sample ω (a sweep): row 0 at MID, row 1 at vertex 0, in one call
        ours = run(apply_mod.apply_paretoslider(model, slider, rows_omega), family, x, sigma, kwargs, msdda_flag=flag)
        r["rows"] = max(rel(ours[:1], want_mid[:1], effect), rel(ours[1:], alone[0][1:], effect))
        # the same two samples as cond and uncond chunks of one ω each
        ours = run(apply_mod.apply_paretoslider(model, slider, rows_omega[:1]), family, x, sigma, kwargs, cu,
                   msdda_flag=flag)
        r["cond_uncond"] = rel(ours, want_mid, effect)
        ours = run(apply_mod.apply_paretoslider(model, slider, sched), family, x, sigma, kwargs, msdda_flag=flag)
        r["schedule"] = rel(ours, want_mid, effect)
        out[method] = r
    return out


def check_sampling(model, family, fmt) -> dict:
    """A short sampler run at a vertex agrees with LoraLoaderModelOnly (msdda with its sampler)."""
    lora_a = lora_formats.make_lora(model, fmt, seed=11)
    lora_b = lora_formats.make_lora(model, fmt, seed=22, subset=True)
    files = (lora_file(f"{family}_{fmt}_a", lora_a), lora_file(f"{family}_{fmt}_b", lora_b))
    ref = reference(model, lora_formats.as_comfy_dora(lora_a), STRENGTH)
    base = sample(model, family)
    want = sample(ref, family)
    effect = float((want - base).abs().max())
    out = {}
    for method in ("soups", "blend"):
        ours = sample(apply_mod.apply_paretoslider(model, sliders.LoraSlider(method, files, ["a", "b"], STRENGTH),
                                                   torch.tensor([1.0, 0.0])), family)
        out[method] = rel(ours, want, effect)
    sampler = msdda.ParetoSliderMSDDASampler.execute(eta=0.7).result[0]
    want = sample(ref, family, sampler)
    ours = sample(apply_mod.apply_paretoslider(model, sliders.LoraSlider("msdda", files, ["a", "b"], STRENGTH),
                                               torch.tensor([1.0, 0.0])), family, sampler)
    out["msdda"] = rel(ours, want, float((want - sample(model, family, sampler)).abs().max()))
    return out


def main():
    families = sys.argv[4:] or list(tiny_families.FAMILIES)
    results: dict = {"_seconds": {}}
    for family in families:
        t0 = time.perf_counter()
        model = tiny_families.build(family, seed=0)
        fam = {}
        for fmt in lora_formats.FORMATS:
            got = check_format(model, family, fmt)
            if got is not None:
                got["sampling"] = check_sampling(model, family, fmt)
                fam[fmt] = got
        results[family] = fam
        results["_seconds"][family] = round(time.perf_counter() - t0, 1)
        print(family, results["_seconds"][family], "s", {f: round(max(v for m in METHODS for v in r[m].values()), 8)
                                                          for f, r in fam.items()}, file=sys.stderr, flush=True)
    Path(out_path).write_text(json.dumps(results, indent=1))


main()

"""Runtime cost of ParetoSlider inside a real ComfyUI (tiny random SD3, realistic latent size).

    COMFYUI_DIR=... COMFYUI_PYTHON=... .venv/bin/python -m bench.runtime [--size 512]   (from the repo root)

Measures in one run and writes bench/results/runtime.json:
- per_step_ratio: one model call (cond+uncond batch) patched / base; in-process, interleaved, medians.
- requeue_ratio: server re-queue with a new ω (+ new seed) / re-queue with the same ω (new seed only).
  Both re-sample; the difference is what moving the slider costs (no reload, no LoRA re-patch).
- sweep_ratio: 8 ω as one sweep batch of 8 / 8 separate runs of one ω each.
- lora_strength_requeue_ratio: the same re-queue ratio for a LoRA-strength change through
  ComfyUI's own LoraLoaderModelOnly (it re-patches the weights), for comparison.
- sweep_ratio_default_threads: sweep_ratio again on a server with ComfyUI's default threads.
- methods (issue 13, bench/runtime_methods.py, in-process): per-step / base and re-queue-new-ω /
  re-queue-same-ω for ParetoSlider, the LoRA slider's soups / blend / msdda and ComfyUI's
  LoraLoader strength change, on the tiny SD3 and at real width: `real_width` a random-weight
  MMDiT with SD3.5 Medium's config (bf16, 64 px latent, 16 text tokens), `real_width_sdxl` a
  random-weight SDXL UNet from SDXL's config (bf16, 256 px, 77 tokens, kohya LoRAs; no trained
  file for SDXL); real_width_per_step_ratio and real_width_requeue_ratio are ParetoSlider's at
  SD3.5-M width (targets 1.02 / 1.05). lora_slider_apply_s: the Apply node cold (LoRA updates
  built) and at a new ω (cached), and the update builds during re-queues (0).
- lora_formats_blend: LoKr, LoHa and DoRA in blend at SD3.5-M width against a plain LoRA of the
  same layers: how they run (factored / dense), per-step cost, build time, memory.

    --methods-only [--scales tiny,real_width,real_width_sdxl,lora_formats]: runs only those
    in-process parts and merges their keys into the existing --out file (the server keys stay).
Run times come from the server's own execution_start / execution_success timestamps. Everything
except the last line runs with one intra-op thread (see THREAD_ENV) and PyTorch attention.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# PyTorch SDPA attention, as ComfyUI uses on GPUs (its CPU default is slower sub-quadratic
# attention, which would hide the injection's cost behind a slower model call).
COMFY_ARGS = ("--use-pytorch-cross-attention",)
# One intra-op thread: on a shared CPU, OpenMP threads spin-waiting on busy cores make single
# runs 10-30x slower at random, which buries a 2% effect. Ratios are what we report.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def per_step_inprocess(base: Path, size: int, calls: int) -> dict:
    """Runs under ComfyUI's python: interleave base and patched model calls, take medians."""
    from testsupport.comfy.comfy_inprocess import comfy_setup, denoise, import_extension, load_model, load_slider
    comfy_setup(os.environ["COMFYUI_DIR"], COMFY_ARGS)
    import torch
    from importlib import import_module
    ext = import_extension(REPO)
    apply = import_module(ext.__name__ + ".nodes.apply")
    model = load_model(base / "models/diffusion_models/tiny_sd3.safetensors")
    slider = load_slider(ext, base / "models/paretoslider/tiny_sd3_slider.safetensors")
    # Weight patches are applied when a patcher is loaded; compare steps, not loads: both run with
    # the base weights so only the ω injection differs (the LoRA costs nothing per step once merged).
    patched_no_lora = apply.apply_paretoslider(model, slider, torch.tensor([0.3, 0.7]), lora_strength=0.0)
    g = torch.Generator().manual_seed(0)
    lat = size // 8
    x = torch.randn(2, 16, lat, lat, generator=g)
    ctx = torch.randn(2, 77, 64, generator=g)
    pooled = torch.randn(2, 32, generator=g)
    times = {"base": [], "patched": []}
    variants = {"base": model, "patched": patched_no_lora}
    denoise(model, x, 0.5, ctx, pooled, None, [0, 1])  # load once, as a sampling run does
    for _ in range(3):
        for m in variants.values():
            denoise(m, x, 0.5, ctx, pooled, None, [0, 1], load=False)
    for i in range(calls):
        order = ("base", "patched") if i % 2 == 0 else ("patched", "base")  # ABBA: no order bias
        for name in order:
            t0 = time.perf_counter()
            denoise(variants[name], x, 0.5, ctx, pooled, None, [0, 1], load=False)
            times[name].append(time.perf_counter() - t0)
    overhead = injection_overhead_s(patched_no_lora, x)
    b, p = statistics.median(times["base"]), statistics.median(times["patched"])
    return {"base_s": b, "patched_s": p, "ratio": paired_ratio(times["patched"], times["base"]),
            "ratio_of_medians": p / b, "ratio_of_minimums": min(times["patched"]) / min(times["base"]),
            "injection_overhead_ms": overhead * 1e3, "injection_overhead_fraction": overhead / b,
            "calls": calls, "latent": [2, 16, lat, lat],
            "torch_threads": torch.get_num_threads()}


def injection_overhead_s(patched, x, n: int = 2000) -> float:
    """Seconds per model call spent in the ω wrapper itself (rows, ω MLP, hook add/remove), timed
    around a model call that returns at once: the deterministic part of per_step_ratio."""
    import torch
    (injector,) = [w for ws in patched.wrappers["apply_model"].values() for w in ws]

    class Instant:  # stands in for ComfyUI's WrapperExecutor
        class_obj = patched.model

        def __call__(self, *args, **kwargs):
            return args[0]
    options = {"cond_or_uncond": [0, 1]}
    t = torch.full((x.shape[0],), 0.5)
    for _ in range(50):
        injector(Instant(), x, t, None, None, None, options)
    t0 = time.perf_counter()
    for _ in range(n):
        injector(Instant(), x, t, None, None, None, options)
    return (time.perf_counter() - t0) / n


def paired_ratio(numer: list[float], denom: list[float]) -> float:
    """Median of per-pair ratios of interleaved runs: robust to load that drifts over the run."""
    return statistics.median(n / d for n, d in zip(numer, denom))


def exec_seconds(result) -> float:
    stamps = {kind: data.get("timestamp") for kind, data in result.messages}
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000.0


def server_measurements(client, size: int, steps: int, repeats: int, sweep_n: int) -> dict:
    from testsupport.comfy.comfy_client import graph
    slider = "tiny_sd3_slider.safetensors"
    seed = iter(range(1000, 100000))
    run = runner(client)

    def pref(i: int) -> str:
        a = (i * 0.137) % 1.0
        return f"{a:.3f}, {1 - a:.3f}"

    common = dict(size=size, steps=steps, prefix="bench")
    # warm up: model load, LoRA patch, first-call allocations
    for _ in range(2):
        run(graph("sd3", slider=slider, preference=pref(0), seed=next(seed), **common))
    same_omega, new_omega = [], []
    for i in range(repeats):
        same_omega.append(run(graph("sd3", slider=slider, preference=pref(i), seed=next(seed), **common)))
        new_omega.append(run(graph("sd3", slider=slider, preference=pref(i + 1), seed=next(seed), **common)))

    lora = {"name": "tiny_sd3_lora.safetensors"}
    strengths = [1.0, 0.9]
    for _ in range(2):
        run(graph("sd3", lora_loader={**lora, "strength": strengths[0]}, seed=next(seed), **common))
    same_strength, new_strength = [], []
    for i in range(repeats):
        s = strengths[i % 2]
        same_strength.append(run(graph("sd3", lora_loader={**lora, "strength": s}, seed=next(seed), **common)))
        new_strength.append(run(graph("sd3", lora_loader={**lora, "strength": strengths[(i + 1) % 2]},
                                      seed=next(seed), **common)))

    sweep = measure_sweep(run, size, steps, max(2, repeats // 4), sweep_n, seed)
    med = statistics.median
    return {
        "requeue": {"same_omega_s": med(same_omega), "new_omega_s": med(new_omega),
                    "ratio": paired_ratio(new_omega, same_omega), "samples": repeats,
                    "extra_s": statistics.median(n - s for n, s in zip(new_omega, same_omega))},
        "lora_strength": {"same_strength_s": med(same_strength), "new_strength_s": med(new_strength),
                          "ratio": paired_ratio(new_strength, same_strength), "samples": repeats,
                          "extra_s": statistics.median(n - s for n, s in zip(new_strength, same_strength))},
        "sweep": sweep,
    }


def measure_sweep(run, size: int, steps: int, repeats: int, sweep_n: int, seed) -> dict:
    """One graph whose latent batch carries sweep_n preferences vs sweep_n graphs of one each."""
    from testsupport.comfy.comfy_client import graph
    slider = "tiny_sd3_slider.safetensors"
    common = dict(size=size, steps=steps, prefix="bench")
    run(graph("sd3", slider=slider, sweep={"steps": sweep_n}, seed=next(seed), **common))  # warm-up
    sweep_batch, separate = [], []
    for _ in range(repeats):
        sweep_batch.append(run(graph("sd3", slider=slider, sweep={"steps": sweep_n}, seed=next(seed), **common)))
        total = 0.0
        for i in range(sweep_n):
            a = i / (sweep_n - 1)
            total += run(graph("sd3", slider=slider, preference=f"{1 - a:.4f}, {a:.4f}", seed=next(seed), **common))
        separate.append(total)
    return {"batch_s": statistics.median(sweep_batch), "separate_s": statistics.median(separate),
            "ratio": paired_ratio(sweep_batch, separate), "n": sweep_n, "repeats": repeats}


def runner(client):
    def run(g) -> float:
        r = client.run(g)
        if not r.ok:
            raise RuntimeError(r.error)
        return exec_seconds(r)
    return run


def run_methods(root: Path, scale: str, extra: list[str]) -> dict:
    """bench/runtime_methods.py under ComfyUI's python, one intra-op thread."""
    from testsupport.comfy.comfy_server import comfy_dir, comfy_env, comfy_python
    print(f"methods at {scale} ...", flush=True)
    t0 = time.time()
    proc = subprocess.run([comfy_python(), str(REPO / "bench" / "runtime_methods.py"), str(root), scale, *extra],
                          stdout=subprocess.PIPE, text=True,
                          env=comfy_env({**THREAD_ENV, "COMFYUI_DIR": str(comfy_dir())}))
    if proc.returncode != 0:
        sys.exit(f"runtime_methods.py {scale} failed ({proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.time() - t0, 1)
    return out


SCALES = ("tiny", "real_width", "real_width_sdxl", "lora_formats")


def run_scales(root: Path, args, scales) -> tuple[dict, dict | None]:
    """The in-process parts, one subprocess each (never two real-width models in memory at once):
    (methods by scale, LoRA formats in blend or None)."""
    methods, formats = {}, None
    real = ["--steps", str(args.real_steps), "--repeats", str(args.real_repeats), "--blocks", str(args.real_blocks),
            "--calls", "3"]
    if "tiny" in scales:
        methods["tiny"] = run_methods(root, "tiny", ["--size", str(args.size), "--steps", str(args.steps),
                                                     "--repeats", str(args.repeats), "--blocks", "8", "--calls", "10"])
    if "real_width" in scales:
        only = ["--methods", args.methods] if getattr(args, "methods", None) else []
        methods["real_width"] = run_methods(root, "real", ["--size", "64", "--tokens", "16", *real, *only])
    if "real_width_sdxl" in scales:
        methods["real_width_sdxl"] = run_methods(root, "sdxl", ["--size", str(args.sdxl_size), "--tokens", "77",
                                                                "--methods", "soups,blend,msdda,lora_loader", *real])
    if "lora_formats" in scales:
        formats = run_methods(root, "formats", ["--size", "64", "--tokens", "16", "--blocks", str(args.real_blocks),
                                                "--calls", "3"])
    return methods, formats


def method_keys(methods: dict) -> dict:
    """The top-level keys: ratios by scale and method, ParetoSlider's at real width, the Apply
    node's cost of the LoRA slider methods."""
    out = {"methods_per_step_ratio": {}, "methods_requeue_ratio": {}, "lora_slider_apply_s": {}}
    for scale, m in methods.items():
        out["methods_per_step_ratio"][scale] = {k: round(v["per_step"]["ratio"], 4) for k, v in m["methods"].items()}
        out["methods_requeue_ratio"][scale] = {k: round(v["requeue"]["ratio"], 4) for k, v in m["methods"].items()}
        out["lora_slider_apply_s"][scale] = {
            k: {"cold": round(v["requeue"]["apply_cold_s"], 4),
                "new_omega": round(v["requeue"]["apply_new_omega_s"], 4),
                "update_builds_in_requeues": v["requeue"]["update_builds_in_requeues"]}
            for k, v in m["methods"].items() if "apply_cold_s" in v["requeue"]}
    if "paretoslider" in methods.get("real_width", {}).get("methods", {}):
        ps = methods["real_width"]["methods"]["paretoslider"]
        out["real_width_per_step_ratio"] = round(ps["per_step"]["ratio"], 4)
        out["real_width_requeue_ratio"] = round(ps["requeue"]["ratio"], 4)
    return out


def format_keys(formats: dict) -> dict:
    """lora_formats_blend: per format, how its updates run and what blend costs with them."""
    out = {}
    for fmt, f in formats["formats"].items():
        row = {"runs": "/".join(f"{n} {k}" for k, n in f["kinds"].items()), "adapter": "/".join(f["adapters"]),
               "updates_MiB": round(f["updates_bytes"] / 2**20, 1),
               "device_copies_MiB": round(f["device_copy_bytes"] / 2**20, 1),
               "touched_weights_MiB": round(f["touched_weights_bytes"] / 2**20, 1),
               "rss_growth_MiB": round(f["rss_growth_build_and_place_bytes"] / 2**20),
               "apply_cold_s": round(f["apply_cold_s"], 3), "apply_new_omega_s": round(f["apply_new_omega_s"], 4)}
        if "per_step" in f:
            ps = f["per_step"]
            row.update(per_step_ratio_vs_base=round(ps["ratio_vs_base"], 4),
                       per_step_ratio_vs_plain_lora=round(ps["ratio_vs_plain_lora"], 4),
                       plain_lora_per_step_ratio_vs_base=round(ps["plain_lora_ratio_vs_base"], 4))
        out[fmt] = row
    return {"lora_formats_blend": out}


def git_state() -> dict:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "bench", "nodes", "pareto_core"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return {"commit": head, "uncommitted_changes": bool(dirty)}
    except (OSError, subprocess.CalledProcessError):
        return {}


NAMES = {"paretoslider": "ParetoSlider file", "soups": "LoRA slider: soups", "blend": "LoRA slider: blend",
         "msdda": "LoRA slider: msdda", "lora_loader": "LoraLoader strength change"}


def cost_table(methods: dict) -> str:
    """The README's markdown table."""
    scales = list(methods)
    head = "| method | " + " | ".join(f"{s}: per step / base | {s}: re-queue new ω / same ω" for s in scales) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(scales))]
    for k, name in NAMES.items():
        cells = []
        for s in scales:
            m = methods[s]["methods"].get(k)
            cells += [f"{m['per_step']['ratio']:.3f}", f"{m['requeue']['ratio']:.3f} ({m['requeue']['extra_s']:+.2f} s)"] \
                if m else ["–", "–"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


METHOD_NOTES = [
    "methods_*: in-process (bench/runtime_methods.py); requeue = the Apply node's work (reused when "
    "its inputs did not change, as ComfyUI's cache does) + sampling; blend and msdda run both LoRAs "
    "per step in one batch of twice the rows; soups re-patch the weights when ω moves.",
    "real_width_sdxl: a random-weight SDXL UNet (ComfyUI's classes, SDXL's unet config), kohya LoRAs on "
    "the transformer blocks' attention Linears; no ParetoSlider row (trained files: SD3 / Flux / LTX-2).",
    "lora_slider_apply_s: the Apply node alone for soups / blend / msdda, cold (LoRA updates built from "
    "ComfyUI's key map and adapters) and at a new ω (updates cached per input model and file), and the "
    "update builds counted during the timed re-queues.",
    "lora_formats_blend: two LoRAs per format (testsupport/comfy/lora_formats.make_lora, rank 4, kohya "
    "names) on the SD3.5-M joint blocks' attention Linears; LoRA / LoKr run factored (ComfyUI's bypass "
    "h(x)), LoHa / DoRA as a dense ΔW per layer (the touched weights' size, model dtype, per LoRA).",
]


def merge_methods(results: dict, methods: dict, formats: dict | None) -> dict:
    """The new in-process measurements into a recorded runtime.json, method by method: a scale rerun
    for some methods (--methods) keeps its other methods' records."""
    keys = method_keys(methods)
    for k in ("methods_per_step_ratio", "methods_requeue_ratio", "lora_slider_apply_s"):
        for scale, per_method in keys.pop(k).items():
            results.setdefault(k, {}).setdefault(scale, {}).update(per_method)
    results.update(keys)                                       # real_width_* (ParetoSlider's) when it ran
    if formats:
        results.update(format_keys(formats))
    details = results.setdefault("details", {})
    for scale, run in methods.items():                         # the scale's setup, its methods merged
        old = details.setdefault("methods", {}).get(scale, {})
        details["methods"][scale] = {**run, "methods": {**old.get("methods", {}), **run["methods"]}}
    if formats:
        details["lora_formats_blend"] = formats
    return results


def methods_only(args) -> None:
    """The in-process parts alone (--scales), merged into the existing --out: the server-measured
    keys and the scales not rerun stay as they were."""
    from testsupport.comfy.comfy_server import comfy_dir, make_base_dir
    if comfy_dir() is None:
        sys.exit("set COMFYUI_DIR to a ComfyUI checkout (and COMFYUI_PYTHON to its python)")
    scales = [x for x in args.scales.split(",") if x]
    unknown = set(scales) - set(SCALES)
    if unknown:
        sys.exit(f"unknown scales {sorted(unknown)}; choose from {SCALES}")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="paretoslider_bench_") as tmp:
        root = Path(tmp)
        make_base_dir(root)
        methods, formats = run_scales(root, args, scales)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    merge_methods(results, methods, formats)
    notes = results.setdefault("notes", [])
    for note in METHOD_NOTES:
        if note not in notes:
            notes.append(note)
    details = results["details"]
    results.setdefault("setup", {})["methods_run"] = {
        "scales": scales, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_s": round(time.time() - t0, 1),
        "env": THREAD_ENV, "comfy_args": ["--cpu", *COMFY_ARGS], "machine": platform.machine(),
        "cpus": os.cpu_count(), "sdxl_size": args.sdxl_size, "real_steps": args.real_steps,
        "real_repeats": args.real_repeats, "real_blocks": args.real_blocks, "methods": args.methods or "all",
        **git_state(), **({"commit": args.commit} if args.commit else {})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if methods:
        print(cost_table(details["methods"]))
    if formats:
        print(json.dumps(format_keys(formats), indent=1, ensure_ascii=False))
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="image size in pixels (latent = size / 8)")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps per queued graph (KSampler's default)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--calls", type=int, default=80, help="model calls per variant for per_step_ratio")
    ap.add_argument("--sweep", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "runtime.json")
    ap.add_argument("--per-step-only", type=Path, help=argparse.SUPPRESS)  # internal: ComfyUI's python
    ap.add_argument("--real-steps", type=int, default=4, help="sampler steps per re-queue at real width")
    ap.add_argument("--real-repeats", type=int, default=6)
    ap.add_argument("--real-blocks", type=int, default=6, help="alternating blocks of model calls (per step)")
    ap.add_argument("--sdxl-size", type=int, default=256, help="image size at SDXL width (latent = size / 8)")
    ap.add_argument("--no-real-width", action="store_true",
                    help="skip the real-width models (2.2-2.6 B parameters, ~5-11 GiB each, one at a time)")
    ap.add_argument("--methods-only", action="store_true",
                    help="run only the in-process method / format parts (--scales) and merge their keys into --out")
    ap.add_argument("--scales", default=",".join(SCALES), help="with --methods-only: which of " + ", ".join(SCALES))
    ap.add_argument("--methods", default="", help="with --methods-only at real_width: only these methods "
                    "(comma-separated, bench/runtime_methods.py's names), merged into the recorded others")
    ap.add_argument("--commit", help="the commit the code was exported from (when REPO is no git checkout)")
    args = ap.parse_args()
    if args.per_step_only:
        print(json.dumps(per_step_inprocess(args.per_step_only, args.size, args.calls)))
        return
    if args.methods_only:
        methods_only(args)
        return

    from testsupport.comfy.comfy_client import ComfyClient
    from testsupport.comfy.comfy_server import comfy_dir, comfy_env, comfy_python, make_base_dir, start_server, stop_server
    if comfy_dir() is None:
        sys.exit("set COMFYUI_DIR to a ComfyUI checkout (and COMFYUI_PYTHON to its python)")
    with tempfile.TemporaryDirectory(prefix="paretoslider_bench_") as tmp:
        root = Path(tmp)
        make_base_dir(root)
        print("per-step (in-process) ...", flush=True)
        proc = subprocess.run([comfy_python(), __file__, "--per-step-only", str(root), "--size", str(args.size),
                               "--calls", str(args.calls)], capture_output=True, text=True,
                              env=comfy_env({**THREAD_ENV, "COMFYUI_DIR": str(comfy_dir())}))
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        per_step = json.loads(proc.stdout.strip().splitlines()[-1])
        print("server re-queue / sweep / LoraLoader ...", flush=True)
        server, url, _ = start_server(root, COMFY_ARGS, THREAD_ENV)
        try:
            measured = server_measurements(ComfyClient(url, root), args.size, args.steps, args.repeats, args.sweep)
        finally:
            stop_server(server)
        # The sweep again with ComfyUI's default threads: batching pays off through parallelism
        # (all cores on a CPU, the whole GPU), which one thread cannot show.
        print("sweep with default threads ...", flush=True)
        server, url, _ = start_server(root, COMFY_ARGS)
        try:
            measured["sweep_default_threads"] = measure_sweep(
                runner(ComfyClient(url, root)), args.size, args.steps, max(2, args.repeats // 4), args.sweep,
                iter(range(500000, 600000)))
        finally:
            stop_server(server)
        methods, formats = run_scales(root, args, SCALES if not args.no_real_width else ("tiny",))
    results = {
        "per_step_ratio": round(per_step["ratio"], 4),
        "requeue_ratio": round(measured["requeue"]["ratio"], 4),
        "sweep_ratio": round(measured["sweep"]["ratio"], 4),
        "lora_strength_requeue_ratio": round(measured["lora_strength"]["ratio"], 4),
        "sweep_ratio_default_threads": round(measured["sweep_default_threads"]["ratio"], 4),
        **method_keys(methods),
        **(format_keys(formats) if formats else {}),
        "targets": {"per_step_ratio": 1.02, "requeue_ratio": 1.05, "sweep_ratio": 0.5,
                    "real_width_per_step_ratio": 1.02, "real_width_requeue_ratio": 1.05},
        "notes": [
            "per_step_ratio is timing noise around the wrapper's own cost, details.per_step."
            "injection_overhead_fraction (ω MLP + hook add/remove per model call, timed alone).",
            "sweep_ratio: on a CPU a batch of 8 costs what 8 samples cost (compute-bound, one "
            "thread), so it cannot reach 0.5 here; the target is a GPU property.",
            "sweep_ratio_default_threads: 2 threads on a shared 2-core machine; the single runs "
            "suffer more from thread oversubscription than the batch, so this flatters the sweep.",
            "lora_strength_requeue_ratio: re-patching a 9 MB tiny model's LoRA costs milliseconds; "
            "on a real model it is what ParetoSlider's cached LoRA clone avoids.",
            *METHOD_NOTES,
        ],
        "details": {"per_step": per_step, **measured, "methods": methods,
                    **({"lora_formats_blend": formats} if formats else {})},
        "setup": {"model": "tiny random SD3 (2 joint blocks, width 128)", "image_size": args.size,
                  "steps": args.steps, "device": "cpu", "comfy_args": ["--cpu", *COMFY_ARGS], "env": THREAD_ENV, "machine": platform.machine(),
                  "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                  **git_state(), **({"commit": args.commit} if args.commit else {})},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for k in ("per_step_ratio", "requeue_ratio", "sweep_ratio", "lora_strength_requeue_ratio",
              "sweep_ratio_default_threads", "real_width_per_step_ratio", "real_width_requeue_ratio"):
        print(f"{k}: {results.get(k)}")
    print(cost_table(methods))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

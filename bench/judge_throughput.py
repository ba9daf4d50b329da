"""Throughput of the vlm_judge reward: images scored per second, one by one vs concurrent requests
that the server batches.

    python -m bench.judge_throughput                       # the tiny random Qwen2-VL, served locally
    python -m bench.judge_throughput --url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-VL-7B-Instruct

Without --url it builds the tests' tiny Qwen2-VL (testsupport/vlm_server.py) and starts two
local OpenAI-compatible servers for it: one that answers one request per forward pass (batch 1) and
one that batches up to --max-batch concurrent requests into one forward pass, as vLLM / SGLang do.
Each run scores --images fresh edit pairs (source + edited image, the recipe's instruction question)
with a new reward (no cache), after a warm-up. Printed: requests, seconds, images/s, and the mean
batch the server ran. The tiny model measures the client and serving overhead, not a 7B model's
compute (docs/REWARDS_AND_EVAL.md estimates that).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import torch


TEMPLATE = ('Here are two images: the original (first) and the edited version (second).\n'
            'Edit instruction: "{prompt}"\nRequirement: the edit must follow the instruction strictly.\n'
            'Rate the edited image from 0 to 5 on this requirement.\nAnswer with the single digit only.')


def batches(url: str) -> list[int] | None:
    try:
        with urllib.request.urlopen(url.replace("/v1", "/stats"), timeout=5) as resp:
            return json.loads(resp.read())["batches"]
    except Exception:       # noqa: BLE001 — a real server has no /stats
        return None


def score_run(url: str, model: str, n: int, size: int, concurrency: int, seed: int, top_logprobs: int) -> dict:
    from trainer.rewards import build_reward
    r = build_reward({"id": "vlm_judge", "base_url": url, "model": model, "images": ["source", "image"],
                      "answers": [str(d) for d in range(6)], "score": "expected", "template": TEMPLATE,
                      "top_logprobs": top_logprobs, "concurrency": concurrency, "timeout": 300})
    g = torch.Generator().manual_seed(seed)
    src = torch.rand(n, 3, size, size, generator=g)
    edited = (src + 0.3 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)
    before = batches(url)
    t0 = time.perf_counter()
    scores = r(edited, ["add snow"] * n, src)
    dt = time.perf_counter() - t0
    after = batches(url)
    ran = after[len(before):] if before is not None and after is not None else []
    assert scores.shape == (n,) and r.requests_sent == n
    return {"requests": n, "seconds": dt, "images_per_s": n / dt,
            "mean_batch": (sum(ran) / len(ran)) if ran else None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="an existing server's OpenAI API root (default: start the tiny local ones)")
    ap.add_argument("--model", default=None, help="the served model name (with --url)")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=64, help="image side in pixels")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-batch", type=int, default=8, help="the local batching server's batch limit")
    ap.add_argument("--top-logprobs", type=int, default=None,
                    help="default: 20 with --url, the whole vocabulary (300) for the random local model")
    ap.add_argument("--hidden", type=int, default=64, help="the local model's text width")
    ap.add_argument("--layers", type=int, default=2, help="the local model's text layers")
    ap.add_argument("--max-pixels", type=int, default=56 * 56, help="the local model's image size limit")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each local server")
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args(argv)
    if a.top_logprobs is None:
        a.top_logprobs = 20 if a.url else 300
    results = {}
    with ExitStack() as stack:
        if a.url:
            servers = {"server": (a.url, a.model)}
        else:
            from testsupport.vlm_server import SERVED_NAME, make_tiny_qwen2_vl, running_server
            folder = make_tiny_qwen2_vl(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tiny_qwen2_vl",
                                        max_pixels=a.max_pixels, hidden=a.hidden, layers=a.layers)
            servers = {"batch 1": (stack.enter_context(running_server(folder, max_batch=1, max_logprobs=1000,
                                                                  threads=a.threads)),
                                   SERVED_NAME),
                       f"batch <= {a.max_batch}": (stack.enter_context(
                           running_server(folder, max_batch=a.max_batch, max_logprobs=1000, threads=a.threads)), SERVED_NAME)}
        runs = []
        for label, (url, model) in servers.items():
            runs.append((f"one by one ({label} server)", url, model, 1))
            runs.append((f"{a.concurrency} concurrent ({label} server)", url, model, a.concurrency))
        for label, url, model, conc in runs:
            score_run(url, model, min(8, a.images), a.size, conc, 999, a.top_logprobs)      # warm-up
            results[label] = score_run(url, model, a.images, a.size, conc, 0, a.top_logprobs)
    base = next(iter(results.values()))["images_per_s"]
    print(f"{'run':<40} {'requests':>8} {'seconds':>8} {'images/s':>9} {'speed-up':>8} {'server batch':>12}")
    for label, r in results.items():
        mb = f"{r['mean_batch']:.1f}" if r["mean_batch"] is not None else "-"
        print(f"{label:<40} {r['requests']:>8} {r['seconds']:>8.2f} {r['images_per_s']:>9.1f} "
              f"{r['images_per_s'] / base:>7.1f}x {mb:>12}")
    if a.out:
        Path(a.out).write_text(json.dumps({"args": vars(a), "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()

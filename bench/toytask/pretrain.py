"""Pretrain the toy base model by flow matching on the procedural images.

    python -m bench.toytask.pretrain            # writes bench/toytask/base/toy_base.safetensors

Reproduces the committed base: seed 0, 1500 steps, batch 64, AdamW (lr 1e-3, 200 warm-up steps,
cosine to 1e-4), logit-normal sigmas, EMA 0.999 of the weights with warm-up (the EMA is what is saved),
1 torch thread on CPU (~8-9 minutes on a free core; the committed file took 17 minutes on a
busy machine, log in bench/toytask/base/pretrain.log). The same torch version (2.13.0+cpu) and
thread count should reproduce it bit for bit (not verified byte for byte: three earlier runs with
other step counts, with 1 and 2 threads, logged identical losses over their shared first 300
steps); any run gives an equivalent base.
Rectified flow as in SD3: x_t = (1 - s) x0 + s n, the model predicts v = n - x0.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch

from bench.toytask import data
from trainer.backbones.toy import (
    DEFAULT_BASE,
    DEFAULT_CONFIG,
    DEFAULT_TOKENS,
    PROMPTS,
    ToyTextEncoder,
    build_transformer,
    save_toy_base,
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_BASE))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--save-every", type=int, default=500, help="also write <out>.partial.safetensors")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    config = dict(DEFAULT_CONFIG)
    model = build_transformer(config)
    text = ToyTextEncoder(len(PROMPTS), DEFAULT_TOKENS, config["joint_attention_dim"], config["pooled_projection_dim"])
    ema_model, ema_text = copy.deepcopy(model).requires_grad_(False), copy.deepcopy(text).requires_grad_(False)
    params = list(model.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warm = 200

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        p = (step - warm) / max(1, args.steps - warm)
        return 1e-4 + 0.5 * (args.lr - 1e-4) * (1 + math.cos(math.pi * p))

    t0 = time.time()
    avg = None
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        images, labels = data.batch(args.batch, gen)
        x0 = images * 2 - 1
        noise = torch.randn(x0.shape, generator=gen)
        sigma = torch.sigmoid(torch.randn(args.batch, generator=gen))       # logit-normal(0, 1)
        s = sigma[:, None, None, None]
        x_t = (1 - s) * x0 + s * noise
        tokens, pooled = text(labels)
        v = model(hidden_states=x_t, encoder_hidden_states=tokens, pooled_projections=pooled,
                  timestep=sigma * 1000, return_dict=False)[0]
        loss = (v - (noise - x0)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))     # EMA warm-up: forget the random init
        with torch.no_grad():
            for e, p in zip(list(ema_model.parameters()) + list(ema_text.parameters()), params):
                e.lerp_(p, 1 - decay)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if args.save_every and step and step % args.save_every == 0:
            save_toy_base(Path(args.out).with_suffix(".partial.safetensors"), ema_model, ema_text, config,
                          {"pretrain": {"partial_step": step}})
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {avg:.4f}  lr {lr_at(step):.2e}  {time.time() - t0:6.0f}s", flush=True)

    extra = {"pretrain": {"seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
                          "ema": args.ema, "threads": args.threads, "torch": torch.__version__,
                          "final_loss": avg, "seconds": round(time.time() - t0, 1),
                          "command": "python -m bench.toytask.pretrain"}}
    out = save_toy_base(args.out, ema_model, ema_text, config, extra)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.0f}s")
    print(json.dumps(extra))


if __name__ == "__main__":
    main()

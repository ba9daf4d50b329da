"""Sample the toy base model with the benchmark's fixed noise and report what the benchmark sees.

    python -m bench.toytask.check_base [--path bench/toytask/base/toy_base.safetensors] [--png out.png]

Prints the base model's training rewards, held-out scores and fidelity (classifier probability
and accuracy of the prompt's shape+colour), and writes a grid: one row per prompt.
"""
from __future__ import annotations

import argparse
import json

import torch

from bench.toytask import classifier, evaluators, sampling
from trainer.backbones.toy import DEFAULT_BASE, ToyBackbone


@torch.no_grad()
def check(path=DEFAULT_BASE, png: str | None = None, per_prompt: int = 8, steps: int = 10) -> dict:
    bb = ToyBackbone(path)
    es = sampling.make_eval_set(bb, per_prompt, 1234)
    x = sampling.sample([(1.0, bb, [])], es, torch.tensor([0.5, 0.5]), bb.sigmas(steps))
    images = bb.decode(x)
    prob, acc = classifier.fidelity(classifier.load(), images, es.labels)
    out = {k: float(v(images, es.prompts).mean()) for k, v in evaluators.training_rewards().items()}
    out.update({k: float(v.mean()) for k, v in evaluators.heldout_scores(images).items()})
    out.update(fidelity=float(prob.mean()), accuracy=float(acc.mean()))
    if png:
        from trainer.evaluation.plots import image_strip
        image_strip(images, [p.split()[0][:1] + p.split()[1][:3] for p in es.prompts], tile=40,
                    max_columns=per_prompt * 2, title=f"toy base: fidelity {out['fidelity']:.3f}").save(png)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default=str(DEFAULT_BASE))
    ap.add_argument("--png", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(check(args.path, args.png), indent=1))


if __name__ == "__main__":
    main()

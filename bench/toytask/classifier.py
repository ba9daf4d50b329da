"""The fidelity measure: a small CNN that recognises the prompt's shape AND colour.

Independent of the training rewards and the held-out evaluators: it is trained only on the
procedural images (bench/toytask/data.py), with photometric augmentation (brightness, contrast,
saturation, gamma, noise), so a brighter or more saturated image of a red circle is still a red
circle, while a flat white field, a dark field or a wrong shape is not.
fidelity(image, prompt) = the classifier's probability of the prompt's class (12-way softmax).

    python -m bench.toytask.classifier     # writes bench/toytask/base/fidelity_classifier.safetensors
(seed 0, 1500 steps, batch 128, Adam 2e-3, 1 thread: about a minute).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from bench.toytask import data

DEFAULT_PATH = Path(__file__).resolve().parent / "base" / "fidelity_classifier.safetensors"


class ShapeColourNet(nn.Module):
    def __init__(self, classes: int = len(data.PROMPTS)):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.ReLU(),     # 8x8
            nn.Conv2d(64, 64, 3, padding=1, stride=2), nn.ReLU(),     # 4x4
            nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


def augment(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Photometric changes that keep shape and hue: what a benign edit may do."""
    b = images.shape[0]

    def u(lo, hi):
        return (lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=g))

    x = images
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(0.6, 1.4)                       # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(0.7, 1.3)                       # contrast
    x = x * u(0.75, 1.25) + u(-0.12, 0.12)                    # brightness
    x = x.clamp(0, 1) ** u(0.7, 1.4)                          # gamma
    x = x + 0.03 * torch.randn(x.shape, generator=g)          # noise
    return x.clamp(0, 1)


def train(steps: int = 1500, batch: int = 128, seed: int = 0, lr: float = 2e-3) -> ShapeColourNet:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = ShapeColourNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for step in range(steps):
        images, labels = data.batch(batch, g)
        loss = F.cross_entropy(net(augment(images, g)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - t0:5.0f}s", flush=True)
    return net.eval()


def load(path: str | Path = DEFAULT_PATH) -> ShapeColourNet:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fidelity classifier {path} not found; run `python -m bench.toytask.classifier`")
    net = ShapeColourNet()
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


@torch.no_grad()
def fidelity(net: ShapeColourNet, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: probability of the prompt's class, and whether the argmax is that class."""
    logits = net(images.float())
    prob = logits.softmax(-1).gather(1, labels[:, None]).squeeze(1)
    return prob, (logits.argmax(-1) == labels).float()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(DEFAULT_PATH))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = train(args.steps)
    g = torch.Generator().manual_seed(999)
    images, labels = data.batch(2048, g)
    p, acc = fidelity(net, images, labels)
    pa, acca = fidelity(net, augment(images, g), labels)
    print(f"held-out clean: p={p.mean():.3f} acc={acc.mean():.3f}; augmented: p={pa.mean():.3f} acc={acca.mean():.3f}")
    white = torch.ones(12, 3, 16, 16)
    print(f"flat white p={fidelity(net, white, torch.arange(12))[0].mean():.3f}, "
          f"flat dark p={fidelity(net, white * 0.05, torch.arange(12))[0].mean():.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

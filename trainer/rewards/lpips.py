"""LPIPS (Zhang et al. 2018, "v0.1" linear heads) in plain torch, from LOCAL weights.

Two weight files, both local:
- the backbone: torchvision's AlexNet / VGG16 ImageNet state dict (`features.<i>.weight` keys,
  e.g. alexnet-owt-7be5be79.pth or vgg16-397923af.pth), or a full LPIPS state dict that already
  holds `net.slice<k>.<i>.weight` keys;
- the linear heads: the lpips package's weights/v0.1/alex.pth or vgg.pth (`lin<k>.model.1.weight`).
`.pth` files are read with torch.load(weights_only=True); `.safetensors` also works.

The score is −LPIPS (higher = perceptually closer to the source): a fidelity reward for editing.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from .clip import load_state_dict_file, require_local
from .registry import Reward, RewardError, register_reward

# (torchvision `features` layout, the end index of each LPIPS slice, channels per slice)
_ALEX = ([("conv", 3, 64, 11, 4, 2), ("relu",), ("pool",), ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool",),
          ("conv", 192, 384, 3, 1, 1), ("relu",), ("conv", 384, 256, 3, 1, 1), ("relu",),
          ("conv", 256, 256, 3, 1, 1), ("relu",)],
         (2, 5, 8, 10, 12), (64, 192, 384, 256, 256))


def _vgg16_layout():
    layers, c_in = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(("pool2",))
        else:
            layers += [("conv", c_in, v, 3, 1, 1), ("relu",)]
            c_in = v
    return layers, (4, 9, 16, 23, 30), (64, 128, 256, 512, 512)


NETS = {"alex": _ALEX, "vgg": _vgg16_layout()}


class LPIPSNet(nn.Module):
    """Backbone slices + 1×1 linear heads. Module names mirror torchvision (`features.<i>`) so its
    state dicts load as they are."""

    # the ImageNet statistics of the [-1, 1] input LPIPS was trained with
    SHIFT = (-0.030, -0.088, -0.188)
    SCALE = (0.458, 0.448, 0.450)

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in NETS:
            raise ValueError(f"net must be one of {sorted(NETS)}, got {net!r}")
        layout, self.ends, channels = NETS[net]
        mods = []
        for spec in layout:
            if spec[0] == "conv":
                _, ci, co, k, s, p = spec
                mods.append(nn.Conv2d(ci, co, k, stride=s, padding=p))
            elif spec[0] == "relu":
                mods.append(nn.ReLU())
            elif spec[0] == "pool":
                mods.append(nn.MaxPool2d(3, 2))
            else:
                mods.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*mods)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        self.register_buffer("shift", torch.tensor(self.SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(self.SCALE).view(1, 3, 1, 1), persistent=False)

    def load_weights(self, backbone: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> None:
        feats = {}
        for k, v in backbone.items():
            m = re.fullmatch(r"(?:module\.)?(?:features|net\.slice\d)\.(\d+)\.(weight|bias)", k)
            if m:
                feats[f"{m.group(1)}.{m.group(2)}"] = v
        missing, unexpected = self.features.load_state_dict(feats, strict=False)
        if missing:
            raise ValueError(f"backbone weights lack {missing[:4]} (expected torchvision `features.<i>` "
                             "or LPIPS `net.slice<k>.<i>` keys)")
        lins = {}
        for k, v in heads.items():
            m = re.fullmatch(r"(?:module\.)?lin(\d)\.model\.\d\.weight", k)
            if m:
                lins[f"{m.group(1)}.weight"] = v
        if len(lins) != len(self.lins):
            raise ValueError(f"found {len(lins)} linear heads (`lin<k>.model.1.weight`), "
                             f"expected {len(self.lins)}")
        self.lins.load_state_dict(lins, strict=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y in [0, 1], (N, 3, H, W) → LPIPS distance (N,) (0 for identical images)."""
        def feats(z):
            z = ((z * 2 - 1) - self.shift) / self.scale
            out, start = [], 0
            for end in self.ends:
                z = self.features[start:end](z)
                out.append(z)
                start = end
            return out
        total = 0
        for fx, fy, lin in zip(feats(x), feats(y), self.lins):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((nx - ny) ** 2).mean((2, 3))
        return total.view(-1)


@register_reward
class LPIPSReward(Reward):
    """−LPIPS between each image and its source (0 = identical, lower = more different).
    Images under `min_size` pixels on a side are upsampled first (AlexNet needs ~64 px)."""

    id = "lpips"
    needs_source = True

    def __init__(self, path: str, backbone: str | None = None, net: str = "alex", min_size: int = 64,
                 name: str | None = None):
        super().__init__(name)
        heads_file = require_local(path, self.name, "LPIPS linear-head weights (lpips weights/v0.1/"
                                                    f"{net}.pth)")
        heads = load_state_dict_file(heads_file, self.name)
        if backbone:
            bb = load_state_dict_file(require_local(backbone, self.name, "backbone weights (torchvision "
                                                    f"{'alexnet' if net == 'alex' else 'vgg16'} state dict)"),
                                      self.name)
        elif any(k.startswith("net.") for k in heads):
            bb = heads
        else:
            raise RewardError(f"reward {self.name!r}: {str(heads_file)!r} holds only the linear heads; give "
                              f"'backbone': the local torchvision {net} ImageNet weights file")
        self.net = LPIPSNet(net)
        try:
            self.net.load_weights(bb, heads)
        except (ValueError, RuntimeError) as err:
            raise RewardError(f"reward {self.name!r}: LPIPS weights do not fit the {net} network: {err}") from err
        self.net.eval().requires_grad_(False)
        self.min_size = int(min_size)

    def to(self, device):
        self.net.to(device)
        return self

    def score(self, images, prompts, sources):
        from .ssim import _match_source
        sources = _match_source(images, sources)
        x, y = images.clamp(0, 1), sources.clamp(0, 1)
        if min(x.shape[-2:]) < self.min_size:
            s = self.min_size / min(x.shape[-2:])
            size = (round(x.shape[-2] * s), round(x.shape[-1] * s))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        self.net.to(x.device)
        return -self.net(x, y)

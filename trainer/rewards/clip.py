"""CLIP-based rewards from LOCAL weights: CLIP score, PickScore, a LAION-style aesthetic predictor.

Nothing is downloaded: every path must exist on disk (a diffusers/transformers folder with
config.json + weights + tokenizer files). Preprocessing runs in torch (resize shortest side,
centre crop, normalise, as CLIPImageProcessor does), so gradients could flow and torchvision is
not needed; the settings are read from the folder's preprocessor_config.json when present.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Reward, RewardError, register_reward

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def require_local(path: str | os.PathLike | None, reward: str, what: str = "model folder") -> Path:
    """A local path that exists, or a RewardError saying what to put where."""
    if not path:
        raise RewardError(f"reward {reward!r} needs a local {what}: give its 'path' option "
                          "(rewards never download weights)")
    p = Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise RewardError(f"reward {reward!r}: {what} {str(p)!r} does not exist. Rewards load weights "
                          "from local paths only; download them once (e.g. `huggingface-cli download "
                          "<repo> --local-dir <folder>`) and point 'path' at that folder")
    return p


class ClipPreprocess:
    """CLIPImageProcessor's steps in torch: (N, 3, H, W) in [0, 1] → normalised pixel_values."""

    def __init__(self, size: int = 224, crop: int | None = None, mean=CLIP_MEAN, std=CLIP_STD):
        self.size = int(size)
        self.crop = int(crop or size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    @classmethod
    def from_folder(cls, folder: Path | None, image_size: int) -> "ClipPreprocess":
        cfg = {}
        if folder is not None and (folder / "preprocessor_config.json").is_file():
            cfg = json.loads((folder / "preprocessor_config.json").read_text())
        size = cfg.get("size", image_size)
        if isinstance(size, dict):
            size = size.get("shortest_edge", size.get("height", image_size))
        crop = cfg.get("crop_size", size)
        if isinstance(crop, dict):
            crop = crop.get("height", size)
        return cls(size, crop, cfg.get("image_mean", CLIP_MEAN), cfg.get("image_std", CLIP_STD))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().clamp(0, 1)
        h, w = x.shape[-2:]
        scale = self.size / min(h, w)
        new = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        if new != (h, w):
            x = F.interpolate(x, size=new, mode="bicubic", align_corners=False,
                              antialias=scale < 1).clamp(0, 1)
        top = (x.shape[-2] - self.crop) // 2
        left = (x.shape[-1] - self.crop) // 2
        x = x[..., top:top + self.crop, left:left + self.crop]
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def _features(out) -> torch.Tensor:
    """transformers ≤4 returns a tensor from get_*_features, 5.x a ModelOutput."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


def _dtype(name: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
                "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}[name]
    except KeyError:
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {name!r}") from None


class ClipBackedReward(Reward):
    """Loads a transformers CLIPModel (+ tokenizer) from a local folder; embeds images and text."""

    def __init__(self, path: str, processor_path: str | None = None, batch_size: int = 32,
                 dtype: str = "float32", name: str | None = None, template: str | None = None):
        super().__init__(name)
        self.template = template
        from transformers import AutoTokenizer, CLIPModel  # heavy import, only when used
        folder = require_local(path, self.name, "CLIP model folder")
        proc = require_local(processor_path, self.name, "processor folder") if processor_path else folder
        try:
            self.model = CLIPModel.from_pretrained(str(folder), local_files_only=True,
                                                   dtype=_dtype(dtype)).eval().requires_grad_(False)
        except Exception as err:   # broad on purpose: a user's folder fails in many ways (OSError, ValueError,
            # safetensors' own error, a size mismatch); each becomes this message, the original chained
            raise RewardError(f"reward {self.name!r}: could not load a CLIP model from {str(folder)!r} "
                              f"({type(err).__name__}: {err}); it must be a transformers CLIPModel folder "
                              "(config.json + model.safetensors)") from err
        self._proc_folder = proc
        self._tokenizer = None
        self._AutoTokenizer = AutoTokenizer
        self.preprocess = ClipPreprocess.from_folder(proc, self.model.config.vision_config.image_size)
        self.batch_size = int(batch_size)
        self.max_length = int(self.model.config.text_config.max_position_embeddings)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            try:
                self._tokenizer = self._AutoTokenizer.from_pretrained(str(self._proc_folder),
                                                                      local_files_only=True)
            except Exception as err:   # broad on purpose: as for the model folder above
                raise RewardError(f"reward {self.name!r}: no tokenizer in {str(self._proc_folder)!r} "
                                  f"({type(err).__name__}: {err}); put the CLIP tokenizer files there "
                                  "or set 'processor_path'") from err
        return self._tokenizer

    def to(self, device):
        self.model.to(device)
        return self

    def _device(self, images):
        if next(self.model.parameters()).device != images.device:
            self.model.to(images.device)
        return images.device

    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings (N, P) in float32."""
        device = self._device(images)
        dtype = next(self.model.parameters()).dtype
        out = []
        for chunk in images.split(self.batch_size):
            pix = self.preprocess(chunk.to(device)).to(dtype)
            out.append(_features(self.model.get_image_features(pixel_values=pix)).float())
        e = torch.cat(out)
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def texts(self, prompts: list[str]) -> list[str]:
        """The text each image is compared with: the prompt, or `template` with {prompt} filled in
        (a template without {prompt} is one fixed text, e.g. "a pencil sketch")."""
        if not self.template:
            return list(prompts)
        return [self.template.replace("{prompt}", p) for p in prompts]

    def text_embeds(self, prompts: list[str], device) -> torch.Tensor:
        prompts = self.texts(prompts)
        max_len = min(self.max_length, getattr(self.tokenizer, "model_max_length", self.max_length))
        out = []
        for i in range(0, len(prompts), self.batch_size):
            enc = self.tokenizer(prompts[i:i + self.batch_size], padding="max_length", truncation=True,
                                 max_length=max_len, return_tensors="pt")
            feats = self.model.get_text_features(input_ids=enc["input_ids"].to(device),
                                                 attention_mask=enc["attention_mask"].to(device))
            out.append(_features(feats).float())
        e = torch.cat(out)
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@register_reward
class ClipScore(ClipBackedReward):
    """Cosine similarity of CLIP image and prompt embeddings, times `scale` (prompt adherence).
    With scale 2.5 and clip_negative true it is CLIPScore (Hessel et al. 2021). `template`
    (e.g. "a pencil sketch of {prompt}") turns it into a style reward."""

    id = "clip_score"

    def __init__(self, path: str, processor_path: str | None = None, template: str | None = None,
                 scale: float = 1.0, clip_negative: bool = False, batch_size: int = 32,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(path, processor_path, batch_size, dtype, name, template)
        self.scale, self.clip_negative = float(scale), bool(clip_negative)

    def score(self, images, prompts, sources):
        img = self.image_embeds(images)
        txt = self.text_embeds(prompts, img.device)
        cos = (img * txt).sum(-1)
        if self.clip_negative:
            cos = cos.clamp_min(0)
        return self.scale * cos


@register_reward
class PickScore(ClipBackedReward):
    """PickScore (Kirstain et al. 2023): a CLIP-H fine-tuned on human preferences; the score is
    logit_scale.exp() · cos(image, prompt) (≈ 18–23 for real images). `path` is the
    PickScore_v1 folder; its tokenizer/preprocessor come from `processor_path` (the
    CLIP-ViT-H-14-laion2B folder) when they are not in `path`."""

    id = "pickscore"

    def __init__(self, path: str, processor_path: str | None = None, template: str | None = None,
                 batch_size: int = 32, dtype: str = "float32", name: str | None = None):
        super().__init__(path, processor_path, batch_size, dtype, name, template)

    def score(self, images, prompts, sources):
        img = self.image_embeds(images)
        txt = self.text_embeds(prompts, img.device)
        return self.model.logit_scale.exp().float() * (img * txt).sum(-1)


def load_state_dict_file(path: Path, reward: str) -> dict[str, torch.Tensor]:
    """safetensors, or a torch .pth/.pt/.bin read with weights_only=True (never arbitrary pickle)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:   # broad on purpose: weights_only refuses a pickle with its own error types
        raise RewardError(f"reward {reward!r}: {str(path)!r} is not a plain state dict that can be read "
                          f"without unpickling code ({type(err).__name__}: {err}); convert it to "
                          ".safetensors") from err
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RewardError(f"reward {reward!r}: {str(path)!r} does not hold a state dict of tensors")
    return sd


class LinearStack(nn.Module):
    """A sequence of Linear layers rebuilt from a state dict's `<prefix><i>.weight/bias` keys,
    e.g. the LAION improved-aesthetic-predictor MLP (768→1024→128→64→16→1, dropouts only between
    layers: no nonlinearity, as trained) or the original linear LAION head (one `weight`/`bias`)."""

    def __init__(self, state: dict[str, torch.Tensor], activation: str = "none"):
        super().__init__()
        groups: dict[tuple, dict[str, torch.Tensor]] = {}
        for k, v in state.items():
            m = re.fullmatch(r"(?:.*\.)?(\d+)\.(weight|bias)|(?:.*\.)?(weight|bias)", k)
            if m is None:
                raise ValueError(f"unexpected key {k!r} in the aesthetic head (expected Linear layers)")
            idx = int(m.group(1)) if m.group(1) is not None else -1
            groups.setdefault((idx,), {})[m.group(2) or m.group(3)] = v
        layers = []
        for key in sorted(groups):
            g = groups[key]
            w = g["weight"]
            if w.ndim != 2:
                raise ValueError(f"aesthetic head layer {key[0]} has a weight of shape {tuple(w.shape)}; "
                                 "only Linear layers are supported")
            lin = nn.Linear(w.shape[1], w.shape[0], bias="bias" in g)
            with torch.no_grad():
                lin.weight.copy_(w)
                if "bias" in g:
                    lin.bias.copy_(g["bias"])
            layers.append(lin)
        act = {"none": None, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}[activation]
        mods = []
        for i, lin in enumerate(layers):
            if i and act is not None:
                mods.append(act())
            mods.append(lin)
        self.net = nn.Sequential(*mods)
        self.in_features = layers[0].in_features
        if layers[-1].out_features != 1:
            raise ValueError(f"the aesthetic head ends in {layers[-1].out_features} outputs, expected 1")

    def forward(self, x):
        return self.net(x)


@register_reward
class AestheticScore(ClipBackedReward):
    """LAION-style aesthetic predictor: an MLP on the L2-normalised CLIP image embedding
    (≈ 1–10). `path`: the CLIP folder (ViT-L/14 for the public LAION heads); `head`: the MLP
    weights (.safetensors or a plain .pth state dict, e.g. sac+logos+ava1-l14-linearMSE.pth)."""

    id = "aesthetic"

    def __init__(self, path: str, head: str, processor_path: str | None = None,
                 activation: str = "none", normalize: bool = True, batch_size: int = 32,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(path, processor_path, batch_size, dtype, name)
        head_file = require_local(head, self.name, "aesthetic head file")
        try:
            self.head = LinearStack(load_state_dict_file(head_file, self.name), activation).eval()
        except (ValueError, KeyError) as err:
            raise RewardError(f"reward {self.name!r}: {str(head_file)!r} is not an MLP head: {err}") from err
        proj = self.model.config.projection_dim
        if self.head.in_features != proj:
            raise RewardError(f"reward {self.name!r}: the head takes {self.head.in_features}-d embeddings but "
                              f"the CLIP model at {path!r} gives {proj}-d ones; use the CLIP the head was "
                              "trained on (ViT-L/14 → 768)")
        self.head.requires_grad_(False)
        self.normalize = bool(normalize)

    def to(self, device):
        super().to(device)
        self.head.to(device)
        return self

    def score(self, images, prompts, sources):
        if self.normalize:
            e = self.image_embeds(images)
        else:   # raw projected embeddings
            device = self._device(images)
            e = torch.cat([_features(self.model.get_image_features(
                pixel_values=self.preprocess(c.to(device)))).float() for c in images.split(self.batch_size)])
        self.head.to(e.device)
        return self.head(e).squeeze(-1)

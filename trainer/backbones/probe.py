"""What a config's model is, read from its config files without loading a weight: the architecture,
width and variant a ParetoSlider file trained on it would record. `trainer eval` compares a file
with it before spending tens of seconds (or minutes) loading a backbone it cannot use.

    probe_model(cfg.model) -> ModelIdentity("sd3", 1536, "sd3-24L-1536") | None (cannot tell)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ARCHITECTURE = {"sd3": "sd3", "toy": "sd3", "flux_kontext": "flux", "ltx2": "ltx2"}


@dataclass(frozen=True)
class ModelIdentity:
    architecture: str
    width: int
    variant: str


def _transformer_config(model_cfg) -> dict | None:
    """transformer/config.json of the diffusers folder (model.path, or model.config_path beside a single file)."""
    for root in (model_cfg.path, model_cfg.config_path):
        if root:
            f = Path(root).expanduser() / "transformer" / "config.json"
            if f.is_file():
                try:
                    return json.loads(f.read_text())
                except (OSError, ValueError):
                    return None
    return None


def _toy_config(model_cfg) -> dict | None:
    from safetensors import safe_open

    from .toy import DEFAULT_BASE, DEFAULT_CONFIG
    path = Path(model_cfg.path).expanduser() if model_cfg.path else DEFAULT_BASE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("toy_config", "{}"))
    except (OSError, ValueError):
        return None
    return dict(meta.get("transformer", DEFAULT_CONFIG))


def probe_model(model_cfg) -> ModelIdentity | None:
    """The identity of the config's model, as its backbone would report it once loaded; None when the
    config files are not where this can read them (the check then happens after loading)."""
    name = model_cfg.backbone
    if name not in ARCHITECTURE:
        return None
    cfg = _toy_config(model_cfg) if name == "toy" else _transformer_config(model_cfg)
    if not cfg or "num_attention_heads" not in cfg or "attention_head_dim" not in cfg:
        return None
    width = int(cfg["num_attention_heads"]) * int(cfg["attention_head_dim"])
    layers = cfg.get("num_layers")
    auto = {"toy": "toy-sd3-16px", "sd3": f"sd3-{layers}L-{width}", "flux_kontext": f"flux-kontext-{width}",
            "ltx2": f"ltx2-{layers}L-{width}"}[name]
    # the toy backbone always records its own variant; the others record model.variant when it is set
    return ModelIdentity(ARCHITECTURE[name], width, auto if name == "toy" else model_cfg.variant or auto)

"""A reference checkpoint (reference_checkpoint.py) → one ParetoSlider file.

    path, notes = import_reference("logs/.../checkpoint-1000", "my_slider.safetensors")

- LoRA: `transformer.<module>.lora_{A,B}.weight` + `.alpha` tensors (ComfyUI scales by alpha / rank:
  the alpha written is the one that gives PEFT's scale, also for rsLoRA and alpha_pattern);
- preference modules: `pref_mlp` → `embedding.net`, `pref_blk_projector` → a "fourier" block
  projector (`pe_extender` → `extender`, `projector` → `net`); the `freqs` buffer is checked, not stored;
- embedding config (format version 2 when a block vector is present): Fourier features, the pooled
  text width, residual / affine / scale-only / shift-only, the block fraction;
- objectives from metadata.json (or `--objectives`), the run's sampling settings from metadata.json or
  the run's config (`--run-config`, e.g. wandb's config.yaml) as typed TrainingMetadata.
Everything is checked before the file is written (atomically), so an error leaves no file.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from pareto_core import EmbeddingConfig, Objective, ParetoSliderMetadata, TrainingMetadata, save_paretoslider
from pareto_core.preference import BLOCK_FORMS

from .reference_checkpoint import ReferenceCheckpoint, ReferenceCheckpointError, read_reference_checkpoint

_SD3_VARIANTS = {1536: "sd3.5-medium", 2432: "sd3.5-large"}
_OTHER_BASES = {"flux": "Flux", "xl": "SDXL", "ltx": "LTX", "wan": "Wan", "hunyuan": "HunyuanVideo",
                "qwen": "Qwen-Image", "lumina": "Lumina", "stable-diffusion-v1": "SD1.x",
                "stable-diffusion-2": "SD2.x", "pixart": "PixArt", "sana": "Sana", "cogview": "CogView"}
_CONDITIONING_MODES = ("temb_blk_shared", "temb")
_PEFT_REFUSED = {"use_dora": "DoRA", "lora_bias": "a LoRA bias", "layer_replication": "layer replication",
                 "target_parameters": "LoRA on parameters", "trainable_token_indices": "trainable tokens"}


@dataclass
class ImportOptions:
    objectives: Sequence[str] | None = None     # names in ω's order (required without metadata.json)
    block_form: str | None = None               # when neither metadata.json nor the tensors say
    block_fraction: float | None = None         # idem (the reference's default is 1.0)
    lora_alpha: float | None = None             # legacy layout: not recorded (the reference's default 2·rank)
    run_config: dict[str, Any] | None = None    # the run's config (resolution, sample steps, guidance)


def import_reference(checkpoint: str | Path, out: str | Path,
                     options: ImportOptions | None = None) -> tuple[Path, list[str]]:
    """Write the ParetoSlider file; returns its path and notes on what was assumed."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ReferenceCheckpointError(f"-o {out}: a ParetoSlider file ends in .safetensors; "
                                       f"e.g. -o {out.with_suffix('.safetensors').name}")
    ckpt = read_reference_checkpoint(checkpoint)
    metadata, lora, pref, notes = convert(ckpt, options or ImportOptions())
    return save_paretoslider(out, metadata, lora, pref), notes


def convert(ckpt: ReferenceCheckpoint, opts: ImportOptions):
    notes: list[str] = []
    _check_conditioning_mode(ckpt)
    num_objectives, width = _temb_shape(ckpt)
    _check_base(ckpt, width)
    embedding, pref = _embedding(ckpt, opts, num_objectives, width, notes)
    lora, lora_info = _lora(ckpt, opts, width, notes)
    meta = ParetoSliderMetadata(
        architecture="sd3", width=width, objectives=_objectives(ckpt, opts, num_objectives),
        embedding=embedding, variant=_SD3_VARIANTS.get(width, ""), lora=lora_info,
        training=_training(ckpt, opts),
        source={"kind": "reference", "checkpoint": ckpt.folder.name, "layout": ckpt.layout,
                "pretrained_model": _base_name(ckpt) or "", "tool": "python -m trainer import-reference"})
    return meta, lora, pref, notes


def _check_conditioning_mode(ckpt: ReferenceCheckpoint) -> None:
    mode = ckpt.setting("conditioning_mode")
    if mode is not None and mode not in _CONDITIONING_MODES:
        raise ReferenceCheckpointError(
            f"{ckpt.folder.name}: conditioning_mode {mode!r} is not supported by import-reference (it imports "
            f"{', '.join(_CONDITIONING_MODES)}: ω added to temb, with or without the shared block vector)")
    if ckpt.setting("use_lora") is False:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: metadata.json says use_lora: false (a full "
                                       "fine-tune); a ParetoSlider file carries a LoRA, so only LoRA runs import")


def _temb_shape(ckpt: ReferenceCheckpoint) -> tuple[int, int]:
    p = ckpt.preference
    try:
        first, last = p["pref_mlp.0.weight"], p["pref_mlp.2.weight"]
        ok = {"pref_mlp.0.bias", "pref_mlp.2.bias"} <= set(p) and first.ndim == last.ndim == 2
    except KeyError:
        ok = False
    if not ok or last.shape[1] != first.shape[0]:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: pref_mlp is missing or not Linear → SiLU → Linear; "
                                       "the checkpoint is incomplete or from another version of the reference code")
    unknown = sorted(k for k in p if k.startswith("pref_mlp.")
                     and not re.fullmatch(r"pref_mlp\.[02]\.(weight|bias)", k))
    if unknown:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: pref_mlp has layers this importer does not know "
                                       f"({unknown[0]}); supported: Linear → SiLU → Linear")
    if first.shape[0] != last.shape[0]:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: pref_mlp's hidden width {first.shape[0]} differs "
                                       f"from its output {last.shape[0]}; not the reference's temb MLP")
    # metadata.json's pref_dim counts the objectives, the model's may differ (the reference's
    # pref_dim_override): the tensors decide, and _objectives asks for names when the counts differ
    return int(first.shape[1]), int(last.shape[0])


def _base_name(ckpt: ReferenceCheckpoint) -> str:
    return str(ckpt.metadata.get("pretrained_model") or ckpt.adapter_config.get("base_model_name_or_path")
               or ckpt.model_config.get("_name_or_path") or "")


def _check_base(ckpt: ReferenceCheckpoint, width: int) -> None:
    """The reference's T2I code trains SD3 / SD3.5; a checkpoint that says or shows otherwise is refused."""
    name = _base_name(ckpt)
    low = name.lower()
    if not re.search(r"stable-diffusion-3|sd3|sd-3|sd_3", low):
        for marker, family in _OTHER_BASES.items():
            if marker in low:
                raise ReferenceCheckpointError(
                    f"{ckpt.folder.name} was trained on {name} ({family}); import-reference reads checkpoints of "
                    "the reference's SD3 / SD3.5 text-to-image code only")
    cfg = ckpt.model_config
    if cfg and ("num_single_layers" in cfg or "guidance_embeds" in cfg):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: lora/config.json describes a Flux transformer; "
                                       "import-reference reads SD3 / SD3.5 checkpoints only")
    bad = sorted(m for m in ckpt.lora if not re.match(r"transformer_blocks\.\d+\.", m))
    if bad:
        raise ReferenceCheckpointError(
            f"{ckpt.folder.name}: LoRA module {bad[0]!r} is not in an SD3 joint block (another base model, e.g. "
            "Flux's single blocks); import-reference reads SD3 / SD3.5 checkpoints only")
    hidden = ckpt.setting("transformer_hidden_size")
    if hidden is not None and int(hidden) != width:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: the transformer is {hidden} wide but pref_mlp writes "
                                       f"{width} values; the checkpoint's files do not belong together")
    for module, ab in ckpt.lora.items():
        if module.endswith(("attn.to_q", "attn.to_k", "attn.to_v")) and ab["B"].shape[0] != width:
            raise ReferenceCheckpointError(f"{ckpt.folder.name}: LoRA {module} writes {ab['B'].shape[0]} values but "
                                           f"the model is {width} wide; the checkpoint's files do not belong together")


def _embedding(ckpt: ReferenceCheckpoint, opts: ImportOptions, k: int, width: int, notes: list[str]):
    p = ckpt.preference
    pref = {"embedding.net.0.weight": p["pref_mlp.0.weight"], "embedding.net.0.bias": p["pref_mlp.0.bias"],
            "embedding.net.2.weight": p["pref_mlp.2.weight"], "embedding.net.2.bias": p["pref_mlp.2.bias"]}
    proj = {key[len("pref_blk_projector."):]: t for key, t in p.items() if key.startswith("pref_blk_projector.")}
    if not proj:
        if ckpt.setting("conditioning_mode") == "temb_blk_shared":
            raise ReferenceCheckpointError(f"{ckpt.folder.name}: metadata says temb_blk_shared but there are no "
                                           "pref_blk_projector tensors; the checkpoint is incomplete")
        return EmbeddingConfig(num_objectives=k, width=width, hidden=width), pref
    layers = sorted({int(m.group(1)) for key in proj if (m := re.fullmatch(r"projector\.(\d+)\.weight", key))})
    expected = {"freqs", "pe_extender.weight", "pe_extender.bias"} | {f"projector.{i}.{w}" for i in layers
                                                                          for w in ("weight", "bias")}
    if not layers or set(proj) != expected or layers != list(range(0, 2 * len(layers), 2)):
        raise ReferenceCheckpointError(
            f"{ckpt.folder.name}: pref_blk_projector has tensors {sorted(set(proj) ^ expected)[:3]} this importer "
            "does not know; supported: the SliderProjector (freqs, pe_extender, projector of Linear + ReLU)")
    ext_w, ext_b = proj["pe_extender.weight"], proj["pe_extender.bias"]
    freqs = proj["freqs"].float()
    num_freqs = freqs.numel()
    if ext_w.shape[1] != k * 2 * num_freqs or not torch.equal(freqs, 2.0 ** torch.arange(num_freqs).float()):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: the projector's frequencies {freqs.tolist()[:4]} are "
                                       "not the reference's 2^k bands; import-reference cannot reproduce them")
    meta_freqs = ckpt.setting("num_freqs")
    if meta_freqs is not None and int(meta_freqs) != num_freqs:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: metadata says num_freqs {meta_freqs}, the tensors "
                                       f"{num_freqs}; the checkpoint's files do not belong together")
    extender = int(ext_w.shape[0])
    net = [proj[f"projector.{i}.weight"] for i in layers]
    mod_dim = int(net[-1].shape[0])
    pooled = int(net[0].shape[1]) - extender
    if any(w.shape[0] != mod_dim for w in net) or pooled < 0 or any(
            w.shape[1] != mod_dim for w in net[1:]):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: the projector's layer widths are not the reference's "
                                       "(every hidden layer as wide as the output); cannot import it")
    use_pooled = ckpt.setting("use_pooled_text")
    if use_pooled is not None and bool(use_pooled) != (pooled > 0):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: metadata says use_pooled_text {use_pooled} but the "
                                       f"projector reads {pooled} pooled values; the files do not belong together")
    form = _block_form(ckpt, opts, mod_dim, width, notes)
    fraction = _block_fraction(ckpt, opts, notes)
    config = EmbeddingConfig(num_objectives=k, width=width, hidden=width, block_modulation=True,
                             num_frequencies=num_freqs, block_projector="fourier", block_form=form,
                             block_fraction=fraction, pooled_width=pooled, extender_width=extender,
                             projector_layers=len(layers))
    pref.update({"block_modulation.extender.weight": ext_w, "block_modulation.extender.bias": ext_b})
    for i in layers:
        for w in ("weight", "bias"):
            pref[f"block_modulation.net.{i}.{w}"] = proj[f"projector.{i}.{w}"]
    return config, {key: t.float() for key, t in pref.items()}


def _block_form(ckpt, opts: ImportOptions, mod_dim: int, width: int, notes: list[str]) -> str:
    if mod_dim not in (width, 2 * width):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: the block vector is {mod_dim} wide, neither the model "
                                       f"width {width} nor twice it (affine); cannot import it")
    recorded = ckpt.setting("block_mod_form")
    form = recorded if recorded is not None else opts.block_form
    if form is not None and form not in BLOCK_FORMS:
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: block_mod_form {form!r} is not supported "
                                       f"(supported: {', '.join(BLOCK_FORMS)})")
    if recorded is not None and opts.block_form is not None and opts.block_form != recorded:
        raise ReferenceCheckpointError(f"--block-form {opts.block_form} contradicts the checkpoint's "
                                       f"block_mod_form {recorded!r}; leave the option out")
    if form is None:
        form = "affine" if mod_dim == 2 * width else "residual"
        if form == "residual":
            notes.append("the block form is not recorded; assumed 'residual' (the reference's training default). "
                         "If the run set scale_only or shift_only, import again with --block-form")
    if (form == "affine") != (mod_dim == 2 * width):
        raise ReferenceCheckpointError(f"{ckpt.folder.name}: block form {form!r} needs a block vector "
                                       f"{'twice' if form == 'affine' else 'as wide as'} the model width; "
                                       f"the projector writes {mod_dim} values")
    return form


def _block_fraction(ckpt, opts: ImportOptions, notes: list[str]) -> float:
    recorded = ckpt.setting("mod_block_fraction")
    if recorded is not None and opts.block_fraction is not None and float(recorded) != opts.block_fraction:
        raise ReferenceCheckpointError(f"--block-fraction {opts.block_fraction} contradicts the checkpoint's "
                                       f"mod_block_fraction {recorded}; leave the option out")
    value = recorded if recorded is not None else opts.block_fraction
    if value is None:
        notes.append("the block fraction is not recorded; assumed 1.0 (every block, the reference's default). "
                     "If the run set mod_block_fraction, import again with --block-fraction")
        value = 1.0
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ReferenceCheckpointError(f"mod_block_fraction {value} is outside (0, 1]")
    return value


def _lora(ckpt: ReferenceCheckpoint, opts: ImportOptions, width: int, notes: list[str]):
    cfg = ckpt.adapter_config
    if ckpt.layout == "peft":
        if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
            raise ReferenceCheckpointError(f"{ckpt.folder.name}: the adapter is {cfg['peft_type']}, not LoRA; "
                                           "import-reference supports LoRA adapters only")
        for key, what in _PEFT_REFUSED.items():
            if cfg.get(key):
                raise ReferenceCheckpointError(f"{ckpt.folder.name}: the adapter uses {what} ({key}); "
                                               "import-reference supports plain LoRA (the reference's default) only")
        extra = sorted(set(cfg.get("modules_to_save") or []) - {"pref_mlp", "pref_blk_projector"})
        if extra:
            raise ReferenceCheckpointError(f"{ckpt.folder.name}: the adapter also trains {extra} in full; a "
                                           "ParetoSlider file carries a LoRA and the preference modules only")
        if opts.lora_alpha is not None:
            raise ReferenceCheckpointError("--lora-alpha is for the legacy layout; this checkpoint's "
                                           "adapter_config.json records lora_alpha")
    lora: dict[str, torch.Tensor] = {}
    ranks = set()
    for module in sorted(ckpt.lora):
        a, b = ckpt.lora[module]["A"], ckpt.lora[module]["B"]
        rank = int(a.shape[0])
        if a.ndim != 2 or b.ndim != 2 or b.shape[1] != rank:
            raise ReferenceCheckpointError(f"{ckpt.folder.name}: LoRA {module} has shapes {tuple(a.shape)} / "
                                           f"{tuple(b.shape)}; not a LoRA on a Linear layer")
        scale = _scale(ckpt, opts, module, rank, notes)
        lora[f"transformer.{module}.lora_A.weight"] = a
        lora[f"transformer.{module}.lora_B.weight"] = b
        lora[f"transformer.{module}.alpha"] = torch.tensor(scale * rank)   # ComfyUI: alpha / rank = PEFT's scale
        ranks.add(rank)
    targets = sorted({m.split(".", 2)[2] for m in ckpt.lora})
    rank = max(ranks)
    info = {"rank": rank, "alpha": float(lora[f"transformer.{sorted(ckpt.lora)[0]}.alpha"]),
            "targets": targets, "modules": len(ckpt.lora)}
    return lora, info


def _scale(ckpt: ReferenceCheckpoint, opts: ImportOptions, module: str, rank: int, notes: list[str]) -> float:
    """PEFT's LoRA scale for one module: lora_alpha / r (or / √r with rsLoRA), alpha_pattern first."""
    if ckpt.layout == "legacy":
        if opts.lora_alpha is None:
            if not any("lora_alpha" in n for n in notes):
                notes.append(f"the legacy layout does not record lora_alpha; assumed 2 × rank (the reference's "
                             f"default: {2 * rank}). If the run set another, import again with --lora-alpha")
            return 2.0
        return float(opts.lora_alpha) / rank
    cfg = ckpt.adapter_config
    alpha = float(cfg.get("lora_alpha", 8))
    for pattern, value in (cfg.get("alpha_pattern") or {}).items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            alpha = float(value)
            break
    return alpha / math.sqrt(rank) if cfg.get("use_rslora") else alpha / rank


def _objectives(ckpt: ReferenceCheckpoint, opts: ImportOptions, k: int) -> list[Objective]:
    recorded = ckpt.metadata.get("objective_names") or ckpt.metadata.get("reward_fn_keys")
    if opts.objectives:
        names = [n.strip() for n in opts.objectives if n.strip()]
        where = "--objectives"
    elif recorded:
        names, where = [str(n) for n in recorded], "metadata.json"
    else:
        raise ReferenceCheckpointError(
            f"{ckpt.folder.name} has no metadata.json with the objectives' names; give them in ω's order (the "
            f"order of the run's reward_fn), e.g. --objectives {','.join(f'objective{i + 1}' for i in range(k))}")
    if len(names) != k:
        fix = (f"give {k} names" if where == "--objectives" else
               f"the run set pref_dim_override: give the {k} names in ω's order with --objectives")
        raise ReferenceCheckpointError(f"{where} names {len(names)} objectives ({', '.join(names)}) but the "
                                       f"checkpoint's preference has {k} values; {fix}")
    if len(set(names)) != k:
        raise ReferenceCheckpointError(f"{where}: objective names must be unique, got {', '.join(names)}")
    return [Objective(name=n, label=n, reward=n) for n in names]


def _run_value(config: dict[str, Any], *path: str) -> Any:
    """A value of the run's config; wandb's config.yaml wraps each top-level one as {"value": ...}."""
    node: Any = config
    for i, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
        if i == 0 and isinstance(node, dict) and set(node) >= {"value"} and set(node) <= {"value", "desc"}:
            node = node["value"]
    return node


def _training(ckpt: ReferenceCheckpoint, opts: ImportOptions) -> TrainingMetadata:
    meta, run = ckpt.metadata, opts.run_config or {}
    resolution = meta.get("resolution", _run_value(run, "resolution"))
    steps = meta.get("num_steps", _run_value(run, "sample", "num_steps"))
    cfg = meta.get("guidance_scale", _run_value(run, "sample", "guidance_scale"))
    try:
        return TrainingMetadata(
            algorithm="nft", steps=ckpt.step, backbone="sd3", resolution=int(resolution or 0),
            sample_steps=int(steps or 0), cfg=float(cfg) if cfg is not None else 1.0, guidance=None,
            settings={k: v for k, v in {"pretrained_model": _base_name(ckpt) or None,
                                        "reward_fn_keys": meta.get("reward_fn_keys"),
                                        "lora_rank": ckpt.adapter_config.get("r"),
                                        "lora_alpha": ckpt.adapter_config.get("lora_alpha")}.items() if v is not None})
    except (TypeError, ValueError) as err:
        raise ReferenceCheckpointError(f"the run's resolution / num_steps / guidance_scale are not numbers ({err})")

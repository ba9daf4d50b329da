"""Does a ParetoSlider file fit what `trainer eval` would score it with? Checked before anything loads.

- its objectives against the config's rewards, when those score it (no --scorer): scores from other
  rewards must never be plotted or stored under the file's objective names;
- its architecture, width and variant against the config's model (read from the model's config
  files by trainer.backbones.probe; after loading, against the backbone itself).
"""
from __future__ import annotations

import re

from pareto_core import ARCHITECTURES, ParetoSliderMetadata

from ..errors import UserError

# variants the backbones make up themselves (model.variant empty); anything else is the user's free text
_AUTO_VARIANT = re.compile(r"^(toy-sd3-16px|sd3-\d+L-\d+|flux-kontext-\d+|ltx2-\d+L-\d+)$")


class EvalMismatch(UserError):
    """The file does not fit the config it would be evaluated with."""


def _objective(name: str, reward: str) -> str:
    return name if reward in ("", name) else f"{name} ({reward})"


def check_objectives(meta: ParetoSliderMetadata, cfg, file: str) -> None:
    """The config's objectives (the scorers when no --scorer is given) must be the file's, in order."""
    trained = [_objective(o.name, o.reward) for o in meta.objectives]
    config = [_objective(o.name, o.reward or o.name) for o in cfg.objectives]
    if trained != config:
        raise EvalMismatch(f"eval: {file} was trained on objectives [{', '.join(trained)}] but the config's are "
                           f"[{', '.join(config)}], so its scores would be labelled with names they do not come "
                           "from; give --config the file was trained with, or held-out --scorer specs")


def _variants_comparable(a: str, b: str) -> bool:
    """Two made-up variants, or two free texts; a made-up one against a free text says nothing."""
    return bool(_AUTO_VARIANT.match(a)) == bool(_AUTO_VARIANT.match(b))


def check_model(meta: ParetoSliderMetadata, architecture: str, width: int, variant: str, file: str,
                where: str = "the config's model") -> None:
    """The file's architecture, width and variant against the model it would be loaded onto."""
    got = f"{ARCHITECTURES.get(architecture, architecture)} width {width}" + (f" ({variant})" if variant else "")
    want = (f"{ARCHITECTURES.get(meta.architecture, meta.architecture)} width {meta.width}"
            + (f" ({meta.variant})" if meta.variant else ""))
    same_variant = (not meta.variant or not variant or meta.variant == variant
                    or not _variants_comparable(meta.variant, variant))
    if meta.architecture != architecture or int(meta.width) != int(width) or not same_variant:
        raise EvalMismatch(f"eval: {file} was trained on {want} but {where} is {got}; point --config (or --set "
                           "model.path=...) at the model the file was trained on")

"""ParetoSlider from LoRAs: 2–8 LoRA files from models/loras/ as a slider without training.

The output flows through the PARETO_SLIDER socket like a loaded file (name, objective_names,
num_objectives, check_preference), so Preference, Sweep, Schedule, Apply and Front Preview take
it. What the method does at sampling time is nodes/multi_lora.py (docs/LORA_SLIDERS.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import folder_paths
import torch
from comfy_api.latest import io
from safetensors import SafetensorError

from ..pareto_core import ParetoSliderFileError, validate_preference
from .errors import log, user_errors
from .lora_content import content_digest, first_nonfinite, looks_like_adapter, peft_dora_as_comfy, split_text_encoder
from .lora_family import guess_family
from .loader import FileStamp
from .socket_types import CATEGORY, ParetoSliderType

METHODS = ("blend", "msdda", "soups")
MAX_LORAS = 8
NONE = "None"


@dataclass(frozen=True, eq=False)
class LoraFile:
    name: str                          # as listed in models/loras/
    stamp: FileStamp
    lora: dict[str, torch.Tensor] = field(repr=False)   # the diffusion-model keys, in ComfyUI's forms
    digest: str = ""                   # of the whole file's tensors (the same LoRA under two names)
    family: str | None = None          # the family its keys look made for (messages only)
    text_encoder_keys: int = 0         # skipped, as LoraLoaderModelOnly skips them


@dataclass(frozen=True, eq=False)
class LoraSlider:
    """What a ParetoSliderFromLoras node puts on the PARETO_SLIDER socket."""
    method: str
    files: tuple[LoraFile, ...]
    objective_names: list[str]
    strength: float = 1.0

    @property
    def name(self) -> str:
        return f"LoRAs {' + '.join(self.objective_names)} ({self.method})"

    @property
    def num_objectives(self) -> int:
        return len(self.files)

    @property
    def labels(self) -> list[str]:
        return list(self.objective_names)

    @property
    def front(self) -> None:
        return None                    # nothing was trained, so no front was measured

    @property
    def stamp(self) -> tuple:
        return tuple(f.stamp for f in self.files)

    def check_preference(self, omega) -> torch.Tensor:
        names = self.objective_names
        return validate_preference(omega, len(names), names)


def lora_choices() -> list[str]:
    return folder_paths.get_filename_list("loras")


def resolve_lora(name: str) -> str:
    path = folder_paths.get_full_path("loras", name) if name and name != NONE else None
    if path is None or not os.path.isfile(path):
        folders = ", ".join(folder_paths.get_folder_paths("loras"))
        raise ParetoSliderFileError(f"LoRA file {name!r} was not found; put it in {folders} and refresh (press R)")
    return path


_CACHE: dict[str, LoraFile] = {}      # by path; a re-export (new stamp) is re-read


def load_lora_file(name: str) -> LoraFile:
    import comfy.utils
    path = resolve_lora(name)
    stamp = FileStamp.of(path)
    cached = _CACHE.get(path)
    if cached is not None and cached.stamp == stamp:
        return cached
    try:
        sd = comfy.utils.load_torch_file(path, safe_load=True)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:   # truncated or foreign: say which
        raise ParetoSliderFileError(f"LoRA file {name!r} cannot be read ({type(err).__name__}: {err}); "
                                    "is it a complete .safetensors LoRA?") from None
    _CACHE[path] = f = read_lora(name, stamp, sd)
    while len(_CACHE) > 2 * MAX_LORAS:
        _CACHE.pop(next(iter(_CACHE)))
    return f


def read_lora(name: str, stamp: FileStamp, sd: dict[str, torch.Tensor]) -> LoraFile:
    """Check a LoRA's tensors and keep its diffusion-model part (docs/LORA_SLIDERS.md, Formats)."""
    if not looks_like_adapter(sd):
        raise ParetoSliderFileError(f"{name!r} holds no LoRA weights (no LoRA, LoCon, LoHa, LoKr or DoRA keys: "
                                    "a full checkpoint?); choose a LoRA file")
    bad = first_nonfinite(sd)
    if bad is not None:
        raise ParetoSliderFileError(f"LoRA {name!r} holds NaN or infinite weights (first: {bad}); the file is "
                                    "damaged or was saved from a diverged training run: choose another LoRA")
    model_part, text = split_text_encoder(sd)
    if not model_part:
        raise ParetoSliderFileError(f"LoRA {name!r} holds only text-encoder weights ({len(text)} keys) and "
                                    "nothing for the diffusion model; a LoRA slider needs model weights")
    if text:
        log.info("ParetoSlider: %s: skipped %d text-encoder key(s) (a LoRA slider patches the diffusion model "
                 "only, like LoraLoaderModelOnly)", name, len(text))
    return LoraFile(name, stamp, peft_dora_as_comfy(model_part), content_digest(sd), guess_family(sd),
                    len(text))


def chosen(kwargs: dict) -> list[str]:
    """The non-"None" lora_i values in order."""
    return [kwargs[f"lora_{i}"] for i in range(1, MAX_LORAS + 1)
            if kwargs.get(f"lora_{i}") not in (None, "", NONE)]


def objective_names(files: list[str], names: str) -> list[str]:
    """names: comma-separated, in LoRA order; an empty or missing entry → the file's stem."""
    given = [n.strip() for n in (names or "").split(",")]
    out = []
    for i, f in enumerate(files):
        n = given[i] if i < len(given) else ""
        out.append(n or os.path.splitext(os.path.basename(f))[0])
    if len(given) > len(files) and any(given[len(files):]):
        raise ParetoSliderFileError(f"{len(given)} names for {len(files)} LoRAs; give one name per LoRA "
                                    "(comma-separated, in order)")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise ParetoSliderFileError(f"objective name(s) {', '.join(dup)} used twice; give each LoRA its own name")
    return out


def check_choice(method: str, files: list[str]) -> None:
    if method not in METHODS:
        raise ParetoSliderFileError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if len(set(files)) < 2:
        raise ParetoSliderFileError(
            "a LoRA slider needs at least 2 different LoRAs (one per end of the slider); "
            f"got {len(set(files))}: choose another LoRA for lora_2")
    if len(set(files)) != len(files):
        raise ParetoSliderFileError("the same LoRA is chosen twice; each lora_i must be a different file")
    for f in files:
        resolve_lora(f)


def check_contents(loaded: list[LoraFile]) -> None:
    """The same LoRA under two names, or LoRAs made for different model families, make no slider."""
    seen: dict[str, str] = {}
    for f in loaded:
        if f.digest in seen:
            raise ParetoSliderFileError(
                f"{seen[f.digest]!r} and {f.name!r} hold the same LoRA (identical weights), so the slider would "
                "not move; choose a different LoRA for one end")
        seen[f.digest] = f.name
    families = {f.family for f in loaded if f.family is not None}
    if len(families) > 1:
        shown = ", ".join(f"{f.name!r} looks made for {f.family}" for f in loaded if f.family is not None)
        raise ParetoSliderFileError(f"these LoRAs were made for different model families ({shown}); a slider's "
                                    "LoRAs must all be made for the model you sample with")


def build_slider(method: str, files: list[str], names: str, strength: float) -> LoraSlider:
    check_choice(method, files)
    labels = objective_names(files, names)
    loaded = [load_lora_file(f) for f in files]
    check_contents(loaded)
    return LoraSlider(method, tuple(loaded), labels, float(strength))


class ParetoSliderFromLoras(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        files = lora_choices()
        optional = [io.Combo.Input(f"lora_{i}", options=[NONE] + files, default=NONE, optional=True,
                                   tooltip="Another LoRA (another objective)") for i in range(3, MAX_LORAS + 1)]
        return io.Schema(
            node_id="ParetoSliderFromLoras",
            display_name="ParetoSlider from LoRAs",
            category=CATEGORY,
            description="A slider over LoRAs you already have, without training: each LoRA is one "
                        "objective (one end or corner of the Preference widget). soups: merges the "
                        "weights Σ ω_i ΔW_i (one model call per step, re-patched when ω moves); blend: "
                        "blends the LoRAs' predictions (m calls per step, batched); msdda: combines "
                        "their stochastic steps (sample with the ParetoSlider MSDDA Sampler).",
            inputs=[
                io.Combo.Input("method", options=list(METHODS), default="blend",
                               tooltip="soups (merge weights), blend (blend predictions) or msdda "
                                       "(combine SDE steps; needs the ParetoSlider MSDDA Sampler)"),
                io.Combo.Input("lora_1", options=files, tooltip="The LoRA at ω = (1, 0, ...)"),
                # a new node starts on two different files (the same file twice makes no slider)
                io.Combo.Input("lora_2", options=files, default=files[1] if len(files) > 1 else None,
                               tooltip="The LoRA at ω = (0, 1, ...)"),
                *optional,
                io.String.Input("names", default="",
                                tooltip="Objective names in LoRA order, comma-separated (empty: file names)"),
                io.Float.Input("strength", default=1.0, min=-4.0, max=4.0, step=0.01,
                               tooltip="Each LoRA's strength at its own vertex"),
            ],
            outputs=[ParetoSliderType.Output(display_name="slider")],
        )

    # No validate_inputs: ComfyUI reports its problems once per input it receives, and this node has
    # eleven. A missing file is ComfyUI's own check (one error, on that input); the choice itself
    # (two different files, names, method) is checked once, when the node runs.

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        try:   # a LoRA re-exported under the same name must be re-read
            return tuple((s.mtime_ns, s.size) for s in (FileStamp.of(resolve_lora(f)) for f in chosen(kwargs)))
        except (OSError, ValueError):
            return float("nan")

    @classmethod
    @user_errors
    def execute(cls, method: str, lora_1: str, lora_2: str, names: str = "", strength: float = 1.0,
                **more) -> io.NodeOutput:
        files = chosen({"lora_1": lora_1, "lora_2": lora_2, **more})
        return io.NodeOutput(build_slider(method, files, names, strength))

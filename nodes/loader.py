"""ParetoSlider Loader: a file from models/paretoslider/ → a validated, loaded slider."""
from __future__ import annotations

import os
from dataclasses import dataclass

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pareto_core import ParetoSliderFile, ParetoSliderFileError, load_paretoslider, validate_preference
from .errors import user_errors, validation_message
from .recommended import recommended
from .socket_types import CATEGORY, ParetoSliderType

FOLDER = "paretoslider"


def register_model_folder() -> None:
    """Add models/paretoslider/ unless the user's extra_model_paths.yaml already defined it."""
    if FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER] = (
            [os.path.join(folder_paths.models_dir, FOLDER)], {".safetensors"})


@dataclass(frozen=True)
class FileStamp:
    """Identifies one version of a file on disk: a re-export under the same name is a new stamp."""
    path: str
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: str) -> "FileStamp":
        st = os.stat(path)
        return cls(os.path.abspath(path), st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class LoadedSlider:
    """What flows through a PARETO_SLIDER socket."""
    name: str
    stamp: FileStamp
    file: ParetoSliderFile

    @property
    def metadata(self):
        return self.file.metadata

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.metadata.objectives]

    @property
    def num_objectives(self) -> int:
        return self.metadata.num_objectives

    def check_preference(self, omega) -> torch.Tensor:
        """ω (K,) or (N, K) checked against this file's objectives (length, NaN, negative, all
        zero) and normalised; PreferenceError naming the objectives otherwise."""
        names = self.objective_names
        return validate_preference(omega, len(names), names)


def resolve_path(name: str) -> str:
    register_model_folder()
    path = folder_paths.get_full_path(FOLDER, name) if name else None
    if path is None:
        folders = ", ".join(folder_paths.get_folder_paths(FOLDER))
        raise ParetoSliderFileError(
            f"ParetoSlider file {name!r} was not found; put it in {folders} and refresh (press R)")
    return path


def load_slider(name: str) -> LoadedSlider:
    path = resolve_path(name)
    if not os.path.isfile(path):
        raise ParetoSliderFileError(f"ParetoSlider file {name!r} is missing at {path}")
    stamp = FileStamp.of(path)
    return LoadedSlider(name=name, stamp=stamp, file=load_paretoslider(path))


def list_slider_files() -> list[str]:
    register_model_folder()
    return folder_paths.get_filename_list(FOLDER)


class ParetoSliderLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderLoader",
            display_name="ParetoSlider Loader",
            category=CATEGORY,
            description="Loads a ParetoSlider file (LoRA + preference modules + objective names) "
                        "from models/paretoslider/, and the sampling settings it was trained with "
                        "(steps, cfg, width, height) to wire into KSampler and the empty latent.",
            inputs=[
                io.Combo.Input("slider_name", options=list_slider_files(),
                               tooltip="A ParetoSlider .safetensors file in models/paretoslider/"),
            ],
            outputs=[
                ParetoSliderType.Output(display_name="slider"),
                # the file's recommended sampling settings (defaults where it records none)
                io.Int.Output(display_name="steps",
                              tooltip="Denoising steps the slider was trained with (20 if not recorded)"),
                io.Float.Output(display_name="cfg",
                                tooltip="CFG scale it was trained with (1.0: CFG-free, as the trainer samples)"),
                io.Int.Output(display_name="width",
                              tooltip="Training resolution in pixels (the model's usual size if not recorded)"),
                io.Int.Output(display_name="height",
                              tooltip="Training resolution in pixels (square)"),
            ],
        )

    @classmethod
    def validate_inputs(cls, slider_name: str) -> bool | str:
        # Replaces ComfyUI's "value not in list" with a message that says where files go.
        return validation_message(resolve_path, slider_name)

    @classmethod
    def fingerprint_inputs(cls, slider_name: str):
        # A file re-exported under the same name must be re-read.
        try:
            st = FileStamp.of(resolve_path(slider_name))
            return (st.mtime_ns, st.size)
        except (OSError, ValueError):
            return float("nan")  # never equal: re-run and report the error

    @classmethod
    @user_errors
    def execute(cls, slider_name: str) -> io.NodeOutput:
        slider = load_slider(slider_name)
        rec = recommended(slider.metadata, slider_name)
        return io.NodeOutput(slider, rec.steps, rec.cfg, rec.width, rec.height,
                             ui=ui.PreviewText(rec.text))

"""The contract between the ParetoSlider trainer and the ComfyUI runtime (pure torch)."""
from .errors import ParetoSliderError
from .fileformat import (
                         ARCHITECTURES,
                         FORMAT_VERSION,
                         Objective,
                         ParetoSliderFile,
                         ParetoSliderFileError,
                         ParetoSliderMetadata,
                         ParetoSliderMismatchError,
                         TrainingMetadata,
                         load_paretoslider,
                         read_metadata,
                         save_paretoslider,
)
from .preference import (
                         BlockModulation,
                         EmbeddingConfig,
                         PreferenceEmbedding,
                         PreferenceError,
                         PreferenceModules,
                         edge_sweep,
                         parse_preference,
                         rows_for_batch,
                         simplex_grid,
                         validate_preference,
)
from .schedule import OmegaSchedule, omega_now, parse_keypoints, start_end_schedule

__all__ = [
    "ParetoSliderError",
    "ARCHITECTURES", "FORMAT_VERSION", "Objective", "ParetoSliderFile", "ParetoSliderFileError",
    "ParetoSliderMetadata", "ParetoSliderMismatchError", "TrainingMetadata", "load_paretoslider", "read_metadata",
    "save_paretoslider", "BlockModulation", "EmbeddingConfig", "PreferenceEmbedding", "PreferenceError",
    "PreferenceModules", "edge_sweep", "parse_preference", "rows_for_batch", "simplex_grid",
    "validate_preference", "OmegaSchedule", "omega_now", "parse_keypoints", "start_end_schedule",
]

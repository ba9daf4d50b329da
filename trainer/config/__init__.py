"""The trainer's configuration: the schema (schema.py: one dataclass per YAML section, help text,
`Literal` choices, each section's checks next to its fields) and loading (loading.py: YAML, dotted
overrides, coercion). Everything a caller needs is here:

    cfg = load_config("my.yaml", overrides=["train.lr=3e-3", "lora.rank=16"])

`load_checked(path, overrides)` adds every check that needs the disk or several sections (preflight.py:
paths, reward ids, backbone and option combinations), all problems in one message, before torch loads.
Relative paths follow one rule (paths.py: read from the working folder; shipped data by bare name).
`describe()` prints every field (`python -m trainer config-help`). A bad value is a `ConfigError` that
names the field, e.g. "train.lr: must be > 0 (got -1.0)". (The example YAML files are in trainer/configs/.)
"""
from .loading import apply_overrides, config_from_dict, describe, load_config, shipped_configs
from .paths import RULE as PATH_RULE
from .preflight import config_problems, load_checked, preflight
from .schema import (
    ConfigError,
    DataConfig,
    LoraSettings,
    ModelConfig,
    ObjectiveSpec,
    OutputConfig,
    PreferenceSettings,
    TrainerConfig,
    TrainSettings,
    schedule_timesteps,
    timestep_pool_size,
    trained_timesteps,
)


def validate(cfg: TrainerConfig) -> None:
    """Check a config built in Python (config_from_dict and load_config already do): `cfg.check()`."""
    cfg.check()


__all__ = ["ConfigError", "DataConfig", "LoraSettings", "ModelConfig", "ObjectiveSpec", "OutputConfig",
           "PreferenceSettings", "TrainSettings", "TrainerConfig", "apply_overrides", "config_from_dict", "describe",
           "load_config", "schedule_timesteps", "timestep_pool_size", "trained_timesteps", "validate", "PATH_RULE",
           "config_problems", "load_checked", "preflight", "shipped_configs"]

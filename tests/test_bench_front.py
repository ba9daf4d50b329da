"""bench/front.py's pure steps: --set parsed as the trainer's overrides, what fixed runs share, the
one stats formatter of its tables."""
import pytest

from bench import front
from trainer.config import ConfigError


def test_set_items_are_parsed_by_the_trainer_config_override_parser():
    assert front.parse_overrides(["train.lr=0.003", "preference.corner_prob=0.3", "lora.rank=4",
                                  "train.ema_schedule=constant"]) == {
        "train": {"lr": 0.003, "ema_schedule": "constant"}, "preference": {"corner_prob": 0.3}, "lora": {"rank": 4}}
    assert front.parse_overrides([]) == {}
    with pytest.raises(ConfigError, match="section.field=value"):
        front.parse_overrides(["train.lr"])


def test_omega_sampling_overrides_do_not_make_fixed_runs_differ():
    ov = {"preference": {"corner_prob": 0.3, "hidden": 32}, "train": {"lr": 0.001}}
    assert front._fixed_overrides(ov) == {"preference": {"hidden": 32}, "train": {"lr": 0.001}}
    assert front._fixed_overrides({"preference": {"edge_prob": 0.5}}) == {}


def test_stats_are_written_as_mean_and_range_or_n_a():
    assert front.fmt_stats({"mean": 0.5, "min": 0.25, "max": 1.0}) == "0.500 [0.250, 1.000]"
    assert front.fmt_stats({"mean": 0.5, "min": 0.25, "max": 1.0}, 2) == "0.50 [0.25, 1.00]"
    assert front.fmt_stats({"mean": None}) == "n/a"

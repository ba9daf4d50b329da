"""--resume continues bit-identically (CPU, fixed seed)."""
import csv

import torch
from safetensors.torch import load_file

from trainer.run.train import latest_checkpoint, run

from testsupport.trainer_helpers import brightness, redness, tiny_config


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "time/step_s"} for r in csv.DictReader(f)]


def test_resume_is_bit_identical(tiny_sd3_path, tmp_path):
    rewards = [brightness, redness]
    straight = tiny_config(tiny_sd3_path, tmp_path / "a", steps=3)
    straight.output.checkpoint_every = 1
    a = run(straight, rewards=rewards)

    first = tiny_config(tiny_sd3_path, tmp_path / "b", steps=2)
    first.output.checkpoint_every = 1
    run(first, rewards=rewards)
    ckpt = latest_checkpoint(tmp_path / "b")
    assert ckpt is not None and ckpt.name == "step-0000002"
    assert (ckpt / "paretoslider.safetensors").is_file()                 # the slider as of step 2
    assert not list((tmp_path / "b" / "checkpoints").glob(".tmp-*"))     # written atomically
    second = tiny_config(tiny_sd3_path, tmp_path / "b", steps=3)
    second.output.checkpoint_every = 1
    b = run(second, rewards=rewards, resume="latest")

    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert _rows(tmp_path / "a" / "metrics.csv") == _rows(tmp_path / "b" / "metrics.csv")

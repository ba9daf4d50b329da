"""--resume continues bit-identically (CPU, fixed seed)."""
import csv

import pytest
import torch
from safetensors.torch import load_file

from trainer.errors import UserError
from trainer.run.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from trainer.run.train import run

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


class _Processes:
    """One process, as accelerate reports it (checkpoint.Processes)."""
    is_main_process, process_index = True, 0

    def __init__(self, num_processes: int = 1):
        self.num_processes = num_processes

    def wait_for_everyone(self) -> None:
        pass


def test_a_checkpoint_reads_back_the_state_it_was_given_and_keeps_the_newest(tmp_path):
    def state(step):
        return {"step": step, "nan_streak": 1, "rng": {"generator": torch.Generator().manual_seed(step).get_state()},
                "shared": {"current": {"w": torch.arange(3.0) + step}, "old": {"w": torch.ones(3)},
                           "optimizer": {"state": {}}, "scaler": {}}}
    written = []

    def write_file(folder):
        written.append(folder.name)
        (folder / "slider.safetensors").write_bytes(b"x")
    path = save_checkpoint(tmp_path, state(7), _Processes(), keep=2, config={"train": {"steps": 9}},
                           write_file=write_file)
    assert path.name == "step-0000007" and written == [".tmp-step-0000007"]      # written before the rename
    assert (path / "slider.safetensors").is_file()
    back = load_checkpoint(tmp_path, "latest", _Processes())
    assert back["step"] == 7 and back["nan_streak"] == 1
    assert torch.equal(back["shared"]["current"]["w"], torch.arange(3.0) + 7)
    assert torch.equal(back["rng"]["generator"], state(7)["rng"]["generator"])
    for step in (8, 9):
        save_checkpoint(tmp_path, state(step), _Processes(), keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-0000008", "step-0000009"]
    with pytest.raises(UserError, match="written by 1 processes, this run has 2"):
        load_checkpoint(tmp_path, "latest", _Processes(2))

"""Data-parallel training: 2 CPU processes (gloo) started by torchrun, the launcher that
`accelerate launch --multi_gpu` uses on GPUs; accelerate's Accelerator picks up the process group.
Each process samples its own prompts, so the parameters stay equal only if the gradients are
averaged: the trainer checks that at every checkpoint and before export (check_in_sync)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pareto_core import load_paretoslider

ROOT = Path(__file__).resolve().parents[2]



def test_two_cpu_processes_train_in_sync(tiny_sd3_path, tmp_path):
    cfg = {
        "model": {"backbone": "sd3", "path": str(tiny_sd3_path), "resolution": 32, "max_sequence_length": 8},
        "lora": {"rank": 2, "alpha": 4}, "preference": {"hidden": 16},
        "objectives": [{"name": "bright", "reward": "brightness"}, {"name": "sat", "reward": "saturation"}],
        "data": {"prompts": ["a red cat", "a blue dog", "a green tree"]},
        "train": {"steps": 2, "prompts_per_step": 1, "group_size": 2, "sample_steps": 2, "train_timesteps": 1,
                  "minibatch": 4},
        "output": {"dir": str(tmp_path / "run"), "checkpoint_every": 1, "progress": False, "tensorboard": False},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainer", "train", "--config", str(tmp_path / "cfg.yaml")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    print(f"2-process CPU run: {time.perf_counter() - t0:.1f}s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    f = load_paretoslider(tmp_path / "run" / "paretoslider.safetensors")
    assert f.metadata.training["processes"] == 2
    ckpt = tmp_path / "run" / "checkpoints" / "step-0000002"
    assert (ckpt / "rng-0.pt").is_file() and (ckpt / "rng-1.pt").is_file()
    assert proc.stdout.count("wrote") == 1          # only the main process reports and exports

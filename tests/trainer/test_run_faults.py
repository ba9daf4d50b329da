"""A run under faults loses nothing and says what happened in one line (issue 23):
two runs into one folder, a lock left by a killed run, a full disk while checkpointing or
exporting, a killed export's temp file, file permissions, a resume with a changed config, and
the error policy (a built-in reward's bug keeps its traceback; --debug shows every traceback)."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pareto_core import read_metadata
from trainer.errors import UserError
from trainer.run import checkpoint
from trainer.run.checkpoint import OutputWriteError, latest_checkpoint
from trainer.run.output_lock import LOCK_NAME, OutputFolderBusy, OutputLock
from trainer.run.resume_check import ResumeConfigMismatch
from trainer.run.train import run

from testsupport.trainer_helpers import brightness, redness, tiny_config

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "bench" / "toytask" / "toy.yaml"
SMALL = ["train.prompts_per_step=1", "train.group_size=2", "train.sample_steps=2", "train.train_timesteps=1",
         "train.minibatch=2", "output.progress=false", "output.tensorboard=false"]
REWARDS = [brightness, redness]


def trainer_cli(*args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "trainer", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# ------------------------------------------------------------------------------ one run per folder

def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    a = trainer_cli("train", "--config", str(TOY), *SMALL, "train.steps=400", f"output.dir={out}",
                    "output.checkpoint_every=0")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and a.poll() is None:        # A holds the lock once it writes it
            lock = out / LOCK_NAME
            if lock.is_file() and lock.read_text() and json.loads(lock.read_text())["pid"] == a.pid:
                break
            time.sleep(0.2)
        assert a.poll() is None, a.communicate()
        b = trainer_cli("train", "--config", str(TOY), *SMALL, "train.steps=2", f"output.dir={out}")
        _, err = b.communicate(timeout=120)
        assert b.returncode == 2
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"train error: output.dir {out} is in use by another run (PID {a.pid} on ")
        assert "started 20" in line and "give this run another output.dir" in line
    finally:
        a.send_signal(signal.SIGKILL)
        a.communicate()
    assert not (out / "paretoslider.safetensors").exists()    # A was killed; B wrote nothing


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_note(tmp_path, caplog):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom trainer.run.output_lock import OutputLock\nOutputLock(sys.argv[1]).acquire()\n"
        "print('locked', flush=True)\ntime.sleep(600)\n"), str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(OutputFolderBusy, match=rf"in use by another run \(PID {holder.pid} on "):
        OutputLock(out).acquire()
    holder.kill()
    holder.wait()
    lock = OutputLock(out).acquire()           # the kernel released the dead run's lock
    assert lock.took_over["pid"] == holder.pid
    assert any(f"took over the lock of a run that ended without releasing it (PID {holder.pid}" in m
               for m in caplog.messages)
    lock.release()
    again = OutputLock(out).acquire()          # released cleanly: nothing to take over, no note
    assert again.took_over is None
    again.release()


def test_under_torchrun_rank_0_takes_the_lock_and_every_rank_stops_when_it_is_busy(tmp_path):
    out = tmp_path / "run"
    held = OutputLock(out).acquire()
    try:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            "--nproc_per_node=2", "-m", "trainer", "train", "--config", str(TOY), *SMALL,
                            "train.steps=2", f"output.dir={out}"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    finally:
        held.release()
    assert p.returncode != 0
    assert p.stderr.count(f"train error: output.dir {out} is in use by another run (PID {os.getpid()}") == 1
    assert p.stderr.count("is in use by another run (rank 0 says which)") == 1


# ------------------------------------------------------------------------------------- I/O faults

def test_a_full_disk_while_checkpointing_is_one_line_and_resume_works_after(tiny_sd3_path, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=4)
    cfg.output.checkpoint_every = 2
    real = checkpoint._torch_save

    def full_at_step_4(obj, path):
        if path.parent.name == ".tmp-step-0000004" and path.name == "state.pt":
            with open(path, "wb") as f:
                f.write(b"x" * 100)              # part of it written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(obj, path)

    monkeypatch.setattr(checkpoint, "_torch_save", full_at_step_4)
    with pytest.raises(OutputWriteError) as info:
        run(cfg, rewards=REWARDS)
    ckdir = tmp_path / "run" / "checkpoints"
    assert str(info.value) == (f"no space left on {ckdir} while writing checkpoint step 4; the last complete "
                               "checkpoint is step-0000002; free space and run again with --resume")
    assert [p.name for p in ckdir.iterdir()] == ["step-0000002"]          # nothing partial left
    monkeypatch.setattr(checkpoint, "_torch_save", real)
    path = run(cfg, rewards=REWARDS, resume="latest")
    assert read_metadata(path).training.steps == 4


def test_a_full_disk_from_the_safetensors_writer_while_exporting_is_one_line(tiny_sd3_path, tmp_path, monkeypatch):
    import pareto_core.fileformat as ff
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=1)

    def full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise Exception("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(ff, "save_file", full)
    with pytest.raises(OutputWriteError, match=rf"^no space left on {tmp_path / 'run'} while writing the ParetoSlider "
                                               r"file paretoslider.safetensors \(step 1\); there is no complete "
                                               r"checkpoint to resume from; free space and run again$"):
        run(cfg, rewards=REWARDS)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME, "metrics.csv"]


def test_a_killed_runs_temp_files_are_removed_at_the_next_start(tiny_sd3_path, tmp_path, caplog):
    out = tmp_path / "run"
    (out / "checkpoints" / ".tmp-step-0000002").mkdir(parents=True)
    (out / "checkpoints" / ".tmp-step-0000002" / "state.pt").write_bytes(b"half")
    (out / ".paretoslider.safetensors.k3j4h5.tmp").write_bytes(b"half")
    run(tiny_config(tiny_sd3_path, out, steps=1), rewards=REWARDS)
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".tmp-step-*"))
    assert any("removed 2 temp file(s) a stopped run left" in m for m in caplog.messages)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tiny_sd3_path, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = run(tiny_config(tiny_sd3_path, tmp_path / "run", steps=1), rewards=REWARDS)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


# ------------------------------------------------------------------------------------------ resume

def test_resume_refuses_every_change_that_alters_the_run_and_allows_the_safe_ones(tiny_sd3_path, tmp_path):
    out = tmp_path / "run"

    def cfg(**train):
        c = tiny_config(tiny_sd3_path, out, **{"steps": 2, **train})
        c.output.checkpoint_every = 1
        return c

    run(cfg(), rewards=REWARDS)
    ck = latest_checkpoint(out)
    assert json.loads((ck / "progress.json").read_text())["config"]["train"]["lr"] == cfg().train.lr

    changed = cfg(lr=0.03, seed=5)
    changed.lora.rank = 4
    changed.objectives[1].name = "blue"
    with pytest.raises(ResumeConfigMismatch) as info:
        run(changed, rewards=REWARDS, resume="latest")
    msg = str(info.value)
    assert msg.startswith(f"--resume: the config differs from the one checkpoint {ck} was trained with: ")
    for diff in ("lora.rank: 2 → 4", "objectives[1].name: 'red' → 'blue'", "train.lr: 0.003 → 0.03",
                 "train.seed: 0 → 5"):
        assert diff in msg
    assert "\n" not in msg and f"{ck}/progress.json" in msg
    more_objectives = cfg()
    more_objectives.objectives.append(type(more_objectives.objectives[0])(name="x", reward="brightness"))
    with pytest.raises(ResumeConfigMismatch, match="objectives count: 2 → 3"):
        run(more_objectives, rewards=REWARDS + [brightness], resume="latest")
    # safe: more steps, another label, logging and checkpoint cadence
    ok = cfg(steps=3)
    ok.objectives[0].label = "Brighter"
    ok.output.log_every = 2
    path = run(ok, rewards=REWARDS, resume="latest")
    meta = read_metadata(path)
    assert meta.training.steps == 3 and meta.training.settings["lr"] == cfg().train.lr


# ----------------------------------------------------------------------------------- error policy

def test_a_bug_inside_a_built_in_reward_keeps_its_traceback_and_the_users_code_is_one_line(tmp_path):
    from trainer.rewards import RewardError, build_reward
    from trainer.rewards.image import JpegCompressibility
    r = build_reward("jpeg_compressibility")
    orig = JpegCompressibility.score
    try:
        JpegCompressibility.score = lambda self, *a: {}["bug"]
        with pytest.raises(KeyError):                       # not turned into a user's one-liner
            r(torch.rand(1, 3, 8, 8), ["x"])
    finally:
        JpegCompressibility.score = orig
    (tmp_path / "mine.py").write_text("def score(images, prompts, sources):\n    raise ZeroDivisionError('boom')\n")
    user = build_reward({"id": "python", "target": f"{tmp_path / 'mine.py'}:score"})
    with pytest.raises(RewardError, match=r"reward 'score' \(python\) failed: ZeroDivisionError: boom"):
        user(torch.rand(1, 3, 8, 8), ["x"])


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    bad = ["train", "--config", str(TOY), "train.lr=-1", f"output.dir={tmp_path / 'x'}"]
    p = trainer_cli(*bad)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Traceback" not in err and err.strip().startswith("train error:")
    p = trainer_cli(*bad, "--debug")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("train error:")


def test_user_error_is_the_base_of_every_one_line_error():
    for cls in (OutputFolderBusy, OutputWriteError, ResumeConfigMismatch):
        assert issubclass(cls, UserError)


def test_a_checkpoint_from_before_a_field_existed_resumes_with_that_fields_old_behaviour():
    from trainer.run.resume_check import FIELDS_ADDED, run_changes
    current = {"train": {"lr": 0.003, "optimizer_step": "rollout", "timestep_pool": "leading"}}
    old = {"train": {"lr": 0.003}}                 # written before optimizer_step / timestep_pool existed
    assert run_changes(old, current) == ["train.optimizer_step: 'minibatch' → 'rollout'"]
    assert run_changes(old, {"train": {"lr": 0.003, "optimizer_step": "minibatch", "timestep_pool": "leading"}}) == []
    assert FIELDS_ADDED["train.export_weights"] == "theta"


def test_a_write_that_fails_for_another_reason_names_it(tmp_path):
    err = checkpoint.write_failed(OSError(errno.EACCES, os.strerror(errno.EACCES)), "checkpoint step 4",
                                  tmp_path / "checkpoints", tmp_path)
    assert str(err) == (f"could not write checkpoint step 4 in {tmp_path / 'checkpoints'} (Permission denied); "
                        "there is no complete checkpoint to resume from; fix that and run again")

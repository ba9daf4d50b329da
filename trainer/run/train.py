"""The training run, as orchestration: roll out, score, normalise, update, log, checkpoint, export.

    path = run(load_config("my.yaml", overrides=["train.steps=20"]))      # → the exported file
    path = run(cfg, backbone=bb, rewards={"bright": f, "sat": g}, samples=[...], resume="latest",
               callback=lambda step, metrics: ...)

(docs/TRAINING.md "Programmatic API"). Metrics: loss, loss/<objective>, kl, grad_norm,
skipped_updates, optimizer_steps, rewards/<objective>/mean|std, lr, time/step_s. The pieces: trainer.rl (NFT,
GRPO, ω sampling, scoring), trainer.sampling, trainer.adapters (LoRA, θ / θ_old, ω hooks), and
next door checkpoint.py, metrics.py, distributed.py, export.py (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

import math
import time
import weakref
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from ..adapters.inject import preference_hooks
from ..adapters.lora import adapters_disabled
from ..adapters.policy import make_trainable
from ..backbones import build_backbone, resolve_dtype, text_cache
from ..backbones.base import Backbone, Sample
from ..config import TrainerConfig
from ..data import load_samples
from ..errors import UserError, log, setup_logging
from ..rl import losses
from ..rl.algorithms import build_algorithm
from ..rl.omega import sample_omegas
from ..rl.scoring import RewardFn, check_ready, objective_rewards, score
from . import checkpoint, distributed
from .export import export
from .metrics import MetricsLog
from .output_lock import OutputFolderBusy, OutputLock
from .resume_check import check_resume_config

__all__ = ["Trainer", "TrainingDiverged", "run"]


class TrainingDiverged(UserError, RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient."""


class Trainer:
    """One training run. `run()` below is the usual entry point; this class is for finer control
    (`.step()`, `.save_checkpoint()`, `.export()`, `.state_dict()`). It is the `Policies` its algorithm
    samples and trains through (`velocity`, `sample_chunks`, `backbone`, `device`, `dtype`, `generator`)."""

    def __init__(self, cfg: TrainerConfig, backbone: Backbone | None = None,
                 rewards: Mapping[str, RewardFn] | Sequence[RewardFn] | None = None,
                 samples: Sequence[Sample] | None = None, accelerator=None, resume: str | Path | None = None):
        from accelerate import Accelerator
        setup_logging()
        self.cfg = cfg
        self.acc = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.is_main = self.acc.is_main_process
        self.out_dir = Path(cfg.output.dir)
        self.lock = OutputLock(self.out_dir)
        self._lock_output_dir()
        weakref.finalize(self, self.lock.release)      # a Trainer dropped without close() lets go too
        try:
            # a resume that would change the run is refused before anything loads
            self.resume_from = self._checked_resume(resume) if resume else None
            self._build(backbone, rewards, samples)
        except BaseException:
            self.lock.release(tidy=True)       # a run that never started leaves no folder behind
            raise

    def _lock_output_dir(self) -> None:
        """Rank 0 takes the folder's lock (and clears a killed run's temp files); every rank learns whether
        it could."""
        busy = None
        if self.is_main:
            try:
                self.lock.acquire()
                checkpoint.remove_stray_temp(self.out_dir)
            except OutputFolderBusy as err:
                busy = err
        if not distributed.all_true(self.acc, busy is None):
            raise busy or OutputFolderBusy(f"output.dir {self.out_dir} is in use by another run (rank 0 says which)")

    def _checked_resume(self, resume: str | Path) -> Path:
        path = checkpoint.resolve_checkpoint(self.out_dir, resume)
        check_resume_config(checkpoint.read_progress(path).get("config"), self.cfg.to_dict(), str(path))
        return path

    def _build(self, backbone, rewards, samples) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)          # module inits (LoRA A, preference MLP) identical on all ranks
        self.dtype = resolve_dtype(cfg.model.dtype, self.acc.device)
        # data and rewards first: a wrong path should fail before minutes of model loading
        self.samples = list(samples) if samples is not None else load_samples(cfg.data)
        if not self.samples:
            raise UserError("data: no training prompts / edit pairs found")
        self.rewards = objective_rewards(cfg, rewards)
        check_ready(self.rewards)
        prompts = [s.prompt for s in self.samples]
        if backbone is None:
            if cfg.model.text_cache:   # before the transformer loads: the text encoders alone, then freed
                if self.is_main:
                    text_cache.fill(cfg.model, prompts, self.acc.device, self.dtype)
                self.acc.wait_for_everyone()
            backbone = build_backbone(cfg.model, device=self.acc.device, dtype=self.dtype)
        if cfg.model.text_cache:
            text_cache.install(backbone, cfg.model, prompts, self.dtype)
        self.backbone = backbone
        self.device = next(backbone.transformer.parameters()).device
        if cfg.model.offload_text_encoders and hasattr(backbone, "offload_text_encoders"):
            backbone.offload_text_encoders(self.samples)

        self.trainable = make_trainable(backbone, cfg, self.device)
        self.modules = self.trainable.modules
        self.policy, self.optimizer = self.trainable.policy, self.trainable.optimizer
        # fp16 needs dynamic loss scaling (bf16 and fp32 do not): an overflow skips the update and
        # halves the scale; 1000 clean updates double it
        self.scaler = torch.amp.GradScaler(self.device.type, growth_interval=1000,
                                           enabled=self.dtype == torch.float16 and self.device.type == "cuda")
        self.generator = torch.Generator().manual_seed(cfg.train.seed * 1000 + 7919 * self.acc.process_index)
        self.algorithm = build_algorithm(self, cfg.train)       # the Trainer is its `Policies`
        self.step_index = 0
        self.optimizer_steps = 0          # AdamW steps taken (the references' global_step)
        self.nan_streak = 0
        self.metrics_log = MetricsLog(self.out_dir, cfg.output.tensorboard, enabled=self.is_main)

    # ------------------------------------------------------------------ model calls
    def autocast(self):
        """Autocast to model.dtype (bf16 by default on GPU); none in fp32. A fresh context per use."""
        return torch.autocast(self.device.type, dtype=self.dtype) if self.dtype != torch.float32 else nullcontext()

    def velocity(self, x, sigma, cond, omega, which: str = "theta") -> torch.Tensor:
        """which: theta (trainable, with grad), old (EMA sampling policy), ref (base, no ω)."""
        tr, bb = self.backbone.transformer, self.backbone
        if which == "ref":
            with torch.no_grad(), adapters_disabled(tr), self.autocast():
                return bb.velocity(x, sigma, cond).float()
        swap = self.policy.swapped_in() if which == "old" else nullcontext()
        grad = torch.no_grad() if which == "old" else nullcontext()
        with grad, swap, preference_hooks(tr, bb, self.modules, omega), self.autocast():
            return bb.velocity(x, sigma, cond).float()

    def chunks(self, n: int, size: int | None = None) -> list[slice]:
        mb = size or self.cfg.train.minibatch
        return [slice(i, min(i + mb, n)) for i in range(0, n, mb)]

    def sample_chunks(self, n: int) -> list[slice]:
        return self.chunks(n, self.cfg.train.sample_batch or n)

    def decode_chunks(self, n: int) -> list[slice]:
        return self.chunks(n, self.cfg.train.decode_batch or self.cfg.train.sample_batch or n)

    # ------------------------------------------------------------------ one step
    def _draw_batch(self):
        """P prompts × W ω per prompt × G samples per (prompt, ω) group."""
        cfg, g = self.cfg, self.generator
        P, W, G = cfg.train.prompts_per_step, cfg.preference.omegas_per_prompt, cfg.train.group_size
        idx = torch.randint(0, len(self.samples), (P,), generator=g).tolist()
        pr = cfg.preference
        omegas = sample_omegas(P * W, cfg.num_objectives, g, pr.corner_prob, pr.vertex_prob, pr.edge_prob, pr.fixed)
        rows = [(p, w) for p in range(P) for w in range(W) for _ in range(G)]
        samples = [self.samples[idx[p]] for p, _ in rows]
        omega = torch.stack([omegas[p * W + w] for p, w in rows])
        groups = torch.tensor([p * W + w for p, w in rows])
        return samples, omega, groups

    def step(self) -> dict[str, float]:
        """Sample, score, optimise; returns this step's metrics (rewards gathered over processes)."""
        t, algo = self.cfg.train, self.algorithm
        t0 = time.perf_counter()
        samples, omega, groups = self._draw_batch()
        cond = self.backbone.encode(samples)
        rollout = algo.rollout(cond, omega)
        R, _ = score(self.backbone, self.rewards, rollout.x0, samples, self.decode_chunks(len(samples)), self.dtype)
        A = losses.group_advantages(R, groups, t.adv_eps)
        names = [name for name, _ in self.rewards]
        sums = {"loss": 0.0, "kl": 0.0, **{f"loss/{n}": 0.0 for n in names}}
        count, skipped, gnorms, loss_terms = 0, 0, [], 0
        # train.optimizer_step rollout (the references): one AdamW step per pass over the samples, each
        # minibatch's backward weighted by its share of the rows, so the step's gradient is the mean over all
        accumulate = t.optimizer_step == "rollout"
        n_rows = len(samples)
        for _ in range(t.inner_epochs):
            perm = torch.randperm(n_rows, generator=self.generator)
            finite = True
            for sl in self.chunks(n_rows):
                idx = perm[sl]
                c = cond.index(idx.to(self.device) if self.device.type != "cpu" else idx)
                om, adv = omega[idx].to(self.device), A[idx].to(self.device)
                points = algo.training_points(len(idx))
                share = len(idx) / n_rows if accumulate else 1.0
                if finite:         # after a non-finite loss the pass's update is skipped: no more backwards
                    for point in points:
                        out = self._backward(algo.update(rollout, idx, c, om, adv, point), om, share / len(points))
                        if out is None:
                            finite = False
                            break
                        loss, per, kl = out
                        sums["loss"] += float(loss.mean()) / len(points)
                        sums["kl"] += float(kl.mean()) / len(points)
                        for m, n in enumerate(names):
                            sums[f"loss/{n}"] += float(per[:, m].mean()) / len(points)
                    loss_terms += 1 if finite else 0
                if not accumulate:
                    skipped += self._update(finite, gnorms)
                    count += 1
                    finite = True
            if accumulate:
                skipped += self._update(finite, gnorms)
                count += 1
        n = self.optimizer_steps if t.ema_count == "optimizer" else self.step_index
        self.policy.update_old(algo.old_policy_decay(n))
        self.step_index += 1
        self._nan_guard(skipped, count)
        metrics = {k: v / max(loss_terms if accumulate else count - skipped, 1) for k, v in sums.items()}
        metrics["optimizer_steps"] = float(self.optimizer_steps)
        finite_norms = [g for g in gnorms if math.isfinite(g)]
        metrics["grad_norm"] = float(sum(finite_norms) / max(len(finite_norms), 1))
        metrics["skipped_updates"] = float(skipped)
        R_all = self.acc.gather(R.to(self.device)).cpu() if self.acc.num_processes > 1 else R
        for m, n in enumerate(names):
            metrics[f"rewards/{n}/mean"] = float(R_all[:, m].mean())
            metrics[f"rewards/{n}/std"] = float(R_all[:, m].std(unbiased=False))
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        metrics["time/step_s"] = time.perf_counter() - t0
        return metrics

    def _update(self, finite: bool, gnorms: list[float]) -> int:
        """One optimiser step over the gradients accumulated so far (1 if skipped as non-finite, else 0);
        a step taken advances the count the old-policy ramp and the exported EMA read."""
        ok, gn = self._optimizer_step(finite)
        gnorms.append(gn)
        if ok:
            self.optimizer_steps += 1
            self.policy.update_ema(self.optimizer_steps, self.cfg.train.export_ema_max)
        return 0 if ok else 1

    def _backward(self, update, omega, scale: float):
        """Forward θ with ω hooked, compute the loss and backpropagate while the hooks are still
        installed (gradient checkpointing recomputes block activations during backward).
        None when the loss is not finite (nothing is backpropagated)."""
        with preference_hooks(self.backbone.transformer, self.backbone, self.modules, omega):
            with self.autocast():
                v = update.forward().float()
            loss, per, kl = update.loss(v)
            total = (loss + losses.kl_weight(self.cfg.train, omega) * kl).mean() * scale
            if not torch.isfinite(total):
                return None
            self.scaler.scale(total).backward()
        return loss.detach(), per.detach(), kl.detach()

    def _sync_grads(self) -> None:
        distributed.average_gradients(self.acc, self.policy.params)

    def _optimizer_step(self, finite: bool) -> tuple[bool, float]:
        """Average gradients over processes, then update unless the loss or a gradient is
        non-finite (every process decides alike). Returns (not a diverged update, grad norm)."""
        self._sync_grads()
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.policy.params if p.grad is not None]
        norm = torch.norm(torch.stack([g.detach().float().norm() for g in grads])) if grads else torch.tensor(0.)
        grads_ok = distributed.all_true(self.acc, bool(torch.isfinite(norm)))
        ok = distributed.all_true(self.acc, finite) and grads_ok
        overflow = self.scaler.is_enabled() and finite and not grads_ok
        if ok:
            if self.cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.policy.params, self.cfg.train.grad_clip)
            self.scaler.step(self.optimizer)
        self.scaler.update()           # an fp16 overflow halves the scale here
        self.optimizer.zero_grad(set_to_none=True)
        if overflow:
            return True, float("nan")  # an fp16 overflow, not a diverged step
        return ok, float(norm)

    def _nan_guard(self, skipped: int, count: int) -> None:
        if not skipped:
            self.nan_streak = 0
            return
        self.nan_streak += 1
        msg = (f"step {self.step_index}: non-finite loss or gradient in {skipped}/{count} updates; "
               f"skipped them ({self.nan_streak} step(s) in a row)")
        if self.is_main:
            log.warning(msg)
        if self.nan_streak >= self.cfg.train.max_nan_steps:
            raise TrainingDiverged(f"{msg}; stopping after train.max_nan_steps={self.cfg.train.max_nan_steps}. "
                                   "Lower train.lr, raise train.kl, or use model.dtype=fp32.")

    # ------------------------------------------------------------------ persistence
    def log(self, metrics: dict[str, float]) -> None:
        self.metrics_log.write(self.step_index, metrics)

    def close(self) -> None:
        self.metrics_log.close()
        self.lock.release()

    def check_in_sync(self) -> None:
        distributed.check_in_sync(self.acc, self.policy.params, self.step_index)

    def state_dict(self) -> dict:
        """Everything a bit-identical resume needs: `shared` (the same on every process: θ, θ_old, the
        exported EMA, the optimiser and its step count, the fp16 GradScaler), `rng` (this process's
        generators), `step` and `nan_streak`."""
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"step": self.step_index, "nan_streak": self.nan_streak, "rng": rng,
                "shared": {"current": self.policy.current_state(), "old": self.policy.old_state(),
                           "ema": self.policy.ema_state(), "optimizer_steps": self.optimizer_steps,
                           "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict()}}

    def load_state_dict(self, state: dict) -> None:
        shared, rng = state["shared"], state["rng"]
        self.policy.load_current_state(shared["current"])
        self.policy.load_old_state(shared["old"])
        self.policy.load_ema_state(shared.get("ema"))
        self.optimizer.load_state_dict(shared["optimizer"])
        if shared.get("scaler"):
            self.scaler.load_state_dict(shared["scaler"])
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step_index = int(state["step"])
        self.nan_streak = int(state["nan_streak"])
        self.optimizer_steps = int(shared.get("optimizer_steps", self._adam_steps()))

    def _adam_steps(self) -> int:
        """AdamW's own step count (a checkpoint from before optimizer_steps was saved)."""
        counts = [int(s["step"]) for s in self.optimizer.state.values() if "step" in s]
        return max(counts, default=0)

    def save_checkpoint(self) -> Path:
        self.check_in_sync()
        return checkpoint.save_checkpoint(self.out_dir, self.state_dict(), self.acc,
                                          keep=self.cfg.output.keep_checkpoints, config=self.cfg.to_dict(),
                                          write_file=lambda folder: self._export(folder / self.cfg.output.name))

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint ("latest" or a folder) written with this run's config (changes are refused)."""
        self._restore(self._checked_resume(path))

    def _restore(self, path: Path) -> None:
        """Restore a checkpoint folder whose config was already compared."""
        self.load_state_dict(checkpoint.load_checkpoint(self.out_dir, path, self.acc))
        self.metrics_log.resumed_from = self.step_index

    def export(self, path: str | Path | None = None, final_rewards: dict[str, float] | None = None) -> Path:
        """The ParetoSlider file (default output.dir/output.name); a failed write is one line (OutputWriteError)."""
        path = Path(path) if path else self.out_dir / self.cfg.output.name
        try:
            return self._export(path, final_rewards)
        except OSError as err:
            raise checkpoint.write_failed(err, f"the ParetoSlider file {path.name} (step {self.step_index})",
                                          path.parent, self.out_dir) from err

    def _export(self, path: Path, final_rewards: dict[str, float] | None = None) -> Path:
        with self.policy.ema_swapped_in():        # train.export_weights ema: the file holds the EMA of θ
            return export(path, self.cfg, self.backbone, self.trainable, self.step_index, self.acc.num_processes,
                          final_rewards)


def run(config: TrainerConfig, backbone: Backbone | None = None,
        rewards: Mapping[str, RewardFn] | Sequence[RewardFn] | None = None,
        samples: Sequence[Sample] | None = None, resume: str | Path | None = None,
        callback: Callable[[int, dict], None] | None = None) -> Path:
    """Train and export; returns the path of the ParetoSlider file (config.output.dir/name).

    backbone: a ready `Backbone` (default: built from config.model); rewards: {objective name:
    fn(images, prompts, sources) -> (B,)} or a list in objective order (default: the registry,
    from config.objectives[i].reward); samples: training `Sample`s (default: config.data);
    resume: a checkpoint folder, or "latest" for the newest in config.output.dir/checkpoints;
    callback(step, metrics) after every step (e.g. a benchmark's own evaluation).
    """
    trainer = Trainer(config, backbone, rewards, samples, resume=resume)
    if trainer.resume_from:
        trainer._restore(trainer.resume_from)          # compared with the config before anything loaded
    out, steps = config.output, config.train.steps
    last: dict[str, float] = {}
    bar = None
    if trainer.is_main and out.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=trainer.step_index, desc="paretoslider", unit="step", dynamic_ncols=True)
    try:
        while trainer.step_index < steps:
            last = trainer.step()
            if trainer.step_index % out.log_every == 0 or trainer.step_index == steps:
                trainer.log(last)
            if callback is not None:
                callback(trainer.step_index, last)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k.split("/")[1][:10]: f"{v:.3g}" for k, v in last.items()
                                 if k.startswith("rewards/") and k.endswith("/mean")} | {"loss": f"{last['loss']:.3g}"})
            if out.checkpoint_every and trainer.step_index % out.checkpoint_every == 0 and trainer.step_index < steps:
                trainer.save_checkpoint()
        if out.checkpoint_every:
            trainer.save_checkpoint()
        path = Path(out.dir) / out.name
        trainer.check_in_sync()
        if trainer.is_main:
            final = {k.split("/")[1]: round(v, 6) for k, v in last.items()
                     if k.startswith("rewards/") and k.endswith("/mean")}
            path = trainer.export(final_rewards=final)
        trainer.acc.wait_for_everyone()
        return path
    finally:
        if bar is not None:
            bar.close()
        trainer.close()

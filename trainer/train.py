"""The training run: sampling with the old policy, rewards, late-scalarised NFT / GRPO updates,
logging, checkpoints and export.

Programmatic API (stable; the CPU toy benchmark and the CLI both go through it)::

    from trainer.config import load_config, TrainerConfig
    from trainer.train import run

    cfg = load_config("trainer/configs/sd35_photo_vs_sketch.yaml",
                      overrides=["train.steps=20", "output.dir=runs/x"])
    path = run(cfg)                                  # -> Path of the exported .safetensors

    # A ready backbone (any trainer.backbones.base.Backbone) and reward callables:
    path = run(cfg, backbone=my_backbone,
               rewards={"brightness": fn_a, "saturation": fn_b})
    # reward callable: fn(images (B,3,H,W) in [0,1], prompts: list[str], sources: Tensor|None) -> Tensor (B,)
    # The dict keys must be the objective names of cfg.objectives (in that order ω is indexed).

    # Fixed-weight baseline (ω constant, preference modules still exported, trained on that ω):
    cfg.preference.fixed = [0.25, 0.75]
    path = run(cfg, backbone=my_backbone, rewards=...)

    # Everything else run() takes:
    path = run(cfg, backbone=bb, rewards=[fn_a, fn_b],      # a list works too, in objective order
               samples=[Sample("red circle"), ...],         # instead of cfg.data
               resume="latest",                              # or a checkpoints/step-N folder
               callback=lambda step, metrics: ...)          # after every step

`run` returns the path of the final ParetoSlider file (cfg.output.dir / cfg.output.name).
Metrics (CSV/TensorBoard, and the callback's dict): loss, loss/<objective>, kl, grad_norm,
skipped_updates, rewards/<objective>/mean|std, lr, time/step_s.
`Trainer(cfg, backbone, rewards)` exposes the pieces (`.step()`, `.save_checkpoint()`,
`.export()`) for finer control; `trainer.inject.preference_hooks(transformer, backbone, modules,
omega)` is the context manager that feeds ω into a diffusers transformer.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from pareto_core import EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules, save_paretoslider

from . import losses
from .backbones.base import Backbone, Conditioning, Sample
from .config import TrainerConfig
from .data import load_samples
from .inject import preference_hooks
from .model import PolicyParams, adapters_disabled, attach_lora, lora_state_for_file
from .omega import sample_omegas

RewardFn = Callable[[torch.Tensor, list, "torch.Tensor | None"], torch.Tensor]


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient."""


# ----------------------------------------------------------------------------- helpers

def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def build_rewards(cfg: TrainerConfig, rewards) -> list[tuple[str, RewardFn]]:
    """(objective name, callable) in ω order, from the caller's callables or the registry."""
    names = [o.name for o in cfg.objectives]
    if rewards is None:
        from .rewards import build_reward
        return [(o.name, build_reward({"id": o.reward, **(o.kwargs or {})})) for o in cfg.objectives]
    if isinstance(rewards, Mapping):
        missing = [n for n in names if n not in rewards]
        if missing:
            raise ValueError(f"rewards: no callable for objective(s) {missing}; pass one per objective "
                             f"({names})")
        return [(n, rewards[n]) for n in names]
    rewards = list(rewards)
    if len(rewards) != len(names):
        raise ValueError(f"rewards: {len(rewards)} callables for {len(names)} objectives {names}")
    return list(zip(names, rewards))


def _device_of(backbone: Backbone) -> torch.device:
    return next(backbone.transformer.parameters()).device


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the trainer

class Trainer:
    """One training run. `run()` below is the usual entry point; this class is for finer control."""

    def __init__(self, cfg: TrainerConfig, backbone: Backbone | None = None,
                 rewards: Mapping[str, RewardFn] | Sequence[RewardFn] | None = None,
                 samples: Sequence[Sample] | None = None, accelerator=None):
        from accelerate import Accelerator
        self.cfg = cfg
        self.acc = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        self.is_main = self.acc.is_main_process
        torch.manual_seed(cfg.train.seed)          # module inits (LoRA A, preference MLP) identical on all ranks
        device = self.acc.device
        self.dtype = resolve_dtype(cfg.model.dtype, device)
        # data first: a wrong path should fail before minutes of model loading
        self.samples = list(samples) if samples is not None else load_samples(cfg.data)
        if not self.samples:
            raise ValueError("data: no training prompts / edit pairs found")
        self.rewards = build_rewards(cfg, rewards)       # a missing reward model fails fast too
        if backbone is None:
            from .backbones import build_backbone
            backbone = build_backbone(cfg.model, device=device, dtype=self.dtype)
        self.backbone = backbone
        self.device = _device_of(backbone)
        if cfg.model.offload_text_encoders and hasattr(backbone, "offload_text_encoders"):
            backbone.offload_text_encoders(self.samples)
        self._use_autocast = self.dtype != torch.float32     # CPU autocast handles bf16 too
        self.K = cfg.num_objectives

        tr = backbone.transformer
        self.lora_targets = list(cfg.lora.targets or backbone.default_lora_targets)
        self.lora_modules = attach_lora(tr, cfg.lora.rank, cfg.lora.alpha, self.lora_targets, cfg.lora.dropout)
        if cfg.lora.dropout > 0:       # diffusers models load in eval mode; LoRA dropout needs train mode
            for name, m in tr.named_modules():
                if "lora_dropout" in name and isinstance(m, torch.nn.Dropout):
                    m.train()
        if cfg.model.gradient_checkpointing and hasattr(tr, "enable_gradient_checkpointing"):
            tr.enable_gradient_checkpointing()
        p = cfg.preference
        self.embedding = EmbeddingConfig(num_objectives=self.K, width=backbone.width, hidden=p.hidden,
                                         block_modulation=p.block_modulation, num_frequencies=p.num_frequencies)
        torch.manual_seed(cfg.train.seed + 1)
        self.modules = PreferenceModules(self.embedding).to(self.device, torch.float32)
        self.policy = PolicyParams(tr, self.modules)
        n_lora = sum(1 for n, _ in self.policy.named if n.startswith("transformer."))
        groups = [{"params": self.policy.params[:n_lora], "lr": cfg.train.lr},
                  {"params": self.policy.params[n_lora:], "lr": cfg.train.lr * p.lr_scale}]
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.generator = torch.Generator().manual_seed(cfg.train.seed * 1000 + 7919 * self.rank)
        self.step_index = 0
        self.nan_streak = 0
        self.fp16_scaling = self.dtype == torch.float16 and self.device.type == "cuda"
        self.loss_scale = 2.0 ** 16 if self.fp16_scaling else 1.0
        self._clean_updates = 0
        self.out_dir = Path(cfg.output.dir)
        self._writer = None
        self._csv_fields: list[str] | None = None
        self._resumed_from: int | None = None

    # ------------------------------------------------------------------ model calls
    def autocast(self):
        """Autocast to model.dtype (bf16 by default on GPU); none in fp32. A fresh context per use."""
        return torch.autocast(self.device.type, dtype=self.dtype) if self._use_autocast else nullcontext()

    def velocity(self, x, sigma, cond, omega, which: str = "theta") -> torch.Tensor:
        """which: theta (trainable, with grad), old (EMA sampling policy), ref (base, no ω)."""
        tr, bb = self.backbone.transformer, self.backbone
        if which == "ref":
            with torch.no_grad(), adapters_disabled(tr), self.autocast():
                return bb.velocity(x, sigma, cond).float()
        if which == "old":
            with torch.no_grad(), self.policy.swapped_in(), preference_hooks(tr, bb, self.modules, omega), \
                    self.autocast():
                return bb.velocity(x, sigma, cond).float()
        with preference_hooks(tr, bb, self.modules, omega), self.autocast():
            return bb.velocity(x, sigma, cond).float()

    # ------------------------------------------------------------------ one step
    def _draw_batch(self):
        cfg, g = self.cfg, self.generator
        P, W, G = cfg.train.prompts_per_step, cfg.preference.omegas_per_prompt, cfg.train.group_size
        idx = torch.randint(0, len(self.samples), (P,), generator=g).tolist()
        omegas = sample_omegas(P * W, self.K, g, cfg.preference.corner_prob, cfg.preference.vertex_prob,
                               cfg.preference.edge_prob, cfg.preference.fixed)
        rows = [(p, w) for p in range(P) for w in range(W) for _ in range(G)]
        samples = [self.samples[idx[p]] for p, _ in rows]
        omega = torch.stack([omegas[p * W + w] for p, w in rows])
        groups = torch.tensor([p * W + w for p, w in rows])
        return samples, omega, groups

    def _chunks(self, n: int, size: int | None = None):
        mb = size or self.cfg.train.minibatch
        return [slice(i, min(i + mb, n)) for i in range(0, n, mb)]

    def _sample_chunks(self, n: int):
        return self._chunks(n, self.cfg.train.sample_batch or n)

    @torch.no_grad()
    def rollout(self, cond: Conditioning, omega: torch.Tensor, sde: bool = False):
        """Sample x0 with the sampling policy (NFT: EMA old; GRPO: current θ). Returns
        (x0, trajectory list or None, log-probs (B, T-1) or None)."""
        t = self.cfg.train
        sig = self.backbone.sigmas(t.sample_steps).to(self.device)
        n = omega.shape[0]
        x = self.backbone.noise(n, self.generator).float()
        if not sde:
            for sl in self._sample_chunks(n):
                xs = x[sl]
                for i in range(t.sample_steps):
                    s = sig[i].expand(xs.shape[0])
                    v = self.velocity(xs.to(self.dtype), s, cond.index(sl), omega[sl].to(self.device), "old")
                    xs = xs + (sig[i + 1] - sig[i]) * v
                x[sl] = xs
            return x, None, None
        traj = [x.clone()]
        logps = []
        cap = float(sig[1])
        for i in range(t.sample_steps):
            v = torch.cat([self.velocity(x[sl].to(self.dtype), sig[i].expand(x[sl].shape[0]), cond.index(sl),
                                         omega[sl].to(self.device), "theta") for sl in self._sample_chunks(n)])
            if i == t.sample_steps - 1:          # the last step to σ = 0 is deterministic
                x = x + (sig[i + 1] - sig[i]) * v
            else:
                sb = sig[i].expand(n)
                std = losses.sde_step_std(sb, t.grpo_eta, cap) * torch.sqrt(sig[i] - sig[i + 1])
                mean = losses.sde_step_mean(x, v, sb, sig[i + 1].expand(n), losses.sde_step_std(sb, t.grpo_eta, cap))
                noise = torch.randn(x.shape, generator=self.generator).to(x.device, x.dtype)
                x = mean + std.reshape(-1, *([1] * (x.ndim - 1))) * noise
                logps.append(losses.gaussian_log_prob(x, mean, std))
            traj.append(x.clone())
        return x, traj, torch.stack(logps, 1)

    @torch.no_grad()
    def score(self, x0: torch.Tensor, samples: Sequence[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.cat([self.backbone.decode(x0[sl].to(self.dtype)) for sl in self._sample_chunks(x0.shape[0])])
        prompts = [s.prompt for s in samples]
        sources = self.backbone.source_images(samples)
        if sources is not None:
            sources = sources.to(images.device)
        cols = []
        for name, fn in self.rewards:
            r = torch.as_tensor(fn(images, prompts, sources)).float().reshape(-1).cpu()
            if r.numel() != images.shape[0] or not torch.isfinite(r).all():
                raise ValueError(f"reward for objective {name!r} returned "
                                 f"{'NaN/inf' if r.numel() == images.shape[0] else f'{r.numel()} values'} "
                                 f"for {images.shape[0]} images; fix the reward")
            cols.append(r)
        return torch.stack(cols, 1), images

    def _sync_grads(self) -> None:
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.policy.params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        i = 0
        for p, g in zip(self.policy.params, grads):
            p.grad = flat[i:i + g.numel()].view_as(g).clone()
            i += g.numel()

    def _all_true(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        return bool(t.item() > 0.5)

    def _optimizer_step(self, finite: bool) -> tuple[bool, float]:
        """Average gradients over processes, then update unless the loss or a gradient is
        non-finite. fp16 runs use dynamic loss scaling: an overflow halves the scale and skips the
        update without counting as a NaN step; 1000 clean updates double it again."""
        self._sync_grads()
        grads = [p.grad for p in self.policy.params if p.grad is not None]
        if self.loss_scale != 1.0:
            for g in grads:
                g.div_(self.loss_scale)
        norm = torch.norm(torch.stack([g.detach().float().norm() for g in grads])) if grads else torch.tensor(0.)
        grads_ok = self._all_true(bool(torch.isfinite(norm)))
        ok = self._all_true(finite) and grads_ok
        if self.fp16_scaling and finite and not grads_ok:
            self.loss_scale = max(self.loss_scale / 2, 1.0)
            self._clean_updates = 0
            self.optimizer.zero_grad(set_to_none=True)
            return True, float("nan")          # an fp16 overflow, not a diverged step
        if ok:
            if self.cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.policy.params, self.cfg.train.grad_clip)
            self.optimizer.step()
            if self.fp16_scaling:
                self._clean_updates += 1
                if self._clean_updates % 1000 == 0:
                    self.loss_scale = min(self.loss_scale * 2, 2.0 ** 24)
        self.optimizer.zero_grad(set_to_none=True)
        return ok, float(norm)

    def step(self) -> dict[str, float]:
        """Sample, score, optimise; returns this step's metrics (already averaged over processes)."""
        t = self.cfg.train
        t0 = time.perf_counter()
        samples, omega, groups = self._draw_batch()
        cond = self.backbone.encode(samples)
        grpo = t.algorithm == "grpo"
        x0, traj, old_logp = self.rollout(cond, omega, sde=grpo)
        R, _ = self.score(x0, samples)
        A = losses.group_advantages(R, groups)
        weights = losses.nft_weight(A, t.adv_clip)
        n = x0.shape[0]
        sums = {"loss": 0.0, "kl": 0.0, **{f"loss/{name}": 0.0 for name, _ in self.rewards}}
        count, skipped, gnorms = 0, 0, []
        for _ in range(t.inner_epochs):
            perm = torch.randperm(n, generator=self.generator)
            for sl in self._chunks(n):
                idx = perm[sl]
                c = cond.index(idx.to(self.device) if self.device.type != "cpu" else idx)
                w_mb, om = weights[idx].to(self.device), omega[idx].to(self.device)
                finite = True
                if grpo:
                    steps = torch.randperm(t.sample_steps - 1, generator=self.generator)[:t.train_timesteps].tolist()
                else:
                    steps = range(t.train_timesteps)
                for j in steps:
                    if grpo:
                        out = self._grpo_update(traj, old_logp, j, idx, c, om, A[idx].to(self.device), len(steps))
                    else:
                        out = self._nft_update(x0[idx], c, om, w_mb, len(steps))
                    if out is None:
                        finite = False
                        break
                    loss, per, kl = out
                    sums["loss"] += float(loss.mean()) / len(steps)
                    sums["kl"] += float(kl.mean()) / len(steps)
                    for m, (name, _) in enumerate(self.rewards):
                        sums[f"loss/{name}"] += float(per[:, m].mean()) / len(steps)
                ok, gn = self._optimizer_step(finite)
                gnorms.append(gn)
                count += 1
                skipped += 0 if ok else 1
        self.policy.update_old(t.ema_decay if not grpo else 0.0)
        self.step_index += 1
        if skipped:
            self.nan_streak += 1
            msg = (f"step {self.step_index}: non-finite loss or gradient in {skipped}/{count} updates; "
                   f"skipped them ({self.nan_streak} step(s) in a row)")
            if self.is_main:
                print(f"[paretoslider] warning: {msg}", flush=True)
            if self.nan_streak >= t.max_nan_steps:
                raise TrainingDiverged(f"{msg}; stopping after train.max_nan_steps={t.max_nan_steps}. "
                                       "Lower train.lr, raise train.kl, or use model.dtype=fp32.")
        else:
            self.nan_streak = 0
        metrics = {k: v / max(count - skipped, 1) for k, v in sums.items()}
        finite_norms = [g for g in gnorms if math.isfinite(g)]
        metrics["grad_norm"] = float(sum(finite_norms) / max(len(finite_norms), 1))
        metrics["skipped_updates"] = float(skipped)
        # rewards over all processes
        R_all = self.acc.gather(R.to(self.device)).cpu() if self.world > 1 else R
        for m, (name, _) in enumerate(self.rewards):
            metrics[f"rewards/{name}/mean"] = float(R_all[:, m].mean())
            metrics[f"rewards/{name}/std"] = float(R_all[:, m].std(unbiased=False))
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        metrics["time/step_s"] = time.perf_counter() - t0
        return metrics

    def _backward(self, v_fn, loss_fn, omega, scale: float):
        """Forward θ with ω hooked, compute the loss and backpropagate while the hooks are still
        installed (gradient checkpointing recomputes block activations during backward)."""
        with preference_hooks(self.backbone.transformer, self.backbone, self.modules, omega):
            with self.autocast():
                v = v_fn().float()
            loss, per, kl = loss_fn(v)
            total = (loss + self.cfg.train.kl * kl).mean() * scale
            if not torch.isfinite(total):
                return None
            (total * self.loss_scale).backward()
        return loss.detach(), per.detach(), kl.detach()

    def _nft_update(self, x0, cond, omega, r, n_steps: int):
        t = self.cfg.train
        b = x0.shape[0]
        lo, hi = t.timestep_range
        sigma = (lo + (hi - lo) * torch.rand(b, generator=self.generator)).clamp(1e-3, 1.0).to(self.device)
        eps = torch.randn(x0.shape, generator=self.generator).to(self.device)
        s = sigma.reshape(-1, *([1] * (x0.ndim - 1)))
        x_t = (1 - s) * x0 + s * eps
        xin = x_t.to(self.dtype)
        v_old = self.velocity(xin, sigma, cond, omega, "old")
        v_ref = self.velocity(xin, sigma, cond, None, "ref") if t.kl > 0 else None

        def loss_fn(v):
            loss, per = losses.late_scalarised_nft_loss(v, v_old, x_t, x0, sigma, r, omega, t.beta)
            kl = losses.velocity_kl(v, v_ref) if v_ref is not None else torch.zeros_like(loss)
            return loss, per, kl
        return self._backward(lambda: self.backbone.velocity(xin, sigma, cond), loss_fn, omega, 1.0 / n_steps)

    def _grpo_update(self, traj, old_logp, j, idx, cond, omega, adv, n_steps: int):
        t = self.cfg.train
        sig = self.backbone.sigmas(t.sample_steps).to(self.device)
        x = traj[j][idx].to(self.device)
        x_next = traj[j + 1][idx].to(self.device)
        b = x.shape[0]
        sb = sig[j].expand(b)
        xin = x.to(self.dtype)
        v_ref = self.velocity(xin, sb, cond, None, "ref") if t.kl > 0 else None
        std_t = losses.sde_step_std(sb, t.grpo_eta, float(sig[1]))

        def loss_fn(v):
            mean = losses.sde_step_mean(x, v, sb, sig[j + 1].expand(b), std_t)
            logp = losses.gaussian_log_prob(x_next, mean, std_t * torch.sqrt(sig[j] - sig[j + 1]))
            loss, per = losses.late_scalarised_grpo_loss(logp, old_logp[idx, j].to(self.device), adv, omega,
                                                         t.grpo_clip, t.adv_clip)
            kl = losses.velocity_kl(v, v_ref) if v_ref is not None else torch.zeros_like(loss)
            return loss, per, kl
        return self._backward(lambda: self.backbone.velocity(xin, sb, cond), loss_fn, omega, 1.0 / n_steps)

    # ------------------------------------------------------------------ logging
    def log(self, metrics: dict[str, float]) -> None:
        if not self.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        row = {"step": self.step_index, **metrics}
        path = self.out_dir / "metrics.csv"
        if self._csv_fields is None:
            if self._resumed_from is not None and path.is_file() and path.stat().st_size:
                # keep the rows up to the checkpoint's step (a resume from an older checkpoint
                # replaces the rows written after it)
                with open(path, newline="") as f:
                    rows = list(csv.reader(f))
                self._csv_fields = rows[0]
                kept = [r for r in rows[1:] if r and int(float(r[0])) <= self._resumed_from]
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerows([self._csv_fields] + kept)
            else:
                self._csv_fields = list(row)
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerow(self._csv_fields)
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, self._csv_fields, extrasaction="ignore").writerow(row)
        if self.cfg.output.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter
                self._writer = SummaryWriter(str(self.out_dir / "logs"))
            for k, v in metrics.items():
                self._writer.add_scalar(k, v, self.step_index)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def save_checkpoint(self) -> Path:
        """checkpoints/step-<N>/: trainable + old params, optimizer, per-process RNG, counters, and
        the ParetoSlider file as of this step.
        Written into a hidden temp folder, then renamed (a crash never leaves a half checkpoint)."""
        self.check_in_sync()
        final = self.checkpoint_dir / f"step-{self.step_index:07d}"
        tmp = self.checkpoint_dir / f".tmp-step-{self.step_index:07d}"
        if self.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        torch.save(rng, tmp / f"rng-{self.rank}.pt")
        if self.is_main:
            torch.save({"current": self.policy.current_state(), "old": self.policy.old_state(),
                        "optimizer": self.optimizer.state_dict()}, tmp / "state.pt")
            # the slider as of this step, usable in ComfyUI while training goes on
            self.export(tmp / self.cfg.output.name)
            with open(tmp / "progress.json", "w") as f:
                json.dump({"step": self.step_index, "nan_streak": self.nan_streak, "world": self.world,
                       "loss_scale": self.loss_scale, "clean_updates": self._clean_updates,
                           "config": self.cfg.to_dict()}, f, indent=1)
        self.acc.wait_for_everyone()
        if self.is_main:
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            olds = sorted(p for p in self.checkpoint_dir.glob("step-*") if p.is_dir())
            for p in olds[:-self.cfg.output.keep_checkpoints]:
                shutil.rmtree(p, ignore_errors=True)
        self.acc.wait_for_everyone()
        return final

    def check_in_sync(self) -> None:
        """Every process must hold the same θ (gradients are averaged before each update)."""
        if self.world == 1:
            return
        flat = torch.cat([p.detach().reshape(-1).double() for p in self.policy.params])
        sums = self.acc.gather(torch.stack([flat.sum(), flat.abs().sum()]).to(self.device).reshape(1, 2)).cpu()
        if not torch.equal(sums.min(0).values, sums.max(0).values):
            raise RuntimeError(f"step {self.step_index}: the processes' parameters diverged ({sums.tolist()}); "
                               "this is a bug in the gradient synchronisation")

    def load_checkpoint(self, path: str | Path) -> None:
        path = Path(path)
        if path.name == "latest" or path == self.out_dir:
            found = latest_checkpoint(self.out_dir)
            if found is None:
                raise FileNotFoundError(f"--resume: no checkpoint in {self.checkpoint_dir}")
            path = found
        if not (path / "state.pt").is_file():
            raise FileNotFoundError(f"--resume: {path} is not a checkpoint folder (no state.pt)")
        with open(path / "progress.json") as f:
            progress = json.load(f)
        if progress["world"] != self.world:
            raise ValueError(f"--resume: the checkpoint was written by {progress['world']} processes, this run "
                             f"has {self.world}; resume with the same number of processes")
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        self.policy.load_current_state(state["current"])
        self.policy.load_old_state(state["old"])
        self.optimizer.load_state_dict(state["optimizer"])
        rng = torch.load(path / f"rng-{self.rank}.pt", map_location="cpu", weights_only=True)
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step_index = int(progress["step"])
        self._resumed_from = self.step_index
        self.nan_streak = int(progress["nan_streak"])
        self.loss_scale = float(progress.get("loss_scale", self.loss_scale))
        self._clean_updates = int(progress.get("clean_updates", 0))

    # ------------------------------------------------------------------ export
    def metadata(self, summary: dict | None = None) -> ParetoSliderMetadata:
        cfg = self.cfg
        objectives = [Objective(name=o.name, label=o.label, reward=o.reward or o.name) for o in cfg.objectives]
        training = {"algorithm": cfg.train.algorithm, "steps": self.step_index, "seed": cfg.train.seed,
                    "lr": cfg.train.lr, "beta": cfg.train.beta, "kl": cfg.train.kl,
                    "group_size": cfg.train.group_size, "prompts_per_step": cfg.train.prompts_per_step,
                    "omegas_per_prompt": cfg.preference.omegas_per_prompt, "sample_steps": cfg.train.sample_steps,
                    "processes": self.world, "fixed_preference": cfg.preference.fixed,
                    "backbone": cfg.model.backbone, **(summary or {})}
        return ParetoSliderMetadata(
            architecture=self.backbone.architecture, width=int(self.backbone.width), objectives=objectives,
            embedding=self.embedding, variant=self.backbone.variant or cfg.model.variant,
            lora={"rank": cfg.lora.rank, "alpha": cfg.lora.alpha, "targets": self.lora_targets,
                  "modules": len(self.lora_modules)},
            training=training)

    def export(self, path: str | Path | None = None, summary: dict | None = None) -> Path:
        path = Path(path) if path else self.out_dir / self.cfg.output.name
        lora = lora_state_for_file(self.backbone.transformer, self.cfg.lora.alpha, self.cfg.lora.rank)
        return save_paretoslider(path, self.metadata(summary), lora, self.modules)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = sorted(p for p in (Path(out_dir) / "checkpoints").glob("step-*") if (p / "state.pt").is_file())
    return found[-1] if found else None


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
    trainer = Trainer(config, backbone, rewards, samples)
    if resume:
        trainer.load_checkpoint(resume)
    out = config.output
    last: dict[str, float] = {}
    bar = None
    if trainer.is_main and out.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=config.train.steps, initial=trainer.step_index, desc="paretoslider", unit="step",
                   dynamic_ncols=True)
    try:
        while trainer.step_index < config.train.steps:
            metrics = trainer.step()
            last = metrics
            if trainer.step_index % out.log_every == 0 or trainer.step_index == config.train.steps:
                trainer.log(metrics)
            if callback is not None:
                callback(trainer.step_index, metrics)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k.split("/")[1][:10]: f"{v:.3g}" for k, v in metrics.items()
                                 if k.startswith("rewards/") and k.endswith("/mean")} | {"loss": f"{metrics['loss']:.3g}"})
            if out.checkpoint_every and trainer.step_index % out.checkpoint_every == 0 \
                    and trainer.step_index < config.train.steps:
                trainer.save_checkpoint()
        if out.checkpoint_every:
            trainer.save_checkpoint()
        path = Path(out.dir) / out.name
        trainer.check_in_sync()
        if trainer.is_main:
            summary = {k.replace("/", "_"): round(v, 6) for k, v in last.items()
                       if k.startswith("rewards/") and k.endswith("/mean")}
            path = trainer.export(summary={"final": summary} if summary else None)
        trainer.acc.wait_for_everyone()
        return path
    finally:
        if bar is not None:
            bar.close()
        trainer.close()

"""Per-objective LoRAs mixed by ω (lora.per_objective, issue 26): the trained model is
W0 + Σ_k ω_k ΔW_k, i.e. the rewarded soup of the file's per-objective LoRAs at that ω — row by row in
training, merged per ω at evaluation — and nothing without ω."""
import pytest
import torch
from testsupport.trainer_helpers import brightness, redness, tiny_config

from pareto_core import ParetoSliderFileError, load_paretoslider, save_paretoslider
from pareto_core.combine import sum_deltas
from trainer.adapters.inject import preference_hooks
from trainer.adapters.lora import adapters_disabled
from trainer.adapters.merge import lora_deltas, merged_deltas
from trainer.config import ConfigError
from trainer.run.export import export
from trainer.run.train import Trainer


def _trainer(path, tmp_path, **train):
    cfg = tiny_config(path, tmp_path / "run", **train)
    cfg.lora.per_objective = True
    cfg.check()
    tr = Trainer(cfg, rewards=[brightness, redness])
    torch.manual_seed(3)       # trained-looking LoRAs: B is zero at initialisation
    for name, p in tr.policy.named:
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    return tr


def _inputs(tr, n=2):
    bb = tr.backbone
    cond = bb.encode(tr.samples[:1] * n)
    x = bb.noise(n, torch.Generator().manual_seed(1))
    return x, torch.full((n,), 0.6), cond


def test_gated_training_model_is_the_soup_of_the_exported_loras_row_by_row(tiny_sd3_path, tmp_path):
    tr = _trainer(tiny_sd3_path, tmp_path)
    path = export(tmp_path / "po.safetensors", tr.cfg, tr.backbone, tr.trainable, 0, 1)
    f = load_paretoslider(path)
    assert f.metadata.format_version == 3 and f.metadata.per_objective_lora
    assert f.lora == {} and len(f.objective_loras) == 2
    assert set(f.objective_loras[0]) == set(f.objective_loras[1])
    x, sigma, cond = _inputs(tr)
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    with torch.no_grad():
        live = tr.velocity(x, sigma, cond, omega)          # one batch, one ω per row, gated adapters
        tr_ = tr.backbone.transformer
        deltas = [lora_deltas(part) for part in f.objective_loras]
        modules = f.preference_modules()
        for i, w in enumerate(omega):                     # the soup at that row's ω, merged into the weights
            with merged_deltas(tr_, sum_deltas([(float(w[k]), deltas[k]) for k in range(2)])), \
                    preference_hooks(tr_, tr.backbone, modules, w):
                soup = tr.backbone.velocity(x[i:i + 1], sigma[i:i + 1], cond.index(slice(i, i + 1)))
            assert torch.allclose(live[i:i + 1], soup, atol=2e-5), (i, (live[i] - soup[0]).abs().max())
        # the two rows differ: the gates are per row, not one ω for the batch
        assert (live[0] - live[1]).abs().max() > 1e-3


def test_without_omega_the_per_objective_loras_are_off(tiny_sd3_path, tmp_path):
    tr = _trainer(tiny_sd3_path, tmp_path)
    x, sigma, cond = _inputs(tr, 1)
    tr_ = tr.backbone.transformer
    with torch.no_grad():
        with preference_hooks(tr_, tr.backbone, None, None):
            off = tr.backbone.velocity(x, sigma, cond)
        with adapters_disabled(tr_):
            base = tr.backbone.velocity(x, sigma, cond)
        ungated = tr.backbone.velocity(x, sigma, cond)      # no hooks at all: both LoRAs at full weight
    assert torch.allclose(off, base, atol=1e-6)
    assert (ungated - base).abs().max() > 1e-3


def test_a_run_trains_each_objectives_lora_and_resumes_bit_identically(tiny_sd3_path, tmp_path):
    from trainer.run.train import run

    def config(folder, steps):
        cfg = tiny_config(tiny_sd3_path, tmp_path / folder, steps=steps)
        cfg.lora.per_objective, cfg.output.checkpoint_every = True, 1
        return cfg
    f = load_paretoslider(run(config("a", 2), rewards=[brightness, redness]))
    for part in f.objective_loras:          # both objectives' B moved off zero
        assert max(float(v.abs().max()) for k, v in part.items() if "lora_B" in k) > 0
    run(config("b", 1), rewards=[brightness, redness])
    resumed = load_paretoslider(run(config("b", 2), rewards=[brightness, redness], resume="latest"))
    for a, b in zip(f.objective_loras, resumed.objective_loras):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_fixed_weight_run_cannot_ask_for_per_objective_loras(tiny_sd3_path, tmp_path):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run")
    cfg.lora.per_objective = True
    cfg.preference.fixed = [1.0, 0.0]
    with pytest.raises(ConfigError, match="lora.per_objective.*is for an ω-conditioned run"):
        cfg.check()


def test_the_file_holds_one_lora_per_objective_and_says_so(tiny_sd3_path, tmp_path):
    tr = _trainer(tiny_sd3_path, tmp_path)
    f = load_paretoslider(export(tmp_path / "po.safetensors", tr.cfg, tr.backbone, tr.trainable, 0, 1))
    meta, modules = f.metadata, f.preference_state
    with pytest.raises(ParetoSliderFileError, match="needs one LoRA per objective \\(2\\), found 1"):
        save_paretoslider(tmp_path / "one.safetensors", meta, {}, modules, f.objective_loras[:1])
    meta.lora = {k: v for k, v in meta.lora.items() if k != "per_objective"}
    with pytest.raises(ParetoSliderFileError, match="does not say lora.per_objective"):
        save_paretoslider(tmp_path / "undeclared.safetensors", meta, {}, modules, f.objective_loras)
    # without per-objective LoRAs the version is the embedding's again (older readers keep reading it)
    assert meta.oldest_version == meta.embedding.format_version < 3


def test_evaluating_a_per_objective_file_merges_the_soup_at_each_omega(tiny_sd3_path, tmp_path):
    from trainer.evaluation.evaluate import evaluate_file
    from trainer.evaluation.sweep import sweep
    tr = _trainer(tiny_sd3_path, tmp_path)
    path = export(tmp_path / "po.safetensors", tr.cfg, tr.backbone, tr.trainable, 0, 1)
    f = load_paretoslider(path)
    s = evaluate_file(path, tr.backbone, ["a red cat"], ["brightness"], tmp_path / "eval", points=3, steps=2,
                      base=False, write_front=True, progress=False)
    omegas = torch.tensor(s["omega"])
    assert omegas.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    tr_, modules = tr.backbone.transformer, f.preference_modules()
    for i, w in enumerate(omegas):      # each ω alone, its soup merged by hand: the same images' scores
        deltas = sum_deltas([(float(w[k]), lora_deltas(f.objective_loras[k])) for k in range(2)])
        with merged_deltas(tr_, deltas):
            one = sweep(tr.backbone, modules, ["a red cat"], omegas[i:i + 1], [_brightness()], steps=2,
                        keep_images=False, progress=False)
        assert one.scores["brightness"][0, 0].item() == pytest.approx(s["scores"]["brightness"][i], abs=1e-6)
    assert len(set(round(v, 6) for v in s["scores"]["brightness"])) == 3     # ω moves the images
    assert load_paretoslider(path).objective_loras[1].keys() == f.objective_loras[1].keys()   # front written back


def _brightness():
    from trainer.rewards import build_reward
    return build_reward("brightness")


def test_a_file_whose_per_objective_loras_skip_a_number_is_refused(tiny_sd3_path, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file
    tr = _trainer(tiny_sd3_path, tmp_path)
    path = export(tmp_path / "po.safetensors", tr.cfg, tr.backbone, tr.trainable, 0, 1)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k.replace("objective1.", "objective2.", 1): f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(tmp_path / "gap.safetensors"), metadata=meta)
    assert json.loads(meta["paretoslider"])["format_version"] == 3
    with pytest.raises(ParetoSliderFileError, match=r"per-objective LoRAs \[0, 2\] are not numbered 0..n-1"):
        load_paretoslider(tmp_path / "gap.safetensors")

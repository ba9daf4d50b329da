"""ω injection hooks and the exported LoRA (keys, alpha/rank scale) on a tiny SD3 transformer."""
import pytest
import torch

from pareto_core import EmbeddingConfig, PreferenceModules
from trainer.backbones.base import Sample
from trainer.adapters.inject import preference_hooks
from trainer.adapters.lora import adapters_disabled, attach_lora, lora_state_for_file
from trainer.adapters.policy import PolicyParams


@pytest.fixture()
def sd3(tiny_sd3_path):
    from trainer.backbones.sd3 import SD3Backbone
    return SD3Backbone(str(tiny_sd3_path), resolution=32, max_sequence_length=8)


def _inputs(bb, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    cond = bb.encode([Sample("a red cat"), Sample("a blue dog")][:n])
    return bb.noise(n, g), torch.full((n,), 0.6), cond


def _randomise(modules, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in modules.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return modules


def test_fresh_preference_modules_leave_the_base_model_unchanged(sd3):
    x, s, cond = _inputs(sd3)
    base = sd3.velocity(x, s, cond)
    modules = PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=16, block_modulation=True))
    with preference_hooks(sd3.transformer, sd3, modules, torch.tensor([0.3, 0.7])):
        out = sd3.velocity(x, s, cond)
    assert torch.equal(base, out)


@pytest.mark.parametrize("block_modulation", [False, True])
def test_each_row_gets_its_own_omega(sd3, block_modulation):
    x, s, cond = _inputs(sd3)
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=16,
                                                           block_modulation=block_modulation)))
    omega = torch.tensor([[1.0, 0.0], [0.2, 0.8]])
    with preference_hooks(sd3.transformer, sd3, modules, omega):
        both = sd3.velocity(x, s, cond)
    rows = []
    for i in range(2):
        with preference_hooks(sd3.transformer, sd3, modules, omega[i]):
            rows.append(sd3.velocity(x[i:i + 1], s[i:i + 1], cond.index(slice(i, i + 1))))
    assert torch.allclose(both, torch.cat(rows), atol=1e-5)
    base = sd3.velocity(x, s, cond)
    assert not torch.allclose(both, base, atol=1e-4)       # ω changes the output


def test_temb_hook_adds_exactly_the_embedding(sd3):
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=16)))
    omega = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    _, s, cond = _inputs(sd3)
    with torch.no_grad():
        raw = sd3.transformer.time_text_embed(s * 1000, cond.tensors["pooled"])
        with preference_hooks(sd3.transformer, sd3, modules, omega):
            hooked = sd3.transformer.time_text_embed(s * 1000, cond.tensors["pooled"])
        assert torch.allclose(hooked, raw + modules.temb_delta(omega), atol=1e-6)


def test_hooks_are_removed_even_when_the_body_raises(sd3):
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=16, block_modulation=True)))
    n_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in sd3.transformer.modules())
    with pytest.raises(RuntimeError):
        with preference_hooks(sd3.transformer, sd3, modules, torch.tensor([0.5, 0.5])):
            raise RuntimeError("boom")
    n_after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in sd3.transformer.modules())
    assert n_after == n_before


def test_exported_lora_with_alpha_over_rank_reproduces_the_peft_model(sd3):
    """Merge the file's LoRA by hand as ComfyUI does (W + alpha/rank · B A) into a fresh copy."""
    from diffusers import SD3Transformer2DModel
    x, s, cond = _inputs(sd3)
    fresh = SD3Transformer2DModel.from_config(sd3.transformer.config)
    fresh.load_state_dict(sd3.transformer.state_dict())
    rank, alpha = 4, 12.0
    attach_lora(sd3.transformer, rank, alpha, sd3.default_lora_targets)
    params = PolicyParams(sd3.transformer, None)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in params.params:
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    with torch.no_grad():
        v_peft = sd3.velocity(x, s, cond)
        with adapters_disabled(sd3.transformer):
            v_base = sd3.velocity(x, s, cond)
    assert not torch.allclose(v_peft, v_base, atol=1e-4)
    state = lora_state_for_file(sd3.transformer, alpha, rank)
    modules = {k[len("transformer."):-len(".alpha")] for k in state if k.endswith(".alpha")}
    assert len(modules) == 8 * 2 - 1          # 8 projections per block; the last block has no to_add_out
    with torch.no_grad():
        for m in modules:
            lin = fresh.get_submodule(m)
            a, b = state[f"transformer.{m}.lora_A.weight"], state[f"transformer.{m}.lora_B.weight"]
            lin.weight += state[f"transformer.{m}.alpha"] / a.shape[0] * (b @ a)
        sd3.transformer, orig = fresh, sd3.transformer
        v_merged = sd3.velocity(x, s, cond)
        sd3.transformer = orig
    assert torch.allclose(v_merged, v_peft, atol=1e-5)


def test_old_policy_swap_restores_current_parameters(sd3):
    attach_lora(sd3.transformer, 2, 4.0, ["to_q"])
    modules = PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=8))
    pp = PolicyParams(sd3.transformer, modules)
    with torch.no_grad():
        for p in pp.params:
            p.add_(1.0)
    current = [p.detach().clone() for p in pp.params]
    with pp.swapped_in():
        assert all(torch.equal(p, o) for p, o in zip(pp.params, pp.old))
    assert all(torch.equal(p, c) for p, c in zip(pp.params, current))
    pp.update_old(0.75)
    assert all(torch.allclose(o, 0.75 * (c - 1.0) + 0.25 * c) for o, c in zip(pp.old, current))


def test_flux_kontext_rows_and_block_modulation(tiny_kontext_path, edits_jsonl):
    from trainer.backbones.flux_kontext import FluxKontextBackbone
    from trainer.data import read_edits
    bb = FluxKontextBackbone(str(tiny_kontext_path), resolution=32, max_sequence_length=8)
    samples = read_edits(str(edits_jsonl))
    cond = bb.encode(samples)
    x = bb.noise(2, torch.Generator().manual_seed(0))
    s = torch.tensor([0.7, 0.3])
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, bb.width, hidden=16, block_modulation=True)))
    omega = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    with torch.no_grad():
        base = bb.velocity(x, s, cond)
        with preference_hooks(bb.transformer, bb, modules, omega):
            both = bb.velocity(x, s, cond)
        rows = []
        for i in range(2):
            with preference_hooks(bb.transformer, bb, modules, omega[i]):
                rows.append(bb.velocity(x[i:i + 1], s[i:i + 1], cond.index(slice(i, i + 1))))
        modules.block_modulation = None          # temb only: block modulation must matter on its own
        with preference_hooks(bb.transformer, bb, modules, omega):
            temb_only = bb.velocity(x, s, cond)
    assert both.shape == x.shape
    assert torch.allclose(both, torch.cat(rows), atol=1e-5)
    assert not torch.allclose(both, base, atol=1e-4)
    assert not torch.allclose(both, temb_only, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients(sd3):
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, sd3.width, hidden=16, block_modulation=True)))
    attach_lora(sd3.transformer, 2, 4.0, sd3.default_lora_targets)
    pp = PolicyParams(sd3.transformer, modules)
    with torch.no_grad():
        for p in pp.params:
            p.add_(0.01)          # LoRA B starts at zero: give A a gradient too
    x, s, cond = _inputs(sd3)
    omega = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    grads = []
    for ckpt in (False, True):
        if ckpt:
            sd3.transformer.enable_gradient_checkpointing()
        sd3.transformer.train(ckpt)
        for p in pp.params:
            p.grad = None
        with preference_hooks(sd3.transformer, sd3, modules, omega):
            sd3.velocity(x, s, cond).pow(2).mean().backward()
        grads.append([p.grad.clone() for p in pp.params])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_sd35_dual_attention_blocks_take_block_modulation_and_lora():
    """SD3.5 Medium's dual-attention blocks (AdaLayerNormZeroX, attn2) with qk-norm."""
    from diffusers import SD3Transformer2DModel

    class Stub:
        temb_module, joint_blocks = "time_text_embed", "transformer_blocks"
    torch.manual_seed(0)
    tr = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=2,
                               attention_head_dim=64, num_attention_heads=2, joint_attention_dim=32,
                               caption_projection_dim=128, pooled_projection_dim=16, pos_embed_max_size=8,
                               dual_attention_layers=(0,), qk_norm="rms_norm").eval()
    names = attach_lora(tr, 2, 4.0, ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                                     "add_v_proj", "to_add_out"))
    assert any(".attn2.to_q" in n for n in names)
    modules = _randomise(PreferenceModules(EmbeddingConfig(2, 128, hidden=8, block_modulation=True)))
    g = torch.Generator().manual_seed(1)
    x, ctx, pooled = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 5, 32, generator=g), torch.randn(2, 16, generator=g)
    t = torch.tensor([600.0, 300.0])
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7]])

    def v(rows=slice(None), w=omega):
        with torch.no_grad(), preference_hooks(tr, Stub, modules, w):
            return tr(hidden_states=x[rows], encoder_hidden_states=ctx[rows], pooled_projections=pooled[rows],
                      timestep=t[rows], return_dict=False)[0]
    both = v()
    rows = torch.cat([v(slice(i, i + 1), omega[i]) for i in range(2)])
    assert torch.allclose(both, rows, atol=1e-5)
    modules.block_modulation = None
    assert not torch.allclose(both, v(), atol=1e-5)

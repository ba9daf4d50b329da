import math

import pytest
import torch

from pareto_core import (EmbeddingConfig, PreferenceError, PreferenceModules, edge_sweep,
                         parse_preference, rows_for_batch, simplex_grid, validate_preference)


def test_validate_normalises_onto_simplex():
    w = validate_preference([1, 3], 2)
    assert torch.allclose(w, torch.tensor([0.25, 0.75]))
    assert w.dtype == torch.float32


@pytest.mark.parametrize("omega, message", [
    ([0.5, 0.5, 0.0], "has 3 value(s) but this slider has 2 objectives"),
    ([float("nan"), 1.0], "NaN"),
    ([-0.1, 1.1], "negative weight"),
    ([0.0, 0.0], "all zero"),
    ([1.0, float("inf")], "NaN or infinity"),
])
def test_bad_preferences_are_refused_with_a_message(omega, message):
    with pytest.raises(PreferenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_preference(omega, 2)


def test_length_error_names_the_objectives():
    with pytest.raises(PreferenceError, match="photo, sketch"):
        validate_preference([1.0], 2, names=["photo", "sketch"])


def test_batch_of_preferences_is_normalised_per_row():
    w = validate_preference([[1, 1], [0, 2]], 2)
    assert torch.allclose(w, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))


@pytest.mark.parametrize("text, expected", [
    ("0.3, 0.7", [0.3, 0.7]),
    ("[0.2, 0.3, 0.5]", [0.2, 0.3, 0.5]),
    ('{"omega": [1, 0]}', [1.0, 0.0]),
    ({"omega": [0, 1]}, [0.0, 1.0]),
    ("0.25;0.75", [0.25, 0.75]),
    ([1, 2], [1.0, 2.0]),
])
def test_parse_preference_accepts_widget_formats(text, expected):
    assert parse_preference(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "abc, 1", "{}"])
def test_parse_preference_rejects_garbage(text):
    with pytest.raises(PreferenceError):
        parse_preference(text)


def test_edge_sweep_runs_from_one_vertex_to_the_other():
    w = edge_sweep(3, 5, start=0, end=2)
    assert w.shape == (5, 3)
    assert torch.allclose(w[0], torch.tensor([1.0, 0, 0])) and torch.allclose(w[-1], torch.tensor([0, 0, 1.0]))
    assert torch.allclose(w.sum(1), torch.ones(5))
    assert (w[:, 1] == 0).all()


def test_simplex_grid_counts_and_sums():
    g = simplex_grid(3, 4)
    assert g.shape == (math.comb(4 + 2, 2), 3)
    assert torch.allclose(g.sum(1), torch.ones(len(g)))
    assert len({tuple(r.tolist()) for r in g}) == len(g)


def test_fresh_modules_are_zero_so_the_base_model_is_unchanged():
    m = PreferenceModules(EmbeddingConfig(2, 32, hidden=16, block_modulation=True))
    omega = validate_preference([[0.2, 0.8], [1, 0]], 2)
    assert torch.count_nonzero(m.temb_delta(omega)) == 0
    assert torch.count_nonzero(m.block_vector(omega)) == 0


def test_trained_modules_distinguish_preferences():
    torch.manual_seed(0)
    m = PreferenceModules(EmbeddingConfig(2, 32, hidden=16, block_modulation=True))
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)
    omega = validate_preference([[0.2, 0.8], [1, 0]], 2)
    d = m.temb_delta(omega)
    b = m.block_vector(omega)
    assert d.shape == (2, 32) and b.shape == (2, 32)
    assert not torch.allclose(d[0], d[1]) and not torch.allclose(b[0], b[1])


def test_block_modulation_is_absent_unless_configured():
    m = PreferenceModules(EmbeddingConfig(3, 8, hidden=4))
    assert m.block_vector(torch.ones(1, 3) / 3) is None


def test_rows_follow_cond_and_uncond_chunks():
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    rows = rows_for_batch(omega, 6)  # [cond x3, uncond x3]
    assert torch.equal(rows[:3], omega) and torch.equal(rows[3:], omega)
    assert rows_for_batch(torch.tensor([0.3, 0.7]), 4).shape == (4, 2)
    with pytest.raises(PreferenceError, match="batch size of 3"):
        rows_for_batch(omega, 4)


def test_fourier_features_follow_the_reference_layout():
    from pareto_core.preference import fourier_features
    w = torch.tensor([[0.25, 0.75]])
    f = fourier_features(w, 2)
    # per component: sin(π·2^k·ω) for k < 2, then cos(π·2^k·ω) for k < 2; no raw ω
    expected = [math.sin(math.pi * 0.25), math.sin(2 * math.pi * 0.25), math.cos(math.pi * 0.25),
                math.cos(2 * math.pi * 0.25), math.sin(math.pi * 0.75), math.sin(2 * math.pi * 0.75),
                math.cos(math.pi * 0.75), math.cos(2 * math.pi * 0.75)]
    assert torch.allclose(f, torch.tensor([expected]), atol=1e-6)


def test_block_fraction_picks_the_leading_blocks_like_the_reference():
    cfg = EmbeddingConfig(2, 64, block_modulation=True, block_fraction=0.5)
    assert [EmbeddingConfig(2, 64, block_modulation=True, block_fraction=f).active_blocks(24)
            for f in (1.0, 0.5, 0.3, 0.01)] == [24, 12, 7, 1]
    assert cfg.active_blocks(3) == 1


@pytest.mark.parametrize("field, value, message", [
    ("block_form", "gated", "block_form 'gated' is not one of"),
    ("block_fraction", 0.0, "block_fraction must be in (0, 1]"),
    ("block_projector", "mlp", "block_projector 'mlp' is not one of"),
    ("pooled_width", 16, "pooled_width needs block_projector 'fourier'"),
])
def test_embedding_config_refuses_impossible_values(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        EmbeddingConfig(2, 64, block_modulation=True, **{field: value})


def test_affine_block_vector_is_twice_as_wide_and_adds_scale_then_shift():
    from pareto_core.preference import modulate_block
    cfg = EmbeddingConfig(2, 4, block_modulation=True, block_projector="fourier", block_form="affine",
                          num_frequencies=2, extender_width=8, projector_layers=2)
    mods = PreferenceModules(cfg)
    assert mods.block_vector(torch.tensor([[1.0, 0.0]])).shape == (1, 8)
    m = torch.arange(8.0).unsqueeze(0)
    shift, scale = modulate_block("affine", 4, m, torch.zeros(1, 4), torch.zeros(1, 4))
    assert scale.tolist() == [[0, 1, 2, 3]] and shift.tolist() == [[4, 5, 6, 7]]
    assert modulate_block("residual", 4, m[:, :4], torch.ones(1, 4), torch.ones(1, 4))[0].tolist() == [[1] * 4]


def test_a_pooled_text_block_vector_needs_the_pooled_embedding():
    cfg = EmbeddingConfig(2, 4, block_modulation=True, block_projector="fourier", pooled_width=3,
                          extender_width=8, projector_layers=2)
    mods = PreferenceModules(cfg)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        for p in mods.parameters():
            p.normal_()
    with pytest.raises(PreferenceError, match="reads the prompt's pooled text embedding"):
        mods.block_vector(w)
    with pytest.raises(PreferenceError, match=r"expects \(2, 3\)"):
        mods.block_vector(w, torch.zeros(2, 5))
    a, b = mods.block_vector(w, torch.zeros(2, 3)), mods.block_vector(w, torch.ones(2, 3))
    assert not torch.allclose(a, b)      # the text moves the block vector

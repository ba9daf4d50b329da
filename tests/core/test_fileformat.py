import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from pareto_core import (
    EmbeddingConfig,
    Objective,
    ParetoSliderFileError,
    ParetoSliderMetadata,
    ParetoSliderMismatchError,
    PreferenceModules,
    load_paretoslider,
    read_metadata,
    save_paretoslider,
)
from pareto_core.fileformat import MAX_METADATA_BYTES


def make_meta(k=2, width=32, arch="sd3", block=True):
    objectives = [Objective(f"obj{i}", f"Label {i}", f"reward{i}") for i in range(k)]
    return ParetoSliderMetadata(arch, width, objectives, EmbeddingConfig(k, width, hidden=16, block_modulation=block),
                                variant="tiny", lora={"rank": 4, "alpha": 8},
                                training={"steps": 3}, front={"omega": [[1, 0], [0, 1]], "scores": {"a": [1, 2]}})


def make_lora():
    g = torch.Generator().manual_seed(0)
    return {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.randn(4, 32, generator=g),
            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": torch.randn(32, 4, generator=g),
            "transformer.transformer_blocks.0.attn.to_q.alpha": torch.tensor(8.0)}


@pytest.fixture
def slider_file(tmp_path):
    torch.manual_seed(0)
    meta = make_meta()
    modules = PreferenceModules(meta.embedding)
    for p in modules.parameters():
        torch.nn.init.normal_(p)
    path = save_paretoslider(tmp_path / "s.safetensors", meta, make_lora(), modules)
    return path, meta, modules


def test_round_trip_keeps_everything(slider_file):
    path, meta, modules = slider_file
    f = load_paretoslider(path)
    assert f.metadata == meta
    assert set(f.lora) == set(make_lora())
    assert torch.equal(f.lora["transformer.transformer_blocks.0.attn.to_q.alpha"], torch.tensor(8.0))
    restored = f.preference_modules()
    omega = torch.tensor([[0.3, 0.7]])
    assert torch.equal(restored.temb_delta(omega), modules.temb_delta(omega))
    assert torch.equal(restored.block_vector(omega), modules.block_vector(omega))


def test_labels_come_from_metadata_without_reading_tensors(slider_file):
    path, _, _ = slider_file
    assert read_metadata(path).labels == ["Label 0", "Label 1"]


def test_no_temp_file_is_left_behind(slider_file, tmp_path):
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]


def test_failed_write_keeps_the_previous_file(slider_file):
    path, meta, modules = slider_file
    before = path.read_bytes()
    with pytest.raises(ParetoSliderFileError):
        save_paretoslider(path, meta, {"bad_key": torch.zeros(1)}, modules)
    assert path.read_bytes() == before
    assert len(list(path.parent.iterdir())) == 1


def test_missing_file_says_where_files_go(tmp_path):
    with pytest.raises(ParetoSliderFileError, match="models/paretoslider"):
        load_paretoslider(tmp_path / "nope.safetensors")


def test_truncated_file_is_refused(slider_file, tmp_path):
    path, _, _ = slider_file
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ParetoSliderFileError, match="truncated"):
        load_paretoslider(cut)


def test_pickle_is_never_unpickled(tmp_path):
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ParetoSliderFileError, match="pickle"):
        load_paretoslider(p)
    torch.save({"a": torch.zeros(1)}, tmp_path / "ckpt.safetensors")
    with pytest.raises(ParetoSliderFileError, match="never unpickles"):
        load_paretoslider(tmp_path / "ckpt.safetensors")


def test_a_header_length_ending_in_0x80_is_not_mistaken_for_a_pickle(tmp_path):
    # safetensors starts with its header length (little endian): a length of 0x..80 starts with
    # the byte a pickle starts with; the file must still load
    meta, lora = make_meta(), make_lora()
    for pad in range(300):
        meta.variant = "x" * pad
        path = save_paretoslider(tmp_path / "f.safetensors", meta, lora, PreferenceModules(meta.embedding))
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length ending in 0x80")
    assert load_paretoslider(path).metadata.variant == meta.variant


def test_random_bytes_are_not_safetensors(tmp_path):
    p = tmp_path / "noise.safetensors"
    p.write_bytes(b"hello world, this is not a model file at all")
    with pytest.raises(ParetoSliderFileError, match="not a safetensors file"):
        load_paretoslider(p)


def test_corrupt_header_json_is_refused(tmp_path):
    p = tmp_path / "bad.safetensors"
    body = b"{not json" + b" " * 7
    p.write_bytes(struct.pack("<Q", len(body)) + body)
    with pytest.raises(ParetoSliderFileError, match="header is not JSON"):
        load_paretoslider(p)


def test_plain_lora_is_not_a_slider(tmp_path):
    p = tmp_path / "lora.safetensors"
    save_file(make_lora(), str(p))
    with pytest.raises(ParetoSliderFileError, match="not a ParetoSlider file"):
        load_paretoslider(p)


def test_oversized_metadata_is_refused(tmp_path):
    p = tmp_path / "big.safetensors"
    save_file({"x": torch.zeros(1)}, str(p), metadata={"paretoslider": "x" * (MAX_METADATA_BYTES + 10)})
    with pytest.raises(ParetoSliderFileError, match="over the"):
        load_paretoslider(p)


def test_newer_format_version_asks_to_update(slider_file, tmp_path):
    path, meta, modules = slider_file
    d = json.loads(meta.to_json())
    d["format_version"] = 99
    p = tmp_path / "future.safetensors"
    tensors = {**make_lora(), **{"paretoslider." + k: v for k, v in modules.state_dict().items()}}
    save_file(tensors, str(p), metadata={"paretoslider": json.dumps(d)})
    with pytest.raises(ParetoSliderFileError, match="update the extension"):
        load_paretoslider(p)


def test_preference_tensor_shape_mismatch_is_caught(tmp_path):
    meta = make_meta()
    wrong = PreferenceModules(EmbeddingConfig(2, 16, hidden=16, block_modulation=True)).state_dict()
    with pytest.raises(ParetoSliderFileError, match="shape"):
        save_paretoslider(tmp_path / "w.safetensors", meta, make_lora(), wrong)


def test_nan_weights_are_refused(slider_file, tmp_path):
    path, meta, modules = slider_file
    lora = make_lora()
    lora["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"][0, 0] = float("nan")
    p = save_paretoslider(tmp_path / "nan.safetensors", meta, lora, modules)
    with pytest.raises(ParetoSliderFileError, match="NaN"):
        load_paretoslider(p)


def test_architecture_mismatch_names_both_models(slider_file):
    f = load_paretoslider(slider_file[0])
    f.check_compatible("sd3", 32)
    with pytest.raises(ParetoSliderMismatchError, match=r"trained for SD3.*width 32.*Flux.*width 3072"):
        f.check_compatible("flux", 3072)


def test_metadata_validation_rejects_single_objective(tmp_path):
    meta = make_meta()
    meta.objectives = meta.objectives[:1]
    with pytest.raises(ParetoSliderFileError, match="at least 2 objectives"):
        save_paretoslider(tmp_path / "one.safetensors", meta, make_lora(), PreferenceModules(make_meta().embedding))


def test_three_objectives_round_trip(tmp_path):
    meta = make_meta(k=3, block=False)
    meta.front = None
    p = save_paretoslider(tmp_path / "three.safetensors", meta, make_lora(), PreferenceModules(meta.embedding))
    f = load_paretoslider(p)
    assert f.metadata.num_objectives == 3 and f.preference_modules().block_modulation is None


def test_training_metadata_is_typed_and_reads_the_old_flat_layout(tmp_path):
    from pareto_core import TrainingMetadata
    meta, lora = make_meta(), make_lora()
    meta.training = TrainingMetadata(algorithm="nft", steps=7, fixed_preference=[0.25, 0.75], resolution=512,
                                     sample_steps=10, final_rewards={"a": 0.5}, settings={"lr": 3e-3})
    path = save_paretoslider(tmp_path / "f.safetensors", meta, lora, PreferenceModules(meta.embedding))
    t = read_metadata(path).training
    assert (t.fixed_preference, t.steps, t.resolution, t.sample_steps, t.cfg, t.guidance) == \
        ([0.25, 0.75], 7, 512, 10, 1.0, None)
    assert t["fixed_preference"] == [0.25, 0.75] and t["lr"] == 3e-3
    with pytest.raises(KeyError):
        t["fixed_omega"]                       # the misspelling that once fed the wrong ω goes nowhere
    with pytest.raises(AttributeError):
        t.fixed_omega
    # a file written before the typed layout: one flat dict, rewards under "final"
    old = TrainingMetadata.from_dict({"algorithm": "nft", "steps": 3, "fixed_preference": None, "lr": 1e-3,
                                      "final": {"rewards_a_mean": 0.25, "rewards_b_mean": 0.5}})
    assert old.fixed_preference is None and old.steps == 3 and old.settings == {"lr": 1e-3}
    assert old.final_rewards == {"a": 0.25, "b": 0.5} and old.resolution == 0


def test_version_1_configs_are_still_written_as_version_1_files(tmp_path):
    """Files without the version-2 forms stay readable by older extensions: version 1, v1 fields only."""
    from pareto_core.fileformat import METADATA_KEY
    from safetensors import safe_open
    emb = EmbeddingConfig(num_objectives=2, width=32, hidden=8, block_modulation=True)
    meta = ParetoSliderMetadata(architecture="sd3", width=32, objectives=[Objective("a"), Objective("b")],
                                embedding=emb)
    path = save_paretoslider(tmp_path / "v1.safetensors", meta, {}, PreferenceModules(emb))
    with safe_open(str(path), "pt") as f:
        d = json.loads(f.metadata()[METADATA_KEY])
    assert d["format_version"] == 1 and "source" not in d
    assert set(d["embedding"]) == {"num_objectives", "width", "hidden", "block_modulation", "num_frequencies",
                                   "injection"}
    assert load_paretoslider(path).metadata == meta


def test_version_2_forms_round_trip_and_a_newer_version_is_refused(tmp_path):
    from pareto_core.fileformat import METADATA_KEY
    from safetensors import safe_open
    from safetensors.torch import save_file
    emb = EmbeddingConfig(num_objectives=2, width=32, hidden=32, block_modulation=True, num_frequencies=3,
                          block_projector="fourier", block_form="affine", block_fraction=0.5, pooled_width=16,
                          extender_width=24)
    meta = ParetoSliderMetadata(architecture="sd3", width=32, objectives=[Objective("a"), Objective("b")],
                                embedding=emb, source={"kind": "reference", "checkpoint": "checkpoint-7"})
    path = save_paretoslider(tmp_path / "v2.safetensors", meta, {}, PreferenceModules(emb))
    loaded = load_paretoslider(path)
    assert loaded.metadata == meta and loaded.metadata.format_version == 2
    assert loaded.metadata.imported_from == "the reference code (checkpoint-7)"
    with safe_open(str(path), "pt") as f:
        d = json.loads(f.metadata()[METADATA_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    d["format_version"] = 4
    save_file(tensors, str(tmp_path / "v4.safetensors"), metadata={METADATA_KEY: json.dumps(d)})
    with pytest.raises(ParetoSliderFileError, match="format version 4 is not supported by this version of "
                                                    "ComfyUI-ParetoSlider \\(it reads versions 1 to 3\\); update"):
        load_paretoslider(tmp_path / "v4.safetensors")
    d["format_version"] = 1           # version-2 fields in a file that says 1: malformed, not misread
    save_file(tensors, str(tmp_path / "v1bad.safetensors"), metadata={METADATA_KEY: json.dumps(d)})
    with pytest.raises(ParetoSliderFileError, match="uses format version 2 fields but the file says version 1"):
        load_paretoslider(tmp_path / "v1bad.safetensors")

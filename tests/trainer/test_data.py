"""Training data and model paths: what users get when something is missing."""
import pytest

from trainer.config import DataConfig
from trainer.data import load_samples, read_edits, read_prompts


def test_prompt_file_skips_blank_and_comment_lines(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# header\na cat\n\n  a dog  \n")
    assert read_prompts(str(f)) == ["a cat", "a dog"]
    assert [s.prompt for s in load_samples(DataConfig(prompts=str(f)))] == ["a cat", "a dog"]


def test_edit_folder_pairs_images_with_same_name_txt(tmp_path):
    from PIL import Image
    Image.new("RGB", (8, 6), (255, 0, 0)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("make it blue\nmake it green\n")
    samples = read_edits(str(tmp_path))
    assert [s.prompt for s in samples] == ["make it blue", "make it green"]
    assert samples[0].source.shape == (3, 6, 8) and samples[0].source[0].min() == 1.0


def test_edit_errors_name_the_line_and_the_missing_file(tmp_path):
    f = tmp_path / "e.jsonl"
    f.write_text('{"image": "missing.png", "instruction": "x"}\n')
    with pytest.raises(FileNotFoundError, match="line 1.*missing.png"):
        read_edits(str(f))
    f.write_text('{"img": "a.png"}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_edits(str(f))


def test_no_prompts_is_refused():
    with pytest.raises(ValueError, match="data.prompts"):
        load_samples(DataConfig())


def test_model_path_errors_say_what_to_give(tmp_path):
    from diffusers import StableDiffusion3Pipeline
    from trainer.backbones.sd3 import load_pipeline
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pipeline(StableDiffusion3Pipeline, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        load_pipeline(StableDiffusion3Pipeline, str(tmp_path))
    single = tmp_path / "sd3.safetensors"
    single.write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match="model.config_path"):
        load_pipeline(StableDiffusion3Pipeline, str(single))


def test_single_file_transformer_with_config_folder(tiny_sd3_path, tmp_path):
    """A diffusers-layout transformer .safetensors + model.config_path for the rest of the pipeline."""
    import torch
    from diffusers import SD3Transformer2DModel
    from safetensors.torch import save_file
    from trainer.backbones.sd3 import SD3Backbone
    other = SD3Transformer2DModel.from_pretrained(str(tiny_sd3_path), subfolder="transformer")
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)                      # different weights than the folder's
    single = tmp_path / "finetune.safetensors"
    save_file({"transformer." + k: v.contiguous() for k, v in other.state_dict().items()}, str(single))
    bb = SD3Backbone(str(single), config_path=str(tiny_sd3_path), resolution=32, max_sequence_length=8)
    sd = bb.transformer.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in other.state_dict().items())
    # a transformer of another shape is refused with a message naming the config folder
    bad = tmp_path / "bad.safetensors"
    save_file({"transformer_blocks.0.attn.to_q.weight": torch.zeros(3, 3),
               "time_text_embed.x": torch.zeros(1)}, str(bad))
    with pytest.raises(ValueError, match="model.config_path"):
        SD3Backbone(str(bad), config_path=str(tiny_sd3_path), resolution=32)

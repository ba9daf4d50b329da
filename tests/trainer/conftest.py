"""Shared fixtures for the trainer tests: tiny random diffusers pipelines built once per session."""
import pytest


@pytest.fixture(scope="session")
def tiny_sd3_path(tmp_path_factory):
    from testsupport.tiny import make_tiny_sd3
    return make_tiny_sd3(tmp_path_factory.mktemp("models") / "tiny_sd3")


@pytest.fixture(scope="session")
def tiny_kontext_path(tmp_path_factory):
    from testsupport.tiny import make_tiny_flux_kontext
    return make_tiny_flux_kontext(tmp_path_factory.mktemp("models") / "tiny_kontext")


@pytest.fixture(scope="session")
def edits_jsonl(tmp_path_factory):
    """Two 32x32 source images and instructions in a .jsonl (relative image paths)."""
    from PIL import Image
    import numpy as np
    d = tmp_path_factory.mktemp("edits")
    rng = np.random.default_rng(0)
    lines = []
    for i, text in enumerate(["make it blue", "add snow"]):
        arr = (rng.random((32, 32, 3)) * 255).astype("uint8")
        Image.fromarray(arr).save(d / f"src{i}.png")
        lines.append('{"image": "src%d.png", "instruction": "%s"}' % (i, text))
    (d / "edits.jsonl").write_text("\n".join(lines) + "\n")
    return d / "edits.jsonl"

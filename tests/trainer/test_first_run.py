"""The README's "try it in a minute" commands, run as a creator types them (with fewer steps)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _block(text: str) -> list[str]:
    """The command lines and the '# look at' line between the README's tiny-run markers."""
    body = text.split("<!-- tiny-run:start -->")[1].split("<!-- tiny-run:end -->")[0]
    lines = [ln.strip() for ln in body.split("```")[1].splitlines()[1:] if ln.strip()]
    return lines


def _commands(lines: list[str]) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in lines if not ln.startswith("#")]


def test_the_readme_and_training_doc_show_the_same_tiny_run():
    readme = _commands(_block((REPO / "README.md").read_text()))
    training = (REPO / "docs" / "TRAINING.md").read_text()
    assert len(readme) == 2 and readme[0].startswith("python -m trainer train") and readme[1].startswith(
        "python -m trainer eval")
    for cmd in readme:
        assert cmd in training


def test_the_readme_tiny_run_trains_evaluates_and_writes_the_front_it_points_at(tmp_path):
    lines = _block((REPO / "README.md").read_text())
    train, evaluate = _commands(lines)
    look = re.findall(r"(runs/\S+?\.png)", lines[-1])
    assert look == ["runs/toy_cpu/toy_cpu_eval/front.png"]
    # a fresh folder with the checkout's trainer/ in it: the commands' relative paths as in a clone
    (tmp_path / "trainer").symlink_to(REPO / "trainer")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for cmd, extra in ((train, ["--set", "train.steps=2", "--set", "output.progress=false"]),
                       (evaluate, ["--no-progress"])):
        argv = shlex.split(cmd)
        assert argv[:3] == ["python", "-m", "trainer"]
        proc = subprocess.run([sys.executable, *argv[1:], *extra], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "requires torchvision" not in proc.stderr
    assert (tmp_path / look[0]).stat().st_size > 10_000
    strips = sorted(p.name for p in (tmp_path / "runs" / "toy_cpu" / "toy_cpu_eval" / "strips").iterdir())
    assert "red_circle.png" in strips and len(strips) == 8          # the eval's default --max-strips
    assert "(strips for the first 8 of 12 prompts; --max-strips 12 for all)" in proc.stdout

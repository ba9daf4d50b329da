"""Evaluating a ParetoSlider file: the ω sweep with fixed noise (sweep.py), its numbers (summary.py,
pareto.py), pictures (plots.py, video_preview.py), tied to a file (evaluate.py), and the command
line `python -m trainer eval` (cli.py)."""

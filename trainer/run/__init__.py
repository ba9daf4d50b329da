"""A training run: the `Trainer` and `run()` (train.py), resumable checkpoints (checkpoint.py), the
exported ParetoSlider file (export.py), metrics.csv / TensorBoard (metrics.py), and gradient
averaging over processes (distributed.py)."""

"""Metrics of a run: metrics.csv (always) and TensorBoard event files (optional), main process only.

A resumed run keeps the CSV rows up to the checkpoint's step and replaces the ones written after
it, so a resumed run's CSV equals a straight run's."""
from __future__ import annotations

import csv
from pathlib import Path


class MetricsLog:
    def __init__(self, out_dir: str | Path, tensorboard: bool, enabled: bool = True):
        self.out_dir = Path(out_dir)
        self.tensorboard = tensorboard
        self.enabled = enabled
        self.resumed_from: int | None = None
        self._fields: list[str] | None = None
        self._writer = None

    @property
    def path(self) -> Path:
        return self.out_dir / "metrics.csv"

    def _open_csv(self, row: dict) -> None:
        if self.resumed_from is not None and self.path.is_file() and self.path.stat().st_size:
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
            self._fields = rows[0]
            kept = [r for r in rows[1:] if r and int(float(r[0])) <= self.resumed_from]
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerows([self._fields] + kept)
        else:
            self._fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self._fields)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        row = {"step": step, **metrics}
        if self._fields is None:
            self._open_csv(row)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self._fields, extrasaction="ignore").writerow(row)
        if self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter
                self._writer = SummaryWriter(str(self.out_dir / "logs"))
            for k, v in metrics.items():
                self._writer.add_scalar(k, v, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

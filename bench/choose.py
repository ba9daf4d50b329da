"""The seed-0 rule of issue 26 (docs/BENCHMARK.md), applied to finished tuning runs:

    python -m bench.choose paretoslider A=runs/a/front.json B=runs/b/front.json ...
    python -m bench.choose baselines kl1=runs/kl10/front.json kl0.5=runs/kl05/front.json

For each candidate (a front.json / front3.json of `--seeds 0`): the method's held-out hypervolume on
seed 0 (points counting only above the fidelity floor and with at most 10% flat images), its points
below the floor and its flat points. The pick: the highest hypervolume among the candidates with no
point below the floor and none flat (if none is clean, the fewest such points); within 1% of the best,
the first candidate listed (list the settings of record first). `baselines` scores each candidate by its
strongest baseline (fixed, soups, blend, MSDDA; those present).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

TIE = 0.01
BASELINES = ("fixed", "soups", "blend", "msdda")


def score(report: dict, method: str) -> dict:
    """Seed-0 held-out HV and how many of its points fail the floor / the flat check."""
    seeds = report["seeds"]
    if 0 not in seeds:
        raise SystemExit(f"{method}: the rule reads seed 0; this report has seeds {seeds}")
    i = seeds.index(0)
    fid = report["fidelity"][method]
    if len(seeds) > 1:
        raise SystemExit("run the tuning candidates with --seeds 0 alone (their point counts are over all seeds)")
    return {"method": method, "hv": report["hypervolume"]["heldout"][method]["per_seed"][i],
            "below_floor": fid["points_below_floor"], "flat": fid.get("points_too_flat", 0),
            "flat_measured": bool(report.get("flat_measured", False))}


def pick(rows: list[dict]) -> dict:
    """The rule: clean first (else fewest bad points), highest HV, ties within 1% to the earliest."""
    clean = [r for r in rows if r["below_floor"] == 0 and r["flat"] == 0]
    pool = clean or [r for r in rows if r["below_floor"] + r["flat"] == min(x["below_floor"] + x["flat"] for x in rows)]
    best = max(r["hv"] for r in pool)
    return next(r for r in pool if r["hv"] >= (1 - TIE) * best)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("side", choices=("paretoslider", "baselines"))
    ap.add_argument("candidates", nargs="+", metavar="NAME=REPORT.json")
    args = ap.parse_args(argv)
    rows = []
    for item in args.candidates:
        name, _, path = item.partition("=")
        report = json.loads(Path(path).read_text())
        methods = ["paretoslider"] if args.side == "paretoslider" else \
            [m for m in BASELINES if m in report["hypervolume"]["heldout"]]
        scored = [score(report, m) for m in methods]
        best = pick(scored)
        rows.append({**best, "name": name, "all": scored})
    for r in rows:
        others = "" if len(r["all"]) == 1 else "  (" + ", ".join(f"{s['method']} {s['hv']:.4f}" for s in r["all"]) + ")"
        flat = r["flat"] if r["flat_measured"] else "not measured"
        print(f"{r['name']}: {r['method']} held-out HV {r['hv']:.4f}, below floor {r['below_floor']}, flat {flat}{others}")
    chosen = pick(rows)
    print(f"chosen: {chosen['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 26's seed-0 rule (bench/choose.py): clean candidates first, highest held-out HV, ties within 1%
to the candidate listed first (the settings of record)."""
import json

import pytest

from bench.choose import main, pick


def _row(name, hv, below=0, flat=0):
    return {"name": name, "hv": hv, "below_floor": below, "flat": flat}


def test_a_clean_candidate_beats_a_higher_one_below_the_floor():
    assert pick([_row("record", 0.17), _row("kl0.5", 0.19, below=1)])["name"] == "record"


def test_the_highest_clean_candidate_wins_unless_within_one_percent_of_the_first():
    assert pick([_row("record", 0.170), _row("lever", 0.180)])["name"] == "lever"
    assert pick([_row("record", 0.170), _row("lever", 0.1715)])["name"] == "record"


def test_with_no_clean_candidate_the_fewest_bad_points_win():
    assert pick([_row("a", 0.2, below=3), _row("b", 0.1, below=1, flat=1), _row("c", 0.15, flat=3)])["name"] == "b"


def _report(tmp_path, name, hv, below=0, seeds=(0,)):
    r = {"seeds": list(seeds), "flat_measured": True,
         "hypervolume": {"heldout": {m: {"per_seed": [hv + i * 0.001 for i in range(len(seeds))]}
                                     for m in ("paretoslider", "fixed", "soups")}},
         "fidelity": {m: {"points_below_floor": below, "points_too_flat": 0}
                      for m in ("paretoslider", "fixed", "soups")}}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(r))
    return f"{name}={p}"


def test_the_cli_prints_every_candidate_and_the_choice(tmp_path, capsys):
    main(["paretoslider", _report(tmp_path, "A", 0.17), _report(tmp_path, "C", 0.18)])
    out = capsys.readouterr().out
    assert "A: paretoslider held-out HV 0.1700, below floor 0, flat 0" in out and out.endswith("chosen: C\n")
    main(["baselines", _report(tmp_path, "kl1", 0.17), _report(tmp_path, "kl05", 0.175, below=2)])
    assert capsys.readouterr().out.endswith("chosen: kl1\n")


def test_the_cli_refuses_a_report_of_several_seeds(tmp_path):
    with pytest.raises(SystemExit, match="--seeds 0 alone"):
        main(["paretoslider", _report(tmp_path, "A", 0.17, seeds=(0, 1))])

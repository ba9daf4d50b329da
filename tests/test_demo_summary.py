"""demo/cpu_demo.py's summary line claims only what its fidelity numbers show."""
from demo.cpu_demo import FIDELITY_FLOOR, fidelity_line


def test_the_demo_says_both_ends_keep_the_shape_only_when_their_fidelity_does():
    line = fidelity_line({"base": 0.75, "per_omega": [0.63, 0.7, 0.61]})
    assert line == ("  fidelity (is it still the prompt's shape and colour? the classifier's probability): base 0.75, "
                    "ω=1/0 0.63, ω=0/1 0.61 -> both ends keep the shape and colour (>= 80% of the base's)")
    assert FIDELITY_FLOOR == 0.8


def test_the_demo_names_the_end_that_loses_the_shape():
    line = fidelity_line({"base": 0.9, "per_omega": [0.4, 0.8, 0.85]})
    assert line.endswith("ω=1/0 0.40, ω=0/1 0.85 -> the ω=1/0 end loses shape or colour (below 80% of the base's): "
                         "the reward is bought with content there")
    both = fidelity_line({"base": 0.9, "per_omega": [0.4, 0.8, 0.5]})
    assert "-> the ω=1/0 and ω=0/1 ends lose shape or colour" in both

"""trainer.evaluation.pareto against hand-computed fronts and volumes (all objectives maximised)."""
import itertools
import math

import numpy as np
import pytest

from trainer.evaluation.pareto import dominates, hypervolume, non_dominated, pareto_front, spearman


def test_dominates_needs_strictly_better_somewhere():
    assert dominates([2, 2], [1, 2]) and not dominates([1, 2], [1, 2]) and not dominates([3, 0], [0, 3])


def test_non_dominated_mask_keeps_duplicates_and_drops_dominated():
    pts = [[1, 3], [2, 2], [1, 1], [2, 2], [3, 0], [0, 3]]
    # (1,1) is dominated by (2,2); (0,3) by (1,3); duplicates of a front point both stay
    assert non_dominated(pts).tolist() == [True, True, False, True, True, False]
    assert pareto_front(pts).tolist() == [4, 1, 3, 0]       # by the first objective, descending
    assert non_dominated([[5.0]]).tolist() == [True]


def test_hypervolume_2d_hand_values():
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [0, 0]) == pytest.approx(6.0)    # staircase 3+2+1
    assert hypervolume([[2, 2]], [1, 1]) == pytest.approx(1.0)
    # a dominated point adds nothing; points not beyond the reference add nothing
    assert hypervolume([[1, 3], [2, 2], [3, 1], [1, 1]], [0, 0]) == pytest.approx(6.0)
    assert hypervolume([[1, 3], [-1, 5]], [0, 0]) == pytest.approx(3.0)
    assert hypervolume([[0, 5]], [0, 0]) == 0.0 and hypervolume(np.zeros((0, 2)), [0, 0]) == 0.0
    # negative scores (e.g. −JPEG kB) with a matching reference: a shift changes nothing
    assert hypervolume([[-9, 3], [-8, 2], [-7, 1]], [-10, 0]) == pytest.approx(6.0)


def test_hypervolume_3d_hand_values_by_inclusion_exclusion():
    assert hypervolume([[1, 1, 1]], [0, 0, 0]) == pytest.approx(1.0)
    # three 2×1×1 boxes overlapping pairwise in unit cubes and all three in one: 6 − 3 + 1
    assert hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], [0, 0, 0]) == pytest.approx(4.0)
    assert hypervolume([[3, 1, 1], [1, 1, 1]], [0, 0, 0]) == pytest.approx(3.0)


def _grid_volume(points, ref, n=40):
    """Brute force: count lattice cells (integer coordinates) dominated by some point."""
    pts = np.asarray(points)
    k = pts.shape[1]
    total = 0
    for cell in itertools.product(*[range(int(ref[j]), int(pts[:, j].max())) for j in range(k)]):
        upper = np.asarray(cell) + 1
        total += bool((pts >= upper).all(1).any())
    return total


@pytest.mark.parametrize("k", [2, 3, 4])
def test_hypervolume_matches_brute_force_on_integer_points(k):
    rng = np.random.default_rng(k)
    pts = rng.integers(1, 6, size=(7, k))
    assert hypervolume(pts, [0] * k) == pytest.approx(_grid_volume(pts, [0] * k))


def test_hypervolume_input_errors():
    with pytest.raises(ValueError, match="reference has 3 values for 2 objectives"):
        hypervolume([[1, 2]], [0, 0, 0])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[1, float("nan")]], [0, 0])


def test_spearman_hand_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swapped pair in 4: 1 − 6·Σd²/(n(n²−1)) = 1 − 6·2/60 = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties get average ranks: ranks x = 1,2,3,4, y = 1.5,1.5,3,4 → Pearson of the ranks
    rx, ry = np.array([1, 2, 3, 4.0]), np.array([1.5, 1.5, 3, 4])
    expected = np.corrcoef(rx, ry)[0, 1]
    assert spearman([1, 2, 3, 4], [5, 5, 6, 7]) == pytest.approx(expected)
    assert math.isnan(spearman([1, 2, 3], [2, 2, 2])) and math.isnan(spearman([1], [2]))
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])

"""evaluation/images.py: each seed's own sample of the test split, and the text per-image outcomes travel as."""
import numpy as np
import pytest

from qrobust.evaluation.images import bits, decode, encode, sample, unbits


def test_each_seed_draws_its_own_sample_the_same_every_time():
    a, b = sample(1000, 100, 0), sample(1000, 100, 1)
    assert len(a) == len(set(a)) == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert np.array_equal(a, sample(1000, 100, 0)) and not np.array_equal(a, b)
    assert len(np.intersect1d(a, b)) < 40  # two samples of 10 %: about 10 images in common
    assert np.array_equal(sample(50, None, 3), np.arange(50)) and np.array_equal(sample(50, 80, 3), np.arange(50))
    with pytest.raises(ValueError, match="positive integer or null"):
        sample(50, 0, 0)


@pytest.mark.parametrize("idx", [[], [5], [0, 1, 2, 5, 7, 8], list(range(1000)), [3, 10, 11, 12, 999]])
def test_indices_round_trip_through_ranges(idx):
    text = encode(idx)
    assert np.array_equal(decode(text), np.asarray(idx, dtype=np.int64))
    assert encode(range(1000)) == "0-999" and encode([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_outcomes_round_trip_and_unattacked_counts_as_not_correct():
    ok = np.array([True, False, True, True])
    assert bits(ok) == "1011" and np.array_equal(unbits("1011"), ok)
    assert np.array_equal(unbits("1-0"), [True, False, False])
    with pytest.raises(ValueError, match="sorted and unique"):
        encode([3, 1])

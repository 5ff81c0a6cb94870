"""The gap simulators keep a running count of what they hid; the masks must equal the plain
recount-every-block form they replaced (same draws, same masks) and reach their target share."""

import numpy as np
import pytest

from stsg_bench.gaps import hide_days_and_blocks, hide_runs


def recount_days_and_blocks(valid, days, fraction, block, day_fraction, rng):
    T, Y, X = valid.shape
    hidden = np.zeros_like(valid)
    whole = rng.choice(days, size=int(round(day_fraction * len(days))), replace=False)
    hidden[whole] = valid[whole]
    in_days = np.zeros(T, dtype=bool)
    in_days[days] = True
    target = fraction * valid[in_days].sum()
    tries = 0
    while hidden.sum() < target and tries < 100000:
        t = rng.choice(days)
        r, c = rng.integers(0, max(Y - block, 1)), rng.integers(0, max(X - block, 1))
        hidden[t, r : r + block, c : c + block] |= valid[t, r : r + block, c : c + block]
        tries += 1
    return hidden


def recount_runs(valid, fraction, rng, max_run=20):
    T, Y, X = valid.shape
    hidden = np.zeros_like(valid)
    while hidden.sum() < fraction * T * Y * X:
        b, d = int(rng.integers(4, 17)), int(rng.integers(1, max_run + 1))
        t, r, c = rng.integers(0, T), rng.integers(0, max(Y - b, 1)), rng.integers(0, max(X - b, 1))
        hidden[t : t + d, r : r + b, c : c + b] = True
    return hidden


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_days_and_blocks_equal_the_recounting_form(seed):
    valid = np.random.default_rng(seed).random((120, 30, 40)) < 0.4
    days = np.arange(40, 120)
    got = hide_days_and_blocks(valid, days, 0.3, 6, 0.2, np.random.default_rng(seed))
    want = recount_days_and_blocks(valid, days, 0.3, 6, 0.2, np.random.default_rng(seed))
    np.testing.assert_array_equal(got, want)
    assert not (got & ~valid).any()  # only usable values are hidden
    assert not got[:40].any()  # and only on the given days
    assert got.sum() >= 0.3 * valid[40:].sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_runs_equal_the_recounting_form(seed):
    valid = np.ones((60, 30, 40), dtype=bool)
    got = hide_runs(valid, 0.2, np.random.default_rng(seed))
    np.testing.assert_array_equal(got, recount_runs(valid, 0.2, np.random.default_rng(seed)))
    assert got.sum() >= 0.2 * valid.size

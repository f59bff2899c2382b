"""Which test images an evaluation attacks, and how its per-image outcomes are written.

Each training seed attacks its own sample of the test split, drawn by a generator seeded by that seed
(`sample`): every model of one seed sees the same images, so two models pair up image by image, and two
seeds see different images, so the spread over seeds holds image sampling too (qrobust/stats.py). Clean
accuracy, which costs little, counts every test image.

Per-image outcomes travel as text: the image indices as sorted ranges ("0-99,140,200-209": `encode`,
`decode`) and one character per image, "1" correct and "0" not (`bits`, `unbits`; a pruned ensemble
member also writes "-" where it did not attack, see evaluation/worst_case.py).
"""
from __future__ import annotations

import numpy as np

SAMPLE_STREAM = 0x5A3E  # the sample's generator is seeded by (SAMPLE_STREAM, seed): no other draw shares it


def sample(n_test: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the `n` test images seed `seed` attacks (all of them when n is None or >= n_test)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"the number of attacked images must be a positive integer or null (all), got {n!r}")
    if n is None or n >= n_test:
        return np.arange(n_test, dtype=np.int64)
    rng = np.random.default_rng([SAMPLE_STREAM, int(seed)])
    return np.sort(rng.permutation(n_test)[:n]).astype(np.int64)


def encode(idx) -> str:
    """Sorted unique indices as ranges: [0, 1, 2, 5, 7, 8] -> "0-2,5,7-8"."""
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        return ""
    if np.any(np.diff(idx) <= 0):
        raise ValueError("image indices must be sorted and unique")
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts.tolist(), ends.tolist()))


def decode(text: str) -> np.ndarray:
    """The inverse of `encode`."""
    if not isinstance(text, str) or not text.strip():
        return np.zeros(0, dtype=np.int64)
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.append(np.arange(int(a), int(b or a) + 1, dtype=np.int64))
    return np.concatenate(out)


def bits(mask) -> str:
    """Bool vector -> "0101..." (1 = classified correctly)."""
    return "".join("1" if v else "0" for v in np.asarray(mask, dtype=bool).tolist())


def unbits(text: str) -> np.ndarray:
    """"0101..." -> bool per image ("-", not attacked, counts as not correct)."""
    return np.frombuffer(text.encode(), dtype=np.uint8) == ord("1")

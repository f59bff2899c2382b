"""Glass blur (Hendrycks & Dietterich, ICLR 2019), with the per-pixel shuffle loop vectorised.

Algorithm, as in make_cifar_c.py / make_imagenet_c.py: Gaussian blur (sigma), quantise to uint8, then
`iterations` passes of a local shuffle that visits (h, w) for h from H - d down to d + 1 and, within a
row, w from W - d down to d + 1 (d = max_delta), draws (dx, dy) from randint(-d, d) (so -d .. d - 1)
and "swaps" x[h, w] with x[h + dy, w + dx]; then a second Gaussian blur.

The swap is written `x[h, w], x[h2, w2] = x[h2, w2], x[h, w]` on an H x W x 3 array, whose items are
views: the first assignment overwrites x[h, w], so the second writes x[h2, w2] back onto itself. The
published datasets hold this *pull*, x[h, w] <- (current) x[h2, w2], not a swap; both versions here
reproduce it.

Vectorised: a pull from a pixel that the loop visited earlier reads that pixel's new value, itself a
pull; following the links ends at a pixel not yet visited, whose original value is what the loop
copies. Pointer jumping resolves all links in about log2(n) numpy steps. With d = 1 (every CIFAR-10-C
severity) the offsets lie in {-1, 0} and only reach pixels visited later, so one gather does it.

Random numbers: each pass draws one block `rng.randint(-d, d, size=(n, 2))`, row k = (dx, dy) of the
k-th visited pixel. For numpy's legacy RandomState this is the same stream as the original per-pixel
`randint(-d, d, size=(2,))` calls (tests/noises/test_noises.py checks it), so both shuffles, given the same
generator state, consume the same numbers as the published loop.
"""
from __future__ import annotations

import numpy as np

# (sigma, max_delta, iterations) per severity
CIFAR10_PARAMS = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)]  # make_cifar_c.py
IMAGENET_PARAMS = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]  # make_imagenet_c.py


def _visited(h: int, w: int, delta: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the visited pixels, in the loop's order."""
    hh, ww = np.meshgrid(np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1), indexing="ij")
    return hh.ravel(), ww.ravel()


def draw_offsets(rng: np.random.RandomState, h: int, w: int, delta: int) -> np.ndarray:
    """(n, 2) int array of (dx, dy), one row per visited pixel, for one pass."""
    n = max(h - 2 * delta, 0) * max(w - 2 * delta, 0)
    return rng.randint(-delta, delta, size=(n, 2))


def shuffle_loop(x: np.ndarray, delta: int, offsets: np.ndarray) -> np.ndarray:
    """The published Python double loop (reference; slow). x: H x W x C uint8, modified in place."""
    if x.ndim != 3:  # on a 2-D array the tuple assignment is a real swap: not what the datasets hold
        raise ValueError("shuffle_loop expects H x W x C")
    k = 0
    for h in range(x.shape[0] - delta, delta, -1):
        for w in range(x.shape[1] - delta, delta, -1):
            dx, dy = offsets[k]
            k += 1
            h_prime, w_prime = h + dy, w + dx
            # swap (as published; effectively a pull, see the module docstring)
            x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return x


def shuffle(x: np.ndarray, delta: int, offsets: np.ndarray) -> np.ndarray:
    """Vectorised `shuffle_loop`: same output for the same offsets. x: H x W x C; returns a new array."""
    h, w = x.shape[:2]
    rows, cols = _visited(h, w, delta)
    if rows.size == 0:
        return x.copy()
    dest = rows * w + cols
    src = (rows + offsets[:, 1]) * w + (cols + offsets[:, 0])
    rank = np.full(h * w, rows.size, dtype=np.int64)  # visit order; unvisited pixels come "last"
    rank[dest] = np.arange(rows.size)
    # link k -> the visit that last wrote its source, when that happened before visit k
    follow = rank[src] < np.arange(rows.size)
    while follow.any():  # pointer jumping: each round doubles the hops resolved
        j = rank[src[follow]]
        new_src, new_follow = src.copy(), follow.copy()
        new_src[follow], new_follow[follow] = src[j], follow[j]
        src, follow = new_src, new_follow
    flat = x.reshape(h * w, -1)
    out = flat.copy()
    out[dest] = flat[src]
    return out.reshape(x.shape)


def glass_blur(img: np.ndarray, sigma: float, delta: int, iterations: int, rng: np.random.RandomState,
               vectorised: bool = True) -> np.ndarray:
    """img: H x W x 3 uint8 -> float H x W x 3 in [0, 255] (the caller truncates to uint8, as published)."""
    from skimage.filters import gaussian

    x = np.uint8(gaussian(img / 255.0, sigma=sigma, channel_axis=-1) * 255)
    for _ in range(iterations):
        offsets = draw_offsets(rng, x.shape[0], x.shape[1], delta)
        x = shuffle(x, delta, offsets) if vectorised else shuffle_loop(x, delta, offsets)
    return np.clip(gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255

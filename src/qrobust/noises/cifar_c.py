"""CIFAR-10-C's own corruptions (Hendrycks & Dietterich's make_cifar_c.py constants), for the ones
whose ImageNet-C constants wipe out a 32x32 image; see corruptions.py for the table of which is which."""
from __future__ import annotations

import functools
import math

import numpy as np

from qrobust.noises import glass_blur as _glass
from qrobust.noises._base import register_noise
from qrobust.noises.corruptions import MIN_SIZE, CifarCorruption


def _gaussian(x: np.ndarray, sigma: float, **kw) -> np.ndarray:
    from skimage.filters import gaussian

    return gaussian(x, sigma=sigma, **kw)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """Antialiased disk kernel (as published: a 17 x 17 support for radii up to 8)."""
    import cv2

    if radius <= 8:
        coords, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        coords, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(coords, coords)
    disk = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)


def _clipped_zoom(img: np.ndarray, zoom: float) -> np.ndarray:
    """Zoom into the centre (crop ceil(side / zoom), scale back up), trimmed to the input size.

    make_cifar_c.py's version, per axis instead of assuming a square.
    """
    from scipy.ndimage import zoom as scizoom

    h, w = img.shape[:2]
    ch, cw = int(np.ceil(h / zoom)), int(np.ceil(w / zoom))
    top, left = (h - ch) // 2, (w - cw) // 2
    out = scizoom(img[top:top + ch, left:left + cw], (zoom, zoom, 1), order=1)
    th, tw = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
    return out[th:th + h, tw:tw + w]


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift with edge replication (imagecorruptions' helper for its motion blur)."""
    shifted = image
    if dx < 0:
        shifted = np.roll(shifted, shift=image.shape[1] + dx, axis=1)
        shifted[:, dx:] = shifted[:, dx - 1:dx]
    elif dx > 0:
        shifted = np.roll(shifted, shift=dx, axis=1)
        shifted[:, :dx] = shifted[:, dx:dx + 1]
    if dy < 0:
        shifted = np.roll(shifted, shift=image.shape[0] + dy, axis=0)
        shifted[dy:, :] = shifted[dy - 1:dy, :]
    elif dy > 0:
        shifted = np.roll(shifted, shift=dy, axis=0)
        shifted[:dy, :] = shifted[dy:dy + 1, :]
    return shifted


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's MotionBlurImage as imagecorruptions re-implements it: a one-sided Gaussian
    kernel of width 2 * radius + 1 laid along `angle` (degrees), taps at rounded pixel offsets."""
    width = 2 * radius + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    py, px = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    hyp = math.hypot(py, px)
    out = np.zeros_like(x, dtype=np.float32)
    for i in range(width):
        dy = -math.ceil(i * py / hyp - 0.5)
        dx = -math.ceil(i * px / hyp - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break  # the motion left the image
        out = out + kernel[i] * _shift(x, dx, dy)
    return out


def _plasma_fractal(rng: np.random.RandomState, mapsize: int, wibbledecay: float) -> np.ndarray:
    """Diamond-square height map in [0, 1] (make_cifar_c.py; FLHerne/mapgen)."""
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        # squares
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        acc = corner + np.roll(corner, shift=-1, axis=0)
        acc += np.roll(acc, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(acc)
        # diamonds
        dr = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ul = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(lt)
        tt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(tt)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")  # make_cifar_c.py draws from 5


@functools.lru_cache(maxsize=None)
def _frost_image(idx: int) -> np.ndarray:
    """Frost photo `idx` (shipped with imagecorruptions), scaled by 0.2 as make_cifar_c.py does; BGR."""
    import importlib.resources

    import cv2

    ref = importlib.resources.files("imagecorruptions") / "frost" / FROST_FILES[idx]
    with importlib.resources.as_file(ref) as path:
        frost = cv2.imread(str(path))
    if frost is None:
        raise FileNotFoundError(f"imagecorruptions frost image {FROST_FILES[idx]} is missing")
    frost = cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)
    frost.setflags(write=False)  # shared by every call through the cache
    return frost


# ---------------------------------------------------------------- ImageNet-C constants (imagecorruptions)


@register_noise("gaussian_blur")
class GaussianBlur(CifarCorruption):
    """Gaussian blur, sigma = .4, .6, .7, .8, 1 px."""

    random = False

    def cifar(self, rgb, severity, rng):
        c = [0.4, 0.6, 0.7, 0.8, 1][severity - 1]
        return np.clip(_gaussian(rgb / 255.0, c, channel_axis=-1), 0, 1) * 255


@register_noise("defocus_blur")
class DefocusBlur(CifarCorruption):
    """Antialiased disk kernel, (radius, alias sigma) = (.3, .4), (.4, .5), (.5, .6), (1, .2), (1.5, .1)."""

    random = False

    def cifar(self, rgb, severity, rng):
        import cv2

        c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
        x = rgb / 255.0
        kernel = _disk(radius=c[0], alias_blur=c[1])
        channels = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=2)
        return np.clip(channels, 0, 1) * 255


@register_noise("glass_blur")
class GlassBlur(CifarCorruption):
    """(sigma, max_delta, iterations) = (.05, 1, 1), (.25, 1, 1), (.4, 1, 1), (.25, 1, 2), (.4, 1, 2).

    `vectorised=False` runs the published Python loop instead (same output; for the benchmark).
    """

    def __init__(self, vectorised: bool = True):
        self.vectorised = vectorised

    def cifar(self, rgb, severity, rng):
        sigma, delta, iterations = _glass.CIFAR10_PARAMS[severity - 1]
        return _glass.glass_blur(rgb, sigma, delta, iterations, rng, vectorised=self.vectorised)


@register_noise("motion_blur")
class MotionBlur(CifarCorruption):
    """(radius, sigma) = (6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5), angle uniform in [-45, 45] degrees."""

    def cifar(self, rgb, severity, rng):
        c = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
        angle = rng.uniform(-45, 45)
        # ImageMagick returns 8-bit pixels: round like it does
        return np.clip(np.rint(_motion_blur(rgb.astype(np.float32), c[0], c[1], angle)), 0, 255)


@register_noise("snow")
class Snow(CifarCorruption):
    """Zoomed, thresholded Gaussian snow layer, motion-blurred at an angle in [-135, -45] degrees."""

    def cifar(self, rgb, severity, rng):
        import cv2

        c = [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
             (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
        h, w = rgb.shape[:2]
        x = np.array(rgb, dtype=np.float32) / 255.0
        layer = rng.normal(size=(h, w), loc=c[0], scale=c[1])
        layer = _clipped_zoom(layer[..., np.newaxis], c[2])
        layer[layer < c[3]] = 0
        layer = (np.clip(layer.squeeze(-1), 0, 1) * 255).astype(np.uint8)  # an 8-bit image, as published
        layer = _motion_blur(layer.astype(np.float32), c[4], c[5], rng.uniform(-135, -45))
        layer = (np.clip(np.rint(layer), 0, 255) / 255.0)[..., np.newaxis]
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
        x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
        return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


@register_noise("frost")
class Frost(CifarCorruption):
    """c0 * x + c1 * frost crop, (c0, c1) = (1, .2), (1, .3), (.9, .4), (.85, .4), (.75, .45)."""

    def cifar(self, rgb, severity, rng):
        import cv2

        c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
        h, w = rgb.shape[:2]
        frost = _frost_image(rng.randint(len(FROST_FILES)))
        if frost.shape[0] <= h or frost.shape[1] <= w:  # larger inputs than CIFAR's: scale the photo up
            scale = 1.1 * max(h / frost.shape[0], w / frost.shape[1])
            frost = cv2.resize(frost, (int(np.ceil(frost.shape[1] * scale)), int(np.ceil(frost.shape[0] * scale))),
                               interpolation=cv2.INTER_CUBIC)
        top, left = rng.randint(0, frost.shape[0] - h), rng.randint(0, frost.shape[1] - w)
        crop = frost[top:top + h, left:left + w][..., [2, 1, 0]]  # BGR -> RGB
        return np.clip(c[0] * rgb.astype(np.float64) + c[1] * crop, 0, 255)


@register_noise("fog")
class Fog(CifarCorruption):
    """x + c0 * plasma fractal (decay c1), rescaled: (c0, c1) = (.2, 3), (.5, 3), (.75, 2.5), (1, 2), (1.5, 1.75)."""

    def cifar(self, rgb, severity, rng):
        c = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
        h, w = rgb.shape[:2]
        mapsize = max(MIN_SIZE, 1 << (max(h, w) - 1).bit_length())
        x = rgb / 255.0
        max_val = x.max()
        x = x + c[0] * _plasma_fractal(rng, mapsize, c[1])[:h, :w][..., np.newaxis]
        return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


@register_noise("elastic_transform")
class ElasticTransform(CifarCorruption):
    """Random affine then a smoothed random displacement field; constants are fractions of the side
    (alpha, sigma, affine jitter) = (0, 0, .08), (.05, .2, .07), (.08, .06, .06), (.1, .04, .05), (.1, .03, .03).

    Not monotone: CIFAR-10-C's levels trade a shrinking affine jitter (2.6 -> 1.0 px at 32 px) for a
    growing local field, so pixels move less at severity 5 than at 1 (MNIST: mean |diff| 26.8 vs 18.2,
    and a small CNN's accuracy rises from 0.85 to 0.91). Kept as published, for comparability with
    CIFAR-10-C results; the ImageNet-C version scrambles single pixels at 32 px (module docstring).
    """

    monotone = False

    def cifar(self, rgb, severity, rng):
        import cv2
        from scipy.ndimage import map_coordinates

        side = min(rgb.shape[:2])  # 32 for CIFAR-10 (make_cifar_c.py's IMSIZE)
        c = [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][severity - 1]
        c = tuple(side * v for v in c)
        image = np.array(rgb, dtype=np.float32) / 255.0
        shape = image.shape
        shape_size = shape[:2]
        # random affine
        center = np.float32(shape_size) // 2
        square = min(shape_size) // 3
        pts1 = np.float32([center + square, [center[0] + square, center[1] - square], center - square])
        pts2 = pts1 + rng.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
        affine = cv2.getAffineTransform(pts1, pts2)
        image = cv2.warpAffine(image, affine, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
        dx = (_gaussian(rng.uniform(-1, 1, size=shape_size), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
        dy = (_gaussian(rng.uniform(-1, 1, size=shape_size), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
        dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
        x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
        indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
        return np.clip(map_coordinates(image, indices, order=1, mode="reflect").reshape(shape), 0, 1) * 255

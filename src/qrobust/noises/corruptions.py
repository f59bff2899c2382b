"""Natural corruptions: the 15 ImageNet-C corruptions and the 4 extra ones, severities 1..5.

Paper: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019; used across bit-widths by Xiao, Liu et al. 2023.

Parameter set per corruption (`params` class attribute). Each was checked at severity 5 on real MNIST
padded to 32 x 32 and on 32 x 32 RGB (bench/corruptions.py prints the check; bench/RESULTS.md,
"Corruption throughput", records it). ImageNet-C constants are kept unless they wipe out a
32 px image (pixel constants tuned for 224 px); there CIFAR-10-C's constants replace them:

    corruption          params    at 32 x 32 with the ImageNet-C constants
    gaussian_noise      imagenet  per pixel: the same strength at any size
    shot_noise          imagenet  per pixel
    impulse_noise       imagenet  per pixel
    speckle_noise       imagenet  per pixel
    brightness          imagenet  per pixel
    contrast            imagenet  global (image mean)
    saturate            imagenet  per pixel
    zoom_blur           imagenet  zooms are relative to the size: digits stay legible
    pixelate            imagenet  keeps 25..60 % of the side: 8 x 8 at severity 5, digits still legible
    jpeg_compression    imagenet  quality 25..7: blocky, digits legible
    spatter             imagenet  drops and mud blobs over the digit, digit legible
    defocus_blur        cifar10   disk radius 3..10 px: a uniform smear from severity 3 on
    glass_blur          cifar10   sigma .7..1.5 px, shuffles of 1..4 px: nothing of a digit is left
    motion_blur         cifar10   kernel radius 10..20 px, longer than a digit: streaks already at severity 1
    gaussian_blur       cifar10   sigma 1..6 px: a uniform smear at severity 5
    elastic_transform   cifar10   field sigma is 1 % of the side (.3 px): per-pixel scrambling, not a warp
                                  (CIFAR-10-C's levels are not monotone: see ElasticTransform)
    fog                 cifar10   1.5..3 x a plasma fractal: the digit is half gone at severity 1
    frost               cifar10   a 32 px crop of a 300..900 px frost photo is one smooth patch, not frost
                                  (CIFAR-10-C scales the photo by 0.2 first)
    snow                cifar10   layer zoomed 2..4.5 x and motion-blurred 10..12 px: streaks across the image

`imagenet`: the imagecorruptions implementation (imagecorruptions-imaug, the maintained fork of
bethgelab/imagecorruptions), i.e. make_imagenet_c.py's constants. `cifar10`: implemented here with the
constants of make_cifar_c.py (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py). Two changes
there: ImageMagick's motion blur (motion_blur, snow) is replaced by imagecorruptions' numpy version of
it (make_cifar_c.py calls Wand, which needs ImageMagick's C library), and, for images over 32 px, the
constants stay in pixels except elastic_transform's, which make_cifar_c.py writes as fractions of the
side. `imagenet_variant(name)` gives the ImageNet-C version of any corruption, for comparisons.

Small images: imagecorruptions needs at least 32 x 32 and the CIFAR constants are for 32 x 32, so a
smaller image (MNIST, 28 x 28) is padded to 32 x 32 with reflect padding (mirror without repeating the
edge pixel), centred, corrupted, and cropped back. Reflection continues the image's own content, so the
blurs, zooms and the frost/fog fields see natural borders instead of a frame of black or edge pixels.

Grayscale: replicated to 3 channels, corrupted, converted back as the rounded channel mean. Colour
effects (frost, spatter, saturate) thus reach a grayscale image only through that mean; saturate
changes nothing at severities 1..3 (a gray pixel has no saturation to scale).

Output: the float result is clipped to [0, 255] and truncated to uint8, as both imagecorruptions'
corrupt() and make_cifar_c.py do (np.uint8).

Seeding: image i of a batch seeds numpy's global RNG with `image_seed(seed, start + i)` (imagecorruptions
draws from it) and the global state is restored afterwards; the CIFAR implementations draw from a
RandomState with that seed. impulse_noise gets the seed as its own argument: imagecorruptions passes it
to scikit-image, which would otherwise use fresh OS entropy (so would its numba glass blur, used only
through `imagenet_variant`).
"""
from __future__ import annotations

import numpy as np

from qrobust.noises._base import Noise, from_rgb, register_noise, to_rgb

MIN_SIZE = 32  # imagecorruptions' minimum side; CIFAR-10-C's image size


class Corruption(Noise):
    """Pads to 32 x 32, replicates grayscale, calls `corrupt`, truncates to uint8, crops back.

    Subclasses implement `corrupt(rgb, severity, seed)` on an H x W x 3 uint8 image with H, W >= 32 and
    return an array (float in [0, 255] or uint8) of the same shape.
    """

    kind = "corruption"
    levels = (1, 2, 3, 4, 5)
    params = "imagenet"
    random = True
    monotone = True  # severity 5 moves pixels further than severity 1 (tests check it, or its reverse)

    def corrupt(self, rgb: np.ndarray, severity: int, seed: int) -> np.ndarray:
        raise NotImplementedError

    def apply_image(self, img, level, seed):
        h, w, c = img.shape
        ph, pw = max(0, MIN_SIZE - h), max(0, MIN_SIZE - w)
        top, left = ph // 2, pw // 2
        rgb = to_rgb(img)
        if ph or pw:
            mode = "reflect" if min(h, w) > 1 else "edge"  # reflect needs two pixels per side
            rgb = np.pad(rgb, ((top, ph - top), (left, pw - left), (0, 0)), mode=mode)
        out = np.asarray(self.corrupt(rgb, level, seed))
        out = np.uint8(np.clip(out, 0, 255))  # truncation, as published
        return from_rgb(np.ascontiguousarray(out[top:top + h, left:left + w]), c)


class LibraryCorruption(Corruption):
    """ImageNet-C constants through imagecorruptions.corrupt (numpy's global RNG, seeded per image)."""

    # pass `seed=` to the library function: impulse_noise (scikit-image) and glass_blur (numba) would
    # otherwise draw from fresh OS entropy, not from numpy's global RNG
    takes_seed = False

    def corrupt(self, rgb, severity, seed):
        from imagecorruptions import corrupt

        state = np.random.get_state()
        np.random.seed(seed)
        try:
            kw = {"seed": seed} if self.takes_seed else {}
            return corrupt(rgb, severity=severity, corruption_name=self.name, **kw)
        finally:
            np.random.set_state(state)  # callers' global RNG is left as it was


class CifarCorruption(Corruption):
    """CIFAR-10-C constants, implemented here (make_cifar_c.py) with a per-image RandomState."""

    params = "cifar10"

    def corrupt(self, rgb, severity, seed):
        return self.cifar(rgb, severity, np.random.RandomState(seed))

    def cifar(self, rgb: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------- helpers (make_cifar_c.py)

@register_noise("gaussian_noise")
class GaussianNoise(LibraryCorruption):
    """x + N(0, c^2), c = .08, .12, .18, .26, .38 (images in [0, 1])."""


@register_noise("shot_noise")
class ShotNoise(LibraryCorruption):
    """Poisson(x * c) / c, c = 60, 25, 12, 5, 3."""


@register_noise("impulse_noise")
class ImpulseNoise(LibraryCorruption):
    """Salt and pepper, amount c = .03, .06, .09, .17, .27."""

    takes_seed = True


@register_noise("speckle_noise")
class SpeckleNoise(LibraryCorruption):
    """x + x * N(0, c^2), c = .15, .2, .35, .45, .6."""


@register_noise("brightness")
class Brightness(LibraryCorruption):
    """HSV value + c, c = .1 .. .5."""

    random = False


@register_noise("contrast")
class Contrast(LibraryCorruption):
    """(x - mean) * c + mean, c = .4, .3, .2, .1, .05."""

    random = False


@register_noise("saturate")
class Saturate(LibraryCorruption):
    """HSV saturation * c0 + c1, (c0, c1) = (.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)."""

    random = False


@register_noise("zoom_blur")
class ZoomBlur(LibraryCorruption):
    """Mean of zooms 1 .. 1.11, 1.16, 1.21, 1.26, 1.31 (steps .01, .01, .02, .02, .03) and the image."""

    random = False


@register_noise("pixelate")
class Pixelate(LibraryCorruption):
    """Box-downscale to c of the side, nearest-upscale back, c = .6, .5, .4, .3, .25."""

    random = False


@register_noise("jpeg_compression")
class JpegCompression(LibraryCorruption):
    """PIL JPEG round trip at quality 25, 18, 15, 10, 7."""

    random = False


@register_noise("spatter")
class Spatter(LibraryCorruption):
    """Water drops (severities 1..3) or mud (4, 5) from a thresholded, smoothed Gaussian layer."""


# ---------------------------------------------------------------- CIFAR-10-C constants (make_cifar_c.py)

def imagenet_variant(name: str) -> LibraryCorruption:
    """The ImageNet-C-constant version of corruption `name` (for comparisons; not registered)."""
    if name not in CORRUPTION_NAMES:
        raise KeyError(f"unknown corruption '{name}'; allowed: {', '.join(CORRUPTION_NAMES)}")
    variant = type(f"ImageNet_{name}", (LibraryCorruption,),
                   {"name": name, "takes_seed": name in ("impulse_noise", "glass_blur"),
                    "random": name not in DETERMINISTIC})
    return variant()


DETERMINISTIC = ("brightness", "contrast", "saturate", "zoom_blur", "pixelate", "jpeg_compression", "defocus_blur",
                 "gaussian_blur")  # no random draws with either parameter set
CORRUPTION_NAMES = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
                    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate")  # ImageNet-C order

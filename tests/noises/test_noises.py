"""Noises: every registered noise at every level, so a new noise is tested without new code."""
import re

import numpy as np
import pytest
import torch

from qrobust.noises import CORRUPTIONS, NOISES, SYSTEM_NOISES, create_noise
from qrobust.noises import corruptions as corr_mod
from qrobust.noises import glass_blur as gb

LEVELS = [(n, lv) for n in NOISES.names() for lv in NOISES.get(n).levels]
RANDOM = [(n, lv) for n, lv in LEVELS if NOISES.get(n).random]


def _mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


@pytest.fixture(scope="module")
def inputs(mnist_small):
    """6 real MNIST test digits (1 x 28 x 28, several classes) and 6 random RGB images (3 x 32 x 32)."""
    _, test = mnist_small
    rng = np.random.RandomState(0)
    rgb = torch.from_numpy(rng.randint(0, 256, size=(6, 3, 32, 32)).astype(np.uint8))
    return {"mnist": test.x[::33][:6].clone(), "rgb": rgb}


@pytest.fixture(scope="module")
def smooth_rgb():
    """Low-pass random RGB images: natural-image-like spectra, for decoders and resizers."""
    from scipy.ndimage import gaussian_filter

    x = gaussian_filter(np.random.RandomState(1).rand(4, 3, 32, 32) * 255, (0, 0, 1.5, 1.5))
    lo, hi = x.min(axis=(2, 3), keepdims=True), x.max(axis=(2, 3), keepdims=True)
    return torch.from_numpy(((x - lo) / (hi - lo) * 255).astype(np.uint8))


def test_registry_lists_every_corruption_and_system_noise():
    assert sorted(CORRUPTIONS) == sorted(corr_mod.CORRUPTION_NAMES) and len(CORRUPTIONS) == 19
    assert set(SYSTEM_NOISES) == {"jpeg_decoder", "resize", "color_conversion"}
    table = dict(re.findall(r"^    (\w+)\s+(imagenet|cifar10)\b", corr_mod.__doc__, flags=re.M))
    for name in NOISES.names():
        noise = create_noise(name)
        assert noise.name == name and noise.kind in ("corruption", "system")
        if noise.kind == "corruption":
            assert tuple(noise.levels) == (1, 2, 3, 4, 5)
            assert noise.params in ("imagenet", "cifar10")
            assert table[name] == noise.params, f"{name}: module docstring and params disagree"
        else:
            assert noise.reference in noise.levels and not noise.random


@pytest.mark.parametrize("which", ["mnist", "rgb"])
@pytest.mark.parametrize("name,level", LEVELS)
def test_shape_dtype_determinism_and_batch_split(inputs, name, level, which):
    x = inputs[which]
    noise = create_noise(name)
    out = noise.apply(x, level, seed=7)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(noise.apply(x, level, seed=7), out), "same seed, different bytes"
    # image i is drawn from (seed, start + i): two batches with the right offsets give the one-batch result
    split = torch.cat([noise.apply(x[:3], level, seed=7), noise.apply(x[3:], level, seed=7, start=3)])
    assert torch.equal(split, out)


@pytest.mark.parametrize("name,level", LEVELS)
def test_seed_matters_exactly_for_random_noises(inputs, name, level):
    x, noise = inputs["rgb"], create_noise(name)
    a, b = noise.apply(x, level, seed=1), noise.apply(x, level, seed=2)
    assert torch.equal(a, b) != noise.random


@pytest.mark.parametrize("name,level", [(n, lv) for n, lv in RANDOM if lv == 3])
def test_identical_images_get_independent_draws(inputs, name, level):
    x = inputs["rgb"][:1].repeat(2, 1, 1, 1)
    out = create_noise(name).apply(x, level, seed=0)
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("which", ["mnist", "smooth_rgb"])
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_5_changes_images_more_than_severity_1(inputs, smooth_rgb, name, which):
    # natural-like RGB: uniform-noise pixels are nearly fully saturated, so ImageNet-C's saturate
    # moves them more at severity 1 (saturation x .3) than at 5 (x 20, clipped at 1)
    x, noise = (smooth_rgb if which == "smooth_rgb" else inputs[which]), create_noise(name)
    change1, change5 = _mad(noise.apply(x, 1, seed=0), x), _mad(noise.apply(x, 5, seed=0), x)
    if noise.monotone:
        assert change5 > change1
    else:  # documented in the class (CIFAR-10-C's elastic_transform): the reverse holds
        assert change5 < change1


@pytest.mark.parametrize("name", NOISES.names())
def test_bad_level_raises_naming_the_allowed_ones(inputs, name):
    noise = create_noise(name)
    bad = [0, 6, 2.5, "3", True] if noise.kind == "corruption" else ["nope", 0, None]
    allowed = "1..5" if noise.kind == "corruption" else noise.reference
    for level in bad:
        with pytest.raises(ValueError, match=re.escape(allowed)):
            noise.apply(inputs["mnist"], level)


@pytest.mark.parametrize("name", SYSTEM_NOISES)
def test_reference_variant_is_close_to_the_input_as_documented(inputs, smooth_rgb, name):
    noise = create_noise(name)
    x = inputs["mnist"]
    assert _mad(noise.apply(x, noise.reference), x) <= noise.reference_mad
    if noise.reference_mad == 0:
        assert torch.equal(noise.apply(smooth_rgb, noise.reference), smooth_rgb)
    # and the noise is not a no-op: some variant moves off the reference on natural-like RGB
    ref = noise.apply(smooth_rgb, noise.reference)
    assert max(_mad(noise.apply(smooth_rgb, v), ref) for v in noise.levels) > 0.2


def test_decoder_and_resize_variants_differ_where_documented(smooth_rgb):
    jpeg = create_noise("jpeg_decoder")
    ref = jpeg.apply(smooth_rgb, "pil")
    assert 0 < _mad(jpeg.apply(smooth_rgb, "pil-ycbcr"), ref) <= 1  # colour-conversion rounding only
    assert _mad(jpeg.apply(smooth_rgb, "pil-fast"), ref) > 1  # IFAST IDCT + replicated chroma
    resize = create_noise("resize")
    # at exactly 1/2, cv2's bilinear averages 2 x 2 pixels, as INTER_AREA does
    assert torch.equal(resize.apply(smooth_rgb, "cv2-linear"), resize.apply(smooth_rgb, "cv2-area"))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_small_and_large_images_keep_their_shape(name):
    noise = create_noise(name)
    for shape in [(1, 1, 5, 7), (1, 3, 40, 36)]:
        x = torch.from_numpy(np.random.RandomState(2).randint(0, 256, size=shape).astype(np.uint8))
        assert noise.apply(x, 5, seed=0).shape == x.shape


@pytest.mark.parametrize("name", corr_mod.CORRUPTION_NAMES)
def test_imagenet_variants_used_for_comparison_are_seeded_too(inputs, name):
    noise, x = corr_mod.imagenet_variant(name), inputs["rgb"][:2]
    a = noise.apply(x, 3, seed=1)
    assert noise.params == "imagenet" and torch.equal(noise.apply(x, 3, seed=1), a)
    assert torch.equal(noise.apply(x, 3, seed=2), a) != noise.random


def test_bad_inputs_raise(inputs):
    noise = create_noise("gaussian_noise")
    with pytest.raises(ValueError, match="uint8"):
        noise.apply(inputs["mnist"].float(), 1)
    with pytest.raises(ValueError, match="C in"):
        noise.apply(torch.zeros(1, 2, 32, 32, dtype=torch.uint8), 1)
    with pytest.raises(ValueError, match=">= 0"):
        noise.apply(inputs["mnist"], 1, seed=-1)


def test_numpy_global_rng_is_left_as_it_was(inputs):
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    for name in ("gaussian_noise", "impulse_noise", "snow"):
        create_noise(name).apply(inputs["rgb"][:2], 3, seed=0)
    assert np.array_equal(np.random.rand(3), expected)


# ---------------------------------------------------------------- glass blur: vectorised == published loop

def test_block_draws_equal_the_published_per_pixel_draws():
    a = gb.draw_offsets(np.random.RandomState(5), 12, 10, 2)
    rs = np.random.RandomState(5)
    b = np.array([rs.randint(-2, 2, size=(2,)) for _ in range(len(a))])
    assert np.array_equal(a, b)


@pytest.mark.parametrize("delta", [1, 2, 3, 4])
def test_glass_shuffle_vectorised_equals_the_loop(delta):
    rng = np.random.RandomState(delta)
    x = rng.randint(0, 256, size=(13, 11, 3)).astype(np.uint8)
    for _ in range(2):  # two passes, the second on the first's output
        offsets = gb.draw_offsets(rng, 13, 11, delta)
        y = gb.shuffle(x, delta, offsets)
        assert np.array_equal(y, gb.shuffle_loop(x.copy(), delta, offsets))
        assert not np.array_equal(y, x)
        x = y


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_glass_blur_vectorised_equals_the_loop(inputs, severity):
    x = inputs["rgb"][:2]
    fast = create_noise("glass_blur").apply(x, severity, seed=3)
    slow = create_noise("glass_blur", vectorised=False).apply(x, severity, seed=3)
    assert torch.equal(fast, slow)
    img = x[0].permute(1, 2, 0).numpy()  # and with ImageNet-C's larger shuffles (chains of pulls)
    sigma, delta, iterations = gb.IMAGENET_PARAMS[severity - 1]
    a = gb.glass_blur(img, sigma, delta, iterations, np.random.RandomState(0), vectorised=True)
    b = gb.glass_blur(img, sigma, delta, iterations, np.random.RandomState(0), vectorised=False)
    assert np.array_equal(a, b)

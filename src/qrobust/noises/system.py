"""System noises: the same test image through another decoder, resizer or colour pipeline.

Paper: Wang et al., "SysNoise: Exploring and Benchmarking Training-Deployment System Inconsistency",
MLSys 2023; across bit-widths: Xiao, Liu et al., "Benchmarking the Robustness of Quantized Models", 2023.

A system noise's `levels` are its variants (library and mode); `reference` is the variant training
used. Evaluate a model on every variant: its accuracy gap to the reference variant is the noise.
`reference_mad` documents how far the reference variant is from the stored image (mean absolute
difference in 0..255 on real MNIST; tests/noises/test_noises.py checks it). Only the data side is here:
model-side system noises (pooling ceil_mode, FP16/BF16 inference, INT8 kernels) live with the models.
Nothing is random: `seed` and `start` are accepted and ignored.
"""
from __future__ import annotations

import io

import numpy as np

from qrobust.noises._base import Noise, from_rgb, register_noise, to_rgb


class SystemNoise(Noise):
    kind = "system"
    random = False
    reference_mad: float = 0.0


@register_noise("jpeg_decoder")
class JpegDecoder(SystemNoise):
    """Encode once as JPEG (PIL, quality 75, PIL's default 4:2:0 chroma subsampling), decode with:

    - `pil` (reference): Pillow, libjpeg-turbo with its defaults: accurate integer IDCT (JDCT_ISLOW),
      "fancy" (triangle-filter) chroma upsampling, libjpeg's YCbCr -> RGB.
    - `opencv`: cv2.imdecode. The wheels pinned here (opencv-python 5.0, Pillow 13) both bundle
      libjpeg-turbo 3.x with those same defaults, so this variant equals `pil` byte for byte; it
      differs where OpenCV links another libjpeg (IJG libjpeg 7+ upsamples chroma by DCT scaling, older
      or GPU decoders use other IDCTs), as in the SysNoise paper's setups. Kept to measure that.
    - `pil-ycbcr`: libjpeg stops at YCbCr (Image.draft) and Pillow converts to RGB with its own
      fixed-point table: a different colour-conversion rounding (<= 1 level), as in pipelines that
      convert colour outside the decoder. Equal to `pil` for grayscale.
    - `pil-fast`: libjpeg's fastest settings (Pillow's draft flag): fast integer IDCT (JDCT_IFAST) and
      chroma replicated instead of interpolated, as decoders tuned for throughput use
      (TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE in TurboJPEG). Grayscale: the IDCT alone differs.

    Grayscale images are encoded as 1-channel JPEGs (no chroma). `reference_mad`: the quality-75 loss.
    """

    levels = ("pil", "opencv", "pil-ycbcr", "pil-fast")
    reference = "pil"
    reference_mad = 6.0
    quality = 75

    def apply_image(self, img, level, seed):
        import cv2
        from PIL import Image

        gray = img.shape[2] == 1
        buf = io.BytesIO()
        Image.fromarray(img[:, :, 0] if gray else img).save(buf, "JPEG", quality=self.quality)
        data = buf.getvalue()
        if level == "opencv":
            out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            out = out if gray else out[:, :, ::-1]  # BGR -> RGB
        else:
            im = Image.open(io.BytesIO(data))
            if level == "pil-ycbcr" and not gray:
                im.draft("YCbCr", None)
            elif level == "pil-fast":
                # what Image.draft sets for a reduced decode, here at full scale: (scale, draft flag);
                # the flag switches libjpeg to JDCT_IFAST and no fancy upsampling (Pillow's JpegDecode.c)
                im.decoderconfig = (1, 1)
            out = np.asarray(im.convert("L" if gray else "RGB"))
        return np.ascontiguousarray(out.reshape(img.shape))


@register_noise("resize")
class Resize(SystemNoise):
    """Down-scaling with another library or filter.

    Protocol: each image is first up-scaled 2x with PIL bicubic (the same for every variant), then
    down-scaled back to its native size with the variant's filter, so every variant resizes the same
    image by exactly 1/2, as a deployment resizing camera frames to the model's input would.

    Variants: pil-{nearest,bilinear,bicubic,box,lanczos} (Pillow: antialiased, the filter's support
    scaled by the factor) and cv2-{nearest,linear,cubic,area,lanczos4} (cv2.resize: no antialiasing
    except `area`; at exactly 1/2, `linear` averages 2 x 2 pixels like `area`). Reference:
    `pil-bilinear`, what torchvision's Resize does on PIL images. `reference_mad`: the blur of the
    bicubic-up, bilinear-down round trip on sharp MNIST strokes.
    """

    PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "box": 4, "lanczos": 1}  # PIL.Image.Resampling
    CV2_FILTERS = ("nearest", "linear", "cubic", "area", "lanczos4")
    levels = tuple(f"pil-{f}" for f in PIL_FILTERS) + tuple(f"cv2-{f}" for f in CV2_FILTERS)
    reference = "pil-bilinear"
    reference_mad = 8.0

    def apply_image(self, img, level, seed):
        import cv2
        from PIL import Image

        h, w, c = img.shape
        up = Image.fromarray(img[:, :, 0] if c == 1 else img).resize((2 * w, 2 * h), Image.Resampling.BICUBIC)
        lib, mode = level.split("-", 1)
        if lib == "pil":
            out = np.asarray(up.resize((w, h), Image.Resampling(self.PIL_FILTERS[mode])))
        else:
            flag = getattr(cv2, f"INTER_{mode.upper()}")
            out = cv2.resize(np.asarray(up), (w, h), interpolation=flag)
        return np.ascontiguousarray(out.reshape(h, w, c))


@register_noise("color_conversion")
class ColorConversion(SystemNoise):
    """RGB -> luma/chroma -> RGB round trip in 8 bits, as a video or camera pipeline does before the model.

    Variants: `none` (reference: the identity), `pil` (Pillow's YCbCr, JPEG/JFIF full-range BT.601,
    Pillow's fixed-point rounding: off by up to 1 level even for gray), `opencv` (cv2 RGB2YCrCb and back:
    the same colour space, OpenCV's rounding), `opencv-yuv` (cv2 RGB2YUV: analogue BT.601 YUV, whose
    chroma range overflows 8 bits and clips saturated colours) and `opencv-i420` (YUV 4:2:0: chroma at
    half resolution, as in H.264 / camera streams; odd sides are edge-padded for it).

    Grayscale is replicated to 3 channels and converted back as the rounded channel mean.
    """

    levels = ("none", "pil", "opencv", "opencv-yuv", "opencv-i420")
    reference = "none"
    reference_mad = 0.0

    def apply_image(self, img, level, seed):
        if level == "none":
            return img.copy()
        import cv2
        from PIL import Image

        rgb = to_rgb(img)
        if level == "pil":
            out = np.asarray(Image.fromarray(rgb).convert("YCbCr").convert("RGB"))
        elif level == "opencv":
            out = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb), cv2.COLOR_YCrCb2RGB)
        elif level == "opencv-yuv":
            out = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV), cv2.COLOR_YUV2RGB)
        else:
            h, w = rgb.shape[:2]
            even = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            out = cv2.cvtColor(cv2.cvtColor(even, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)[:h, :w]
        return from_rgb(np.ascontiguousarray(out), img.shape[2])

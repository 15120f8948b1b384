"""Augmentation and preprocessing operators on uint8 images, integer-exact.

Images are NumPy ``uint8`` arrays in OpenCV's layout: ``(H, W)`` or ``(H, W, C)`` with
``C`` in 1..4, channels interleaved. Every operator here is what an ISP or a preprocessing
engine computes in integers, and each resampling or colour operator is matched **bit for bit**
with a named library's integer path (OpenCV's ``cv2.resize`` and ``cv2.cvtColor`` on
``CV_8U``; the tests compare with ``opencv-python-headless`` 4.x and 5.x on random and
exhaustive inputs). Nothing rounds twice, nothing is computed in float except where the
contract says which float operations, in which order.

=========================  ===================================================================
operator                   matched with
=========================  ===================================================================
``flip``, ``crop``         exact selection (``cv2.flip``; slicing)
``resize_nearest``         ``cv2.resize(..., INTER_NEAREST)``
``resize_bilinear``        ``cv2.resize(..., INTER_LINEAR)`` on 8-bit images (11-bit
                           fixed-point coefficients; the exact 2x downscale OpenCV turns
                           into ``INTER_AREA``)
``rgb_to_gray``            ``cv2.cvtColor(..., COLOR_RGB2GRAY)`` (15-bit coefficients)
``rgb_to_ycrcb``           ``cv2.cvtColor(..., COLOR_RGB2YCrCb)`` (14-bit coefficients)
``convert_scale``          ``Mat.convertTo(CV_8U, alpha, beta)`` for dyadic ``alpha``/``beta``
``adjust_brightness_contrast``  the same, contrast about a pivot
``normalize_to_int8``      float32 ``(x / 255 - mean) / std`` then ``QuantizeLinear``
                           (ONNX Runtime), through a 256-entry table per channel
=========================  ===================================================================
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, check_choice, check_int, describe
from reference.quantize import quantize

__all__ = [
    "adjust_brightness_contrast", "convert_scale", "crop", "flip", "normalization_lut",
    "normalize_to_int8", "resize_bilinear", "resize_nearest", "rgb_to_gray", "rgb_to_ycrcb",
    "swap_rb",
]

#: OpenCV's INTER_RESIZE_COEF_BITS: bilinear weights are integers of 2**11 = 1.0
RESIZE_COEF_BITS = 11
FLIPS = ("horizontal", "vertical", "both")
#: RGB -> Y weights of ITU-R BT.601 as OpenCV's 8-bit gray conversion holds them (sum 2**15)
GRAY_COEFFS = (9798, 19235, 3735)
GRAY_SHIFT = 15
#: RGB -> Y and (R - Y), (B - Y) -> Cr, Cb as OpenCV's 8-bit YCrCb conversion holds them
YCRCB_COEFFS = (4899, 9617, 1868, 11682, 9241)
YCRCB_SHIFT = 14


def _image(name: str, img) -> np.ndarray:
    """``img`` checked as a uint8 ``(H, W)`` or ``(H, W, C)`` image with C in 1..4."""
    img = check_array(name, img, ("uint8",), ndim=(2, 3))
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{name} must have H, W >= 1, got shape {img.shape}")
    if img.ndim == 3 and not 1 <= img.shape[2] <= 4:
        raise ValueError(f"{name} must have 1 to 4 channels (H, W, C), got shape {img.shape}")
    return img


def _rgb(name: str, img) -> np.ndarray:
    img = _image(name, img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB image of shape (H, W, 3), got {img.shape}")
    return img


def flip(img, *, axis: str = "horizontal") -> np.ndarray:
    """Mirror the image: ``horizontal`` (left-right), ``vertical`` (top-bottom) or ``both``.

    Numeric contract: exact element selection (``cv2.flip`` codes 1, 0, -1); same dtype and
    shape, a new contiguous array."""
    img = _image("img", img)
    check_choice("axis", axis, FLIPS)
    axes = {"horizontal": (1,), "vertical": (0,), "both": (0, 1)}[axis]
    return np.ascontiguousarray(np.flip(img, axis=axes))


def crop(img, *, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The ``height x width`` window whose top-left pixel is ``(top, left)``.

    Numeric contract: exact selection. The window must lie inside the image (ValueError
    naming the bound otherwise): a crop never pads."""
    img = _image("img", img)
    h, w = img.shape[:2]
    top = check_int("top", top, minimum=0, maximum=h - 1)
    left = check_int("left", left, minimum=0, maximum=w - 1)
    height = check_int("height", height, minimum=1, maximum=h - top)
    width = check_int("width", width, minimum=1, maximum=w - left)
    return np.ascontiguousarray(img[top:top + height, left:left + width])


def _out_size(img: np.ndarray, width, height) -> tuple[int, int]:
    width = check_int("width", width, minimum=1, maximum=1 << 15)
    height = check_int("height", height, minimum=1, maximum=1 << 15)
    return width, height


def resize_nearest(img, *, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize to ``width x height``, as ``cv2.resize(INTER_NEAREST)``.

    Numeric contract: with the float64 ratios ``fx = 1 / (width / W)`` and
    ``fy = 1 / (height / H)`` (OpenCV's inverse of the inverse scale), output pixel ``(y, x)``
    copies source ``(min(floor(y * fy), H - 1), min(floor(x * fx), W - 1))``, products in
    float64. Exact selection: no arithmetic on pixel values."""
    img = _image("img", img)
    width, height = _out_size(img, width, height)
    h, w = img.shape[:2]
    fx, fy = 1.0 / (width / w), 1.0 / (height / h)
    xs = np.minimum(np.floor(np.arange(width) * fx).astype(np.int64), w - 1)
    ys = np.minimum(np.floor(np.arange(height) * fy).astype(np.int64), h - 1)
    return np.ascontiguousarray(img[ys][:, xs])


def _taps(src: int, dst: int, *, clamp_weight: bool) -> tuple[np.ndarray, ...]:
    """Source indices ``i0, i1`` and 11-bit weights ``w0, w1`` of each output coordinate.

    ``c = float32((d + 0.5) * s - 0.5)`` with ``s = 1 / (dst / src)`` in float64,
    ``i0 = floor(c)``, ``t = c - i0`` in float32, ``w1 = rint(t * 2048)``,
    ``w0 = rint((1 - t) * 2048)`` (float32 products, round half to even: OpenCV's
    ``saturate_cast<short>``). Horizontally (``clamp_weight``) a tap left of the image or at
    or beyond its last column takes ``t = 0`` at the clamped index; vertically OpenCV keeps
    the fractional weight and clamps only the two row indices."""
    s = 1.0 / (dst / src)
    c = ((np.arange(dst) + 0.5) * s - 0.5).astype(np.float32)
    i0 = np.floor(c).astype(np.int64)
    t = (c - i0.astype(np.float32)).astype(np.float32)
    if clamp_weight:
        low, high = i0 < 0, i0 >= src - 1
        t[low | high] = 0
        i0[low] = 0
        i0[high] = src - 1
    one = np.float32(1 << RESIZE_COEF_BITS)
    w1 = np.rint(t * one).astype(np.int64)
    w0 = np.rint((np.float32(1) - t) * one).astype(np.int64)
    return np.clip(i0, 0, src - 1), np.clip(i0 + 1, 0, src - 1), w0, w1


def resize_bilinear(img, *, width: int, height: int) -> np.ndarray:
    """Bilinear resize to ``width x height``, bit-exact with ``cv2.resize(INTER_LINEAR)`` on
    8-bit images (OpenCV 4.x and 5.x; the SIMD and scalar paths agree there by design).

    Numeric contract (OpenCV's fixed-point path, separable, horizontal pass first):

    - taps per axis from :func:`_taps` (11-bit weights, ``w0 + w1`` = 2048 up to rounding);
    - horizontal pass, per source row, int32: ``h = x[i0] * w0 + x[i1] * w1`` (at most
      255 * 2 * 2048 < 2**20);
    - vertical pass, per output row from rows ``r0, r1`` of ``h`` with weights ``b0, b1``:
      ``y = (((b0 * (h[r0] >> 4)) >> 16) + ((b1 * (h[r1] >> 4)) >> 16) + 2) >> 2``
      (arithmetic shifts; products below 2**31), which lies in 0..255 without clamping;
    - an exact 2x downscale in both axes (``W == 2 * width`` and ``H == 2 * height``) is
      OpenCV's INTER_AREA fast path: ``y = (a + b + c + d + 2) >> 2`` over each 2x2 block
      (equal to the bilinear formula for 1, 3 and 4 channels; OpenCV's 2-channel area path
      is not reproduced and is refused).
    """
    img = _image("img", img)
    width, height = _out_size(img, width, height)
    h, w = img.shape[:2]
    x = img.astype(np.int64)[..., None] if img.ndim == 2 else img.astype(np.int64)
    if w == 2 * width and h == 2 * height:
        if x.shape[2] == 2:
            raise ValueError("resize_bilinear: an exact 2x downscale of a 2-channel image is "
                             "OpenCV's INTER_AREA path, whose 2-channel variant is not "
                             "reproduced; use 1, 3 or 4 channels")
        out = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2] + 2) >> 2
    else:
        x0, x1, a0, a1 = _taps(w, width, clamp_weight=True)
        y0, y1, b0, b1 = _taps(h, height, clamp_weight=False)
        rows = x[:, x0] * a0[None, :, None] + x[:, x1] * a1[None, :, None]   # < 2**20
        out = (((b0[:, None, None] * (rows[y0] >> 4)) >> 16)
               + ((b1[:, None, None] * (rows[y1] >> 4)) >> 16) + 2) >> 2
    out = out.astype(np.uint8)
    return out[..., 0] if img.ndim == 2 else out


def swap_rb(img) -> np.ndarray:
    """RGB <-> BGR (``cv2.cvtColor(COLOR_RGB2BGR)``): channels 0 and 2 exchanged, exact."""
    img = _image("img", img)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"img must have 3 or 4 channels to swap R and B, got {img.shape}")
    out = img.copy()
    out[..., 0], out[..., 2] = img[..., 2], img[..., 0]
    return out


def rgb_to_gray(img) -> np.ndarray:
    """RGB -> gray, bit-exact with ``cv2.cvtColor(COLOR_RGB2GRAY)`` on 8-bit images.

    Numeric contract: ``Y = (9798 R + 19235 G + 3735 B + 2**14) >> 15`` in int32
    (BT.601 weights 0.299, 0.587, 0.114 in 15-bit fixed point, summing to 2**15, so the result
    lies in 0..255); checked against OpenCV on all 2**24 colours."""
    img = _rgb("img", img).astype(np.int32)
    cr, cg, cb = GRAY_COEFFS
    y = (img[..., 0] * cr + img[..., 1] * cg + img[..., 2] * cb + (1 << (GRAY_SHIFT - 1)))
    return (y >> GRAY_SHIFT).astype(np.uint8)


def rgb_to_ycrcb(img) -> np.ndarray:
    """RGB -> YCrCb (BT.601, full range), bit-exact with ``cv2.cvtColor(COLOR_RGB2YCrCb)``.

    Numeric contract, int32, ``d = 2**13`` the rounding term, shift 14:
    ``Y = (4899 R + 9617 G + 1868 B + d) >> 14``;
    ``Cr = clamp(((R - Y) * 11682 + (128 << 14) + d) >> 14, 0, 255)``;
    ``Cb = clamp(((B - Y) * 9241 + (128 << 14) + d) >> 14, 0, 255)`` (arithmetic shifts);
    output channels in the order Y, Cr, Cb. Checked against OpenCV on all 2**24 colours."""
    img = _rgb("img", img).astype(np.int32)
    c0, c1, c2, c3, c4 = YCRCB_COEFFS
    d = 1 << (YCRCB_SHIFT - 1)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    y = (r * c0 + g * c1 + b * c2 + d) >> YCRCB_SHIFT
    cr = ((r - y) * c3 + (128 << YCRCB_SHIFT) + d) >> YCRCB_SHIFT
    cb = ((b - y) * c4 + (128 << YCRCB_SHIFT) + d) >> YCRCB_SHIFT
    return np.stack([y, np.clip(cr, 0, 255), np.clip(cb, 0, 255)], axis=-1).astype(np.uint8)


def _round_shift_half_even(v: np.ndarray, shift: int) -> np.ndarray:
    """``round_half_even(v / 2**shift)`` for int64 ``v`` (exact integer arithmetic)."""
    if shift == 0:
        return v
    q = v >> shift                       # floor division
    r = v - (q << shift)                 # remainder in [0, 2**shift)
    half = 1 << (shift - 1)
    up = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + up


def convert_scale(img, *, alpha_q: int, beta_q: int, frac_bits: int = 8) -> np.ndarray:
    """``y = saturate_u8(round(x * alpha + beta))`` with ``alpha = alpha_q / 2**frac_bits``
    and ``beta = beta_q / 2**frac_bits``: the fixed-point form of OpenCV's
    ``Mat.convertTo(CV_8U, alpha, beta)`` (brightness is ``beta``, contrast ``alpha``).

    Numeric contract: ``v = x * alpha_q + beta_q`` exactly in int64 (``|alpha_q|``,
    ``|beta_q|`` < 2**24), ``round_half_even(v / 2**frac_bits)`` (OpenCV's ``cvRound``), then
    saturation to 0..255. For ``frac_bits <= 15`` OpenCV's float32 evaluation of the same
    dyadic ``alpha``, ``beta`` is exact, so the two agree bit for bit (tested)."""
    img = _image("img", img)
    frac_bits = check_int("frac_bits", frac_bits, minimum=0, maximum=15)
    alpha_q = check_int("alpha_q", alpha_q, minimum=-(1 << 24), maximum=1 << 24)
    beta_q = check_int("beta_q", beta_q, minimum=-(1 << 24), maximum=1 << 24)
    v = img.astype(np.int64) * alpha_q + beta_q
    return np.clip(_round_shift_half_even(v, frac_bits), 0, 255).astype(np.uint8)


def adjust_brightness_contrast(img, *, contrast_q: int, brightness: int, frac_bits: int = 8,
                               pivot: int = 128) -> np.ndarray:
    """Contrast about ``pivot`` and brightness in fixed point:
    ``y = saturate_u8(round((x - pivot) * contrast + pivot + brightness))`` with
    ``contrast = contrast_q / 2**frac_bits`` (``2**frac_bits`` leaves contrast unchanged).

    Numeric contract: :func:`convert_scale` with ``alpha_q = contrast_q`` and
    ``beta_q = (pivot + brightness) * 2**frac_bits - pivot * contrast_q`` (exact integers)."""
    pivot = check_int("pivot", pivot, minimum=0, maximum=255)
    brightness = check_int("brightness", brightness, minimum=-255, maximum=255)
    frac_bits = check_int("frac_bits", frac_bits, minimum=0, maximum=15)
    contrast_q = check_int("contrast_q", contrast_q, minimum=0, maximum=1 << 20)
    beta_q = ((pivot + brightness) << frac_bits) - pivot * contrast_q
    return convert_scale(img, alpha_q=contrast_q, beta_q=beta_q, frac_bits=frac_bits)


def _per_channel(name: str, value, channels: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(channels, float(arr))
    if arr.shape != (channels,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite scalar or {channels} values (one per "
                         f"channel), got {describe(value)}")
    return arr.astype(np.float32)


def normalization_lut(mean, std, *, scale: float, zero_point: int = 0, channels: int = 3,
                      dtype: str = "int8") -> np.ndarray:
    """The ``(channels, 256)`` table of :func:`normalize_to_int8`: entry ``[c, v]`` is the
    quantized value of pixel value ``v`` in channel ``c``.

    Numeric contract: ``f = ((float32(v) / 255) - mean[c]) / std[c]``, each operation one
    float32 IEEE operation in that order (``mean``, ``std`` rounded to float32 first), then
    ``reference.quantize.quantize(f, scale, zero_point)`` (float32 division by ``scale``,
    round half to even, saturation to ``dtype``): bit-exact with ONNX Cast -> Div -> Sub ->
    Div -> QuantizeLinear in ONNX Runtime (tested). ``std`` must be non-zero."""
    channels = check_int("channels", channels, minimum=1, maximum=4)
    check_choice("dtype", dtype, ("int8", "uint8"))
    mean = _per_channel("mean", mean, channels)
    std = _per_channel("std", std, channels)
    if np.any(std == 0):
        raise ValueError(f"std must be non-zero, got {std.tolist()}")
    v = np.arange(256, dtype=np.float32)[None, :]
    f = ((v / np.float32(255)) - mean[:, None]) / std[:, None]
    return quantize(f.astype(np.float32), scale, zero_point, dtype=dtype)


def normalize_to_int8(img, mean, std, *, scale: float, zero_point: int = 0,
                      dtype: str = "int8") -> np.ndarray:
    """Normalize an image into the network's quantized input: ``(x / 255 - mean) / std``
    quantized with the input tensor's ``scale`` and ``zero_point``, as an ISP does it: one
    256-entry table per channel (:func:`normalization_lut`), applied by lookup.

    Numeric contract: output ``[..., c] = lut[c, x[..., c]]``, same shape as ``img``,
    ``dtype`` int8 (default) or uint8; equal, element for element, to the float32 pipeline of
    :func:`normalization_lut`'s contract (tested against ONNX Runtime). A gray ``(H, W)``
    image uses channel 0."""
    img = _image("img", img)
    channels = 1 if img.ndim == 2 else img.shape[2]
    lut = normalization_lut(mean, std, scale=scale, zero_point=zero_point, channels=channels,
                            dtype=dtype)
    if img.ndim == 2:
        return lut[0][img]
    return np.stack([lut[c][img[..., c]] for c in range(channels)], axis=-1)


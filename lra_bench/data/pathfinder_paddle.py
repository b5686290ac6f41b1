"""One Pathfinder paddle drawn alone, as the authors draw it (drewlinsley/pathfinder commit 7b53886,
`snakes.py` `draw_line_n_mask`, `snakes2.py` `initialize_two_seeds`): the geometry the generator
(pathfinder_generator.py) composes into images. Cached: a paddle depends on its angle and sizes only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw


def ceil_step(point, angle: float, distance: float) -> tuple[int, int]:
    """`point` moved `distance` along `angle` (y = sin, x = cos), rounded up as the authors do."""
    return (int(math.ceil(point[0] + distance * math.sin(angle))),
            int(math.ceil(point[1] + distance * math.cos(angle))))


@lru_cache(maxsize=32)
def disc(radius: float) -> np.ndarray:
    """Integer offsets (dy, dx) with dy^2 + dx^2 <= radius^2."""
    r = int(math.floor(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = yy**2 + xx**2 <= radius * radius
    return np.stack([yy[keep], xx[keep]], axis=1)


def dilate(binary: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Binary dilation by a set of offsets (pixels outside the array count as empty)."""
    h, w = binary.shape
    r = int(np.abs(offsets).max()) if len(offsets) else 0
    padded = np.pad(binary, r)
    out = np.zeros_like(binary)
    for dy, dx in offsets:
        out |= padded[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def shrink(big: np.ndarray, size: int) -> np.ndarray:
    """Lanczos resize of a 0/255 byte image to size x size, as floats in [0, 1]."""
    small = Image.fromarray(big.astype(np.uint8), mode="L").resize((size, size), resample=Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float32) / 255.0


@lru_cache(maxsize=8192)
def paddle(length: int, thickness: float, margin: int, scale: int, angle: float):
    """(ink, mask) of one paddle starting at the centre of a (2R+1)^2 patch, R = reach, heading
    along `angle`: drawn at `scale`x (a (2R*scale+1)^2 canvas: the authors' canvas is not exactly
    `scale` times the patch) and shrunk with Lanczos; the mask is the line dilated by margin x scale."""
    reach = length + int(math.ceil(thickness)) + margin
    centre = reach * scale
    head = ceil_step((centre, centre), angle, length * scale)
    canvas = Image.new("L", (2 * centre + 1, 2 * centre + 1), 0)
    ImageDraw.Draw(canvas).line([(centre, centre), (head[1], head[0])], fill=255,
                                width=int(round(thickness * scale)))
    line = np.asarray(canvas) > 0
    ink = shrink(line * 255, 2 * reach + 1)
    mask = shrink(dilate(line, disc(margin * scale)) * 255, 2 * reach + 1)
    return ink, mask, reach


@lru_cache(maxsize=4096)
def start_test(length: int, thickness: float, margin: int, scale: int, angle: float):
    """Offsets a new path's first paddle must find free (mask <= 0.3) around its start: the pixels
    where the paddle's mask is saturated, shifted by one pixel as in the authors' structuring element
    (head at (L+m+1, L+m+1) of a (2(L+m)+1)^2 kernel anchored at its centre).

    None when the heading can never start a path: when all offsets point below (or all above, all
    right, all left of) the pixel, a window corner sees only outside pixels; the authors dilate a
    float mask with cv2, which fills the outside with -inf, and their availability check gives up on
    any negative value. At 32x32 only the 30 headings from -150 to -121 degrees (up and to the left)
    can start a path; at Path-X 6 of 360 headings are excluded."""
    _, mask, reach = paddle(length, thickness, margin, scale, angle)
    half = length + margin
    offsets = np.argwhere(mask >= 1.0) - reach + 1
    offsets = offsets[(np.abs(offsets) <= half).all(axis=1)]
    dy, dx = offsets[:, 0], offsets[:, 1]
    blind = any(((dy * sy > 0) | (dx * sx > 0)).all() for sy in (-1, 1) for sx in (-1, 1))
    return None if blind else offsets

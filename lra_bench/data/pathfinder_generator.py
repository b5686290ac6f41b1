"""Pathfinder images (Linsley et al. 2018; LRA's Pathfinder and Path-X; spec/tasks.md "Pathfinder").

Our implementation of the authors' procedure, read from drewlinsley/pathfinder (commit 7b53886,
`snakes2.py` `from_wrapper`/`two_snakes`/`initialize_two_seeds`/`draw_circle` and `snakes.py`
`make_many_snakes`/`seed_snake`/`extend_snake`/`get_coords_cmf`/`draw_line_n_mask`), run with the
parameters of LRA's TFDS builders (`lra_benchmarks/data/pathfinder.py` docstrings) and the
`snakes2_wrapper.py` defaults they leave alone. In words:

- Everything lives on the final window-sized grid. A paddle is drawn alone at `antialias_scale`
  times the resolution (a PIL line of width thickness x scale) and shrunk with a Lanczos filter;
  its "margin mask" is the same line dilated by a disc of radius margin x scale, shrunk the same
  way. Ink is composed by maximum, scaled by a contrast; masks by maximum.
- Two target paths start `seed_distance` apart near the centre (the first start keeps 2 x
  seed_distance from the border) and grow in alternation, paddle by paddle: the next pivot lies
  length + 2 margin ahead, the next paddle's head is drawn among the pixels of a circle of radius
  length + margin around it, weighted by cos(min(continuity x turn, 90 deg))^2 and by how free the
  margin-dilated mask is there; a paddle whose mask meets the committed mask (sum >= 1.8) is redrawn
  (3 tries) and otherwise the image starts over. A paddle's own mask is committed only when the next
  paddle is placed, so a path never blocks itself.
- `snakes_budget // distractor_length` distractor paths of `contour_length // 3` paddles, each start
  drawn among free pixels, 5 tries each, dropped when they do not fit (until < 1% is free).
- Markers: discs of `marker_radius` drawn at the scale and shrunk (Lanczos); a positive marks the
  start and the end of one target path, a negative the start of one and the end of the other. The
  image is scaled so that its brightest pixel is 255 (scipy.misc.imsave's byte scaling).
  Target paddles have contrast snake x paddle contrast (1.5 at 32x32), distractors snake contrast
  (2.0), markers 1.0: at 32x32 the markers are dimmer than the paths, as in the release.

Where the authors' code has quirks that shape the images we keep them: rounding up in every step,
the start test's one-pixel offset, the second path's first paddle not tested against the first,
the first target path's last paddle left out of the mask that distractors avoid. The authors' run
today replaces scipy.misc with float PIL images (HEAD's NumPy-2 fix), which changes contrast and
markers; we follow the scipy.misc semantics that made the release (bytes, clipped, between steps).
Seeded per image: image n of a generation with seed s depends on (s, n) only, so generation
parallelises over processes. Unlike the authors' loop, which draws each label at random, the
caller chooses the label (balanced files); the paths are drawn before the label is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from .pathfinder_paddle import ceil_step, dilate, disc, paddle, shrink, start_test

GENERATOR_VERSION = "snakes2-v2"  # part of the cache key: bump when the images change


@dataclass(frozen=True)
class PathfinderParams:
    """Generator parameters; `preset(resolution)` gives LRA's values (spec/tasks.md)."""

    window: int = 32
    padding: int = 1
    paddle_length: int = 2
    paddle_thickness: float = 0.5
    paddle_margins: tuple[int, ...] = (1,)  # one drawn per image
    marker_radius: float = 1.5
    contour_length: int = 14
    continuity: float = 1.0
    seed_distance: int = 7
    antialias_scale: int = 2
    snakes_budget: int = 20  # distractor paths = snakes_budget // distractor_length
    snake_contrast: float = 2.0
    paddle_contrast: float = 0.75
    paddle_tries: int = 3  # the authors' max_paddle_retrial = 2, i.e. 3 draws
    distractor_tries: int = 5  # max_distractor_contour_retrial = 4
    min_free_share: float = 0.01  # stop_with_availability
    max_image_tries: int = 100_000  # the authors retry forever; a guard against impossible settings

    @property
    def distractor_length(self) -> int:
        return max(1, self.contour_length // 3)

    @property
    def num_distractors(self) -> int:
        return self.snakes_budget // self.distractor_length


def preset(resolution: int, contour_length: int = 14) -> PathfinderParams:
    """LRA's parameters per resolution (TFDS builder docstrings; snakes2_wrapper.Args defaults for
    what they leave out: paddle length 5, paddle contrast 1, seed distance 27, padding 22). Resolution
    16 is ours, for CPU smoke runs (not an LRA size): the 32x32 settings with a smaller marker and a
    seed distance that leaves the same 4x4 central square for the first start (16 - 4 x 3)."""
    common = {"contour_length": contour_length}
    if resolution == 16:
        return PathfinderParams(window=16, marker_radius=1.0, seed_distance=3, snakes_budget=4, **common)
    if resolution == 32:
        return PathfinderParams(**common)
    if resolution == 64:
        return PathfinderParams(window=64, paddle_length=5, paddle_thickness=1.0, marker_radius=2.5, continuity=1.8,
                                seed_distance=12, snakes_budget=22, snake_contrast=0.8, paddle_contrast=1.0, **common)
    if resolution == 128:
        return PathfinderParams(window=128, paddle_length=5, paddle_thickness=1.5, paddle_margins=(2, 3),
                                marker_radius=3.0, continuity=1.8, seed_distance=20, snakes_budget=35,
                                snake_contrast=0.9, paddle_contrast=1.0, **common)
    if resolution == 256:
        return PathfinderParams(window=256, padding=22, paddle_length=5, paddle_thickness=2.0, paddle_margins=(3,),
                                marker_radius=5.0, continuity=1.8, seed_distance=27, snakes_budget=30,
                                snake_contrast=1.0, paddle_contrast=1.0, **common)
    raise ValueError(f"pathfinder resolution must be 16, 32, 64, 128 or 256, got {resolution}")


# -- the image being drawn ------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _blank_mask(window: int, padding: int, pad: int) -> np.ndarray:
    """The empty mask: the window's outer `padding` pixels set, a zero border `pad` wide around it."""
    mask = np.zeros((window + 2 * pad, window + 2 * pad), dtype=np.float32)
    mask[pad:pad + window, pad:pad + window] = 1
    mask[pad + padding:pad + window - padding, pad + padding:pad + window - padding] = 0
    return mask


class _Canvas:
    """Ink and margin mask on the window grid, in arrays with a zero border `pad` wide so that a
    paddle's patch never needs clipping; mask commits are clipped to the window (the authors' mask
    has no outside), ink outside the window is dropped at the end."""

    def __init__(self, p: PathfinderParams, margin: int):
        self.p, self.margin = p, margin
        reach = p.paddle_length + int(math.ceil(p.paddle_thickness)) + margin  # a paddle patch's half-width
        self.pad = reach + margin + 1  # patches of points in the window, and their margin discs, fit
        blank = _blank_mask(p.window, p.padding, self.pad)
        self.ink = np.zeros_like(blank)
        self.mask = blank.copy()

    def window_of(self, layer: np.ndarray) -> np.ndarray:
        return layer[self.pad:self.pad + self.p.window, self.pad:self.pad + self.p.window]

    def paddle(self, angle: float):
        p = self.p
        return paddle(p.paddle_length, p.paddle_thickness, self.margin, p.antialias_scale, float(angle))

    def _patch(self, layer: np.ndarray, point, reach: int) -> np.ndarray:
        y, x = point[0] + self.pad - reach, point[1] + self.pad - reach
        return layer[y:y + 2 * reach + 1, x:x + 2 * reach + 1]

    def draw(self, point, ink: np.ndarray, reach: int, contrast: float):
        region = self._patch(self.ink, point, reach)
        np.maximum(region, ink * contrast, out=region)

    def commit(self, point, mask: np.ndarray, reach: int):
        region = self._patch(self.mask, point, reach)
        np.maximum(region, mask, out=region)
        w, pad = self.p.window, self.pad
        self.mask[:pad], self.mask[pad + w:], self.mask[:, :pad], self.mask[:, pad + w:] = 0, 0, 0, 0

    def collides(self, point, mask: np.ndarray, reach: int) -> bool:
        return float((self._patch(self.mask, point, reach) + mask).max()) >= 1.8

    def free_starts(self, offsets: np.ndarray, blocked_border: int) -> np.ndarray:
        """Pixels (y, x) whose start-test offsets meet no mask > 0.3 (outside the window: free)."""
        occupied = self.window_of(self.mask) > 0.3
        if blocked_border:
            occupied[:blocked_border], occupied[-blocked_border:] = True, True
            occupied[:, :blocked_border], occupied[:, -blocked_border:] = True, True
        return np.argwhere(~dilate(occupied, offsets))

    def copy(self) -> "_Canvas":
        twin = _Canvas.__new__(_Canvas)
        twin.__dict__.update(self.__dict__, ink=self.ink.copy(), mask=self.mask.copy())
        return twin

    def free_share(self) -> float:
        return float((self.window_of(self.mask) <= 0.3).mean())


@dataclass
class _Path:
    pivot: tuple[int, int]
    angle: float
    pending: tuple  # (point, mask patch, reach) of the newest paddle, committed with the next one
    start: tuple[int, int]
    end: tuple[int, int] | None = None


def _first_paddle(canvas: _Canvas, rng: np.random.Generator, contrast: float, blocked_border: int = 1):
    """A path's first paddle at a free start (`seed_snake`); None if no start fits."""
    p = canvas.p
    length, margin = p.paddle_length, canvas.margin
    for _ in range(p.paddle_tries):
        angle = int(rng.integers(-180, 180)) * math.pi / 180
        offsets = start_test(length, p.paddle_thickness, margin, p.antialias_scale, angle)
        if offsets is None:
            return None
        free = canvas.free_starts(offsets, blocked_border)
        if not len(free):
            return None
        tail = tuple(int(v) for v in free[rng.integers(len(free))])
        path = _place_first(canvas, tail, angle, contrast)
        if path is not None:
            return path
    return None


def _place_first(canvas: _Canvas, tail, angle: float, contrast: float):
    """Draw a first paddle from `tail` if its head and the pivot behind it are inside the window."""
    p, w = canvas.p, canvas.p.window
    head = ceil_step(tail, angle, p.paddle_length)
    pivot = ceil_step(head, angle + math.pi, p.paddle_length + canvas.margin)
    if not all(0 <= v < w for v in (*head, *pivot)):
        return None
    ink, mask, reach = canvas.paddle(angle)
    canvas.draw(tail, ink, reach, contrast)
    return _Path(pivot=pivot, angle=angle, pending=(tail, mask, reach), start=tail)


@lru_cache(maxsize=16)
def _circle(step: int, margin: int):
    """Offsets of the pixels on a circle of radius `step` (one sample per pixel of arc, rounded
    down as the authors' truncation of non-negative coordinates does, deduplicated, sorted), their
    directions, and for each the offsets of its margin disc."""
    angles = np.arange(0, 360, 360.0 / (2 * step * np.pi)) * np.pi / 180
    ring = np.unique(np.floor(np.stack([step * np.sin(angles), step * np.cos(angles)], axis=1)).astype(int), axis=0)
    return ring, np.arctan2(ring[:, 0], ring[:, 1]), ring[:, None, :] + disc(margin)[None]


@lru_cache(maxsize=4096)
def _turn_weights(step: int, margin: int, continuity: float, heading: float) -> np.ndarray:
    """cos(min(continuity x turn, 90 deg))^2 for each circle pixel, turning from `heading`."""
    turn = np.abs(_circle(step, margin)[1] - heading)
    turn = np.minimum(np.minimum(turn, 2 * np.pi - turn) * continuity, np.pi / 2)
    return np.maximum(np.cos(turn), 0) ** 2


def _extend(canvas: _Canvas, path: _Path, rng: np.random.Generator, contrast: float) -> bool:
    """One more paddle on `path` (`extend_snake`); False when no head fits."""
    p, margin, w = canvas.p, canvas.margin, canvas.p.window
    pivot = ceil_step(path.pivot, path.angle, p.paddle_length + 2 * margin)
    step = p.paddle_length + margin
    ring, directions, near = _circle(step, margin)
    coords = ring + pivot
    turn_weight = _turn_weights(step, margin, p.continuity, path.angle)
    if not (step <= pivot[0] < w - step and step <= pivot[1] < w - step):  # the circle leaves the window
        inside = ((coords >= 0) & (coords < w)).all(axis=1)
        if not inside.any():
            return False
        coords, directions, near, turn_weight = coords[inside], directions[inside], near[inside], turn_weight[inside]
    # the mask dilated by the margin disc, read at the candidates (the border is zero: neutral)
    width = canvas.mask.shape[1]
    flat = near[..., 0] * width + near[..., 1] + ((pivot[0] + canvas.pad) * width + pivot[1] + canvas.pad)
    weights = (1 - canvas.mask.ravel()[flat].max(axis=1)) * turn_weight
    cumulative = np.cumsum(weights)
    total = float(cumulative[-1])
    if total < 1e-4:
        return False
    for _ in range(p.paddle_tries):
        k = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
        head, direction = tuple(int(v) for v in coords[k]), float(directions[k])
        back = direction + math.pi if direction < 0 else direction - math.pi
        ink, mask, reach = canvas.paddle(back)
        if canvas.collides(head, mask, reach):
            continue
        canvas.draw(head, ink, reach, contrast)
        canvas.commit(*path.pending)
        path.pivot, path.angle, path.pending, path.end = pivot, direction, (head, mask, reach), head
        return True
    return False


def _two_targets(canvas: _Canvas, rng: np.random.Generator):
    """The two target paths (`two_snakes`), or None to start the image over."""
    p = canvas.p
    contrast = p.snake_contrast * p.paddle_contrast
    first = _first_paddle(canvas, rng, contrast, blocked_border=2 * p.seed_distance)
    if first is None:
        return None
    second = None
    for _ in range(p.paddle_tries):
        angle = int(rng.integers(-180, 180)) * math.pi / 180
        around = int(rng.integers(0, 360)) * math.pi / 180
        tail = (int(np.round(first.start[0] + p.seed_distance * math.sin(around))),
                int(np.round(first.start[1] + p.seed_distance * math.cos(around))))
        second = _place_first(canvas, tail, angle, contrast)
        if second is not None:
            break
    if second is None:
        return None
    for _ in range(p.contour_length - 1):
        for path in (first, second):
            if not _extend(canvas, path, rng, contrast):
                return None
    canvas.commit(*second.pending)  # the authors commit only the second path's last paddle
    return first, second


def _distractor(canvas: _Canvas, rng: np.random.Generator) -> None:
    """One distractor path (`make_many_snakes`): drawn on a copy, kept only if all paddles fit."""
    p = canvas.p
    for _ in range(p.distractor_tries):
        if canvas.free_share() < p.min_free_share:
            return
        trial = canvas.copy()
        path = _first_paddle(trial, rng, p.snake_contrast)
        if path is None:
            continue
        if all(_extend(trial, path, rng, p.snake_contrast) for _ in range(p.distractor_length - 1)):
            trial.commit(*path.pending)
            canvas.ink, canvas.mask = trial.ink, trial.mask
            return


def _marker(window: int, scale: int, radius: float, y: int, x: int) -> np.ndarray:
    """A disc of `radius` centred on grid point (y, x), drawn at `scale`x and shrunk (Lanczos)."""
    yy, xx = np.ogrid[:window * scale, :window * scale]
    inside = (yy - y * scale) ** 2 + (xx - x * scale) ** 2 <= (radius * scale) ** 2
    return shrink(inside * 255, window)


def generate_image(params: PathfinderParams, label: int, seed: int, index: int) -> tuple[np.ndarray, int]:
    """One image (uint8, window x window) of the given label and the paddle margin it used;
    deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    margin = int(params.paddle_margins[rng.integers(len(params.paddle_margins))])  # once per image
    for _ in range(params.max_image_tries):
        canvas = _Canvas(params, margin)
        targets = _two_targets(canvas, rng)
        if targets is not None:
            break
    else:
        raise RuntimeError(f"could not place the paths of image {index} in {params.max_image_tries} tries")
    for _ in range(params.num_distractors):
        _distractor(canvas, rng)
    origin = int(rng.integers(2))
    start = targets[origin].start
    end = targets[origin if label == 1 else 1 - origin].end
    s, r, w = params.antialias_scale, params.marker_radius, params.window
    image = np.maximum(canvas.window_of(canvas.ink), np.maximum(_marker(w, s, r, *start), _marker(w, s, r, *end)))
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) * (255.0 / ((high - low) or 1.0))  # scipy.misc.bytescale
    return (np.clip(scaled, 0, 255) + 0.5).astype(np.uint8), margin

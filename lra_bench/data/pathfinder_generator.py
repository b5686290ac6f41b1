"""Pathfinder images (Linsley et al. 2018; LRA's Pathfinder and Path-X; spec/tasks.md "Pathfinder").

Our implementation of the generator the spec describes, with the official parameter semantics:
each path is grown paddle by paddle (short antialiased segments separated by a gap of `margin`
pixels); the next paddle's direction is drawn among free positions on a circle around the next
pivot, weighted by cos(min(continuity * turn, pi/2))^2, so a larger `continuity` gives straighter
paths; a paddle may not touch existing ink dilated by `margin`. Every image holds two paths of
`contour_length` paddles and `num_distractors` paths of `distractor_length` paddles; a positive image
marks both ends of one long path with circles, a negative image one end of each long path. Both
classes draw the same ink, so only connectivity tells them apart. Drawing happens at
`antialias_scale` times the resolution and is box-averaged down. Seeded per image: image n of a
generation with seed s depends on (s, n) only, so generation parallelises over processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from functools import lru_cache

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class PathfinderParams:
    """Generator parameters; `preset(resolution)` gives the spec's values for 32, 64, 128 and 256."""

    window: int = 32
    padding: int = 1
    paddle_length: int = 2
    paddle_thickness: float = 0.5
    paddle_margin: int = 1
    marker_radius: float = 1.5
    contour_length: int = 14
    continuity: float = 1.0
    seed_distance: int = 7
    antialias_scale: int = 2
    snakes_budget: int = 20  # number of distractors = snakes_budget // distractor_length
    max_retries: int = 200

    @property
    def distractor_length(self) -> int:
        return max(1, self.contour_length // 3)

    @property
    def num_distractors(self) -> int:
        return self.snakes_budget // self.distractor_length


def preset(resolution: int, contour_length: int = 14) -> PathfinderParams:
    """The spec's parameters per resolution. Paddle lengths for 64/128/256 are not in the spec: our
    choice, scaled with the window (3, 5, 5), recorded in every generated metadata row. Resolution 16
    is ours, for CPU smoke runs (not an LRA size): the 32 settings with a smaller marker, seed distance
    and distractor budget."""
    common = {"contour_length": contour_length}
    if resolution == 16:
        return PathfinderParams(window=16, marker_radius=1.0, seed_distance=5, snakes_budget=4, **common)
    if resolution == 32:
        return PathfinderParams(**common)
    if resolution == 64:
        return PathfinderParams(window=64, paddle_length=3, paddle_thickness=1.0, marker_radius=2.5, continuity=1.8,
                                seed_distance=12, snakes_budget=22, **common)
    if resolution in (128, 256):
        return PathfinderParams(window=resolution, paddle_length=5, paddle_thickness=1.5, paddle_margin=2,
                                marker_radius=3.0, continuity=1.8, seed_distance=20, snakes_budget=35, **common)
    raise ValueError(f"pathfinder resolution must be 16, 32, 64, 128 or 256, got {resolution}")


NUM_DIRECTIONS = 72  # candidate directions per paddle, every 5 degrees


class _Geometry:
    """Per-direction cell offsets of a paddle, precomputed once per parameter set.

    Paddles start on integer grid points (as the official generator's rounded coordinates do), so a
    paddle in direction a covers `pivot + core[a]`, reserves `pivot + halo[a]` (dilated by the
    margin) and ends at `pivot + head[a]`; the next paddle starts at `pivot + ahead[a]`.
    """

    def __init__(self, p: PathfinderParams):
        self.angles = np.linspace(-math.pi, math.pi, NUM_DIRECTIONS, endpoint=False)
        units = np.stack([np.sin(self.angles), np.cos(self.angles)], axis=1)
        step = p.paddle_margin + 1
        self.head = np.round(units * p.paddle_length).astype(int)
        self.ahead = np.round(units * (p.paddle_length + step)).astype(int)
        self.core = self._cells(units, p.paddle_length, p.paddle_thickness / 2 + 0.5)
        self.halo = self._cells(units, p.paddle_length, p.paddle_margin + p.paddle_thickness / 2)
        # the occupancy grid has a border this wide, marked occupied: no bounds checks needed
        self.border = int(max(np.abs(self.core).max(), np.abs(self.halo).max())) + 1

    @staticmethod
    def _cells(units, length, radius):
        disc = _disc(radius)
        t = np.linspace(0.0, 1.0, int(math.ceil(length * 2)) + 2)
        per_angle = []
        for u in units:
            points = np.round((t[:, None] * u * length)[:, None, :] + disc[None]).reshape(-1, 2).astype(int)
            per_angle.append(np.unique(points, axis=0))
        width = max(len(c) for c in per_angle)
        return np.stack([np.concatenate([c, np.repeat(c[:1], width - len(c), axis=0)]) for c in per_angle])


class _Canvas:
    """Ink at `antialias_scale` x resolution, and the occupancy grid of committed paddles' halos."""

    def __init__(self, p: PathfinderParams, geometry: _Geometry):
        self.p, self.g, self.s = p, geometry, p.antialias_scale
        size = p.window * self.s
        self.ink = Image.new("L", (size, size), 0)
        self.draw = ImageDraw.Draw(self.ink)
        b = geometry.border
        self.occupied = np.ones((p.window + 2 * b, p.window + 2 * b), dtype=bool)
        self.occupied[b:-b, b:-b] = False

    def free_directions(self, occupied: np.ndarray, pivot: np.ndarray) -> np.ndarray:
        """Which of the directions give a paddle from `pivot` that touches no occupied cell and whose
        next start stays inside the window (a one-step look-ahead keeps paths off the walls)."""
        w, pad = self.p.window, self.p.padding
        cells = pivot + self.g.border + self.g.core  # [A, K, 2], grid coordinates
        clear = ~occupied[cells[..., 0], cells[..., 1]].any(axis=1)
        ahead = pivot + self.g.ahead
        inside = ((ahead >= pad) & (ahead <= w - 1 - pad)).all(axis=1)
        return clear & inside

    def reserve(self, occupied: np.ndarray, pivot: np.ndarray, direction: int):
        cells = pivot + self.g.border + self.g.halo[direction]
        occupied[cells[:, 0], cells[:, 1]] = True

    def stroke(self, tail, head):
        s = self.s
        width = max(1, int(round(self.p.paddle_thickness * s)))
        self.draw.line([((tail[1] + 0.5) * s, (tail[0] + 0.5) * s), ((head[1] + 0.5) * s, (head[0] + 0.5) * s)],
                       fill=255, width=width)

    def marker(self, point):
        s, r = self.s, self.p.marker_radius * self.s
        cy, cx = (point[0] + 0.5) * s, (point[1] + 0.5) * s
        self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)

    def image(self) -> np.ndarray:
        big = np.asarray(self.ink, dtype=np.float32)
        w, s = self.p.window, self.s
        return np.round(big.reshape(w, s, w, s).mean(axis=(1, 3))).astype(np.uint8)


def _disc(radius: float) -> np.ndarray:
    r = int(math.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = yy**2 + xx**2 <= radius * radius
    return np.stack([yy[keep], xx[keep]], axis=1).astype(float)


def _grow_path(canvas: _Canvas, rng: np.random.Generator, num_paddles: int):
    """One path of `num_paddles` paddles, committed only if all fit; returns its two end points or None."""
    p, g = canvas.p, canvas.g
    own = canvas.occupied.copy()  # committed ink + this path's paddles except the latest
    pivot = rng.integers(p.padding, p.window - p.padding, size=2)
    free = canvas.free_directions(own, pivot)
    if not free.any():
        return None
    direction = int(rng.choice(np.flatnonzero(free)))
    paddles = [(pivot, direction)]
    for _ in range(num_paddles - 1):
        pivot = paddles[-1][0] + g.ahead[paddles[-1][1]]
        if len(paddles) > 1:
            canvas.reserve(own, *paddles[-2])
        turn = np.abs((g.angles - g.angles[direction] + math.pi) % (2 * math.pi) - math.pi)
        weights = np.cos(np.minimum(turn * p.continuity, math.pi / 2)) ** 2
        weights = weights * canvas.free_directions(own, pivot)
        if weights.sum() <= 1e-9:
            return None
        cumulative = np.cumsum(weights)
        direction = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        paddles.append((pivot, direction))
    for pivot, direction in paddles:
        canvas.reserve(canvas.occupied, pivot, direction)
        canvas.stroke(pivot, pivot + g.head[direction])
    return paddles[0][0], paddles[-1][0] + g.head[paddles[-1][1]]


def generate_image(params: PathfinderParams, label: int, seed: int, index: int) -> np.ndarray:
    """One image (uint8, window x window) of the given label; deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    geometry = _geometry(params)
    for _ in range(params.max_retries):
        canvas = _Canvas(params, geometry)
        first = _grow_path(canvas, rng, params.contour_length)
        second = _grow_path(canvas, rng, params.contour_length) if first else None
        if not (first and second):
            continue
        ends = (first[0], first[1]) if label == 1 else (first[int(rng.integers(2))], second[int(rng.integers(2))])
        if np.linalg.norm(np.subtract(ends[0], ends[1])) < params.seed_distance:
            continue
        for _ in range(params.num_distractors):
            for _ in range(10):
                if _grow_path(canvas, rng, params.distractor_length):
                    break
        canvas.marker(ends[0])
        canvas.marker(ends[1])
        return canvas.image()
    raise RuntimeError(f"could not place the paths of image {index} in {params.max_retries} tries")


@lru_cache(maxsize=8)
def _geometry(params: PathfinderParams) -> _Geometry:
    return _Geometry(params)

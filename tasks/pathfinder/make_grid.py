"""Redraw grid.png of the data card: positives (top) and negatives (bottom) of the generator.

Usage: .venv/bin/python tasks/pathfinder/make_grid.py  (32x32 hard and Path-X, seed 0, ~10 s)
"""

from pathlib import Path

import numpy as np
from PIL import Image

from lra_bench.data.pathfinder_generator import generate_image, preset


def grid(resolution: int, per_row: int, zoom: int) -> np.ndarray:
    """Two rows (label 1, label 0) of `per_row` images, one gray pixel between them, upscaled."""
    params = preset(resolution, 14)
    rows = []
    for label in (1, 0):
        images = [np.pad(generate_image(params, label, 0, 2 * i + label)[0], 1, constant_values=96)
                  for i in range(per_row)]
        rows.append(np.concatenate(images, axis=1))
    return np.kron(np.concatenate(rows, axis=0), np.ones((zoom, zoom), dtype=np.uint8))


if __name__ == "__main__":
    small, large = grid(32, 8, 3), grid(128, 2, 1)
    height = max(small.shape[0], large.shape[0])
    pad = [np.pad(g, ((0, height - g.shape[0]), (0, 4)), constant_values=255) for g in (small, large)]
    Image.fromarray(np.concatenate(pad, axis=1)).save(Path(__file__).with_name("grid.png"), optimize=True)

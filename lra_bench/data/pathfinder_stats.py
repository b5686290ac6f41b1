"""Image statistics of Pathfinder data, to compare generated images with the authors' (issue 18).

Everything here reads pixels only (no generator state), so the same numbers come from our images,
the authors' generator or the LRA release: the share of inked pixels, gray levels, the gray
histogram, the mean ink value, 8-connected ink components, and the distance between the two
markers (found as the two brightest spots after a gray erosion by a disc of the marker's size), with
per-statistic AUCs for the label: a statistic that predicts the label better than on the authors'
images is a shortcut a model could learn instead of connectivity.
"""

from __future__ import annotations

import numpy as np

HISTOGRAM_EDGES = (0, 1, 32, 64, 96, 128, 160, 192, 224, 255, 256)  # [0], [1,32), ..., [224,255), [255]
LABEL_CUES = ("ink_share", "mean_ink", "components", "gray_levels", "marker_distance")


def _shifted(stack: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """stack[:, y + dy, x + dx], `fill` outside."""
    out = np.full_like(stack, fill)
    h, w = stack.shape[1:]
    out[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        stack[:, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def count_components(ink: np.ndarray) -> np.ndarray:
    """8-connected components of each boolean image in `ink` [N, H, W]: min-label propagation with
    pointer jumping (labels are flat pixel indices), vectorised over the batch."""
    n, h, w = ink.shape
    big = n * h * w
    labels = np.where(ink, np.arange(big).reshape(n, h, w), big)
    while True:
        low = labels
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    low = np.minimum(low, _shifted(labels, dy, dx, big))
        low = np.where(ink, low, big)
        flat = np.append(low.reshape(-1), big)
        low = np.where(ink, flat[flat[low]], big)  # jump to the label's own label
        if np.array_equal(low, labels):
            break
        labels = low
    roots = labels == np.arange(big).reshape(n, h, w)
    return roots.sum(axis=(1, 2))


def find_markers(images: np.ndarray, marker_radius: float) -> np.ndarray:
    """The two marker centres per image [N, 2, 2] (y, x): maxima of the gray erosion by a disc of
    radius marker_radius - 0.5 (a marker fills it, a thinner paddle does not), the second at least
    2 * marker_radius from the first."""
    r = max(marker_radius - 0.5, 1.0)
    reach = int(np.floor(r))
    eroded = images.astype(np.int16)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx <= r * r:
                eroded = np.minimum(eroded, _shifted(images.astype(np.int16), dy, dx, 0))
    n, h, w = images.shape
    yy, xx = np.mgrid[:h, :w]
    # ties: prefer the pixel with more ink around it (the disc's centre rather than its rim)
    score = eroded.astype(np.float64) * 1e4 + images.astype(np.float64)
    out = np.zeros((n, 2, 2))
    for i in range(n):
        first = np.unravel_index(np.argmax(score[i]), (h, w))
        far = (yy - first[0]) ** 2 + (xx - first[1]) ** 2 >= (2 * marker_radius) ** 2
        second = np.unravel_index(np.argmax(np.where(far, score[i], -1)), (h, w))
        out[i] = (first, second)
    return out


def auc(score: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half (Mann-Whitney)."""
    score, labels = np.asarray(score, dtype=float), np.asarray(labels)
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score):  # average ranks of ties
        tied = score == value
        ranks[tied] = ranks[tied].mean()
    pos, neg = (labels == 1).sum(), (labels == 0).sum()
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def pathfinder_statistics(images: np.ndarray, labels: np.ndarray, marker_radius: float) -> dict:
    """The issue-18 statistics of uint8 images [N, H, W] with labels [N] (0/1)."""
    images, labels = np.asarray(images), np.asarray(labels)
    ink = images > 0
    ink_share = ink.mean(axis=(1, 2))
    mean_ink = np.array([img[m].mean() if m.any() else 0.0 for img, m in zip(images, ink)])
    gray_levels = np.array([len(np.unique(img)) for img in images])
    components = count_components(ink)
    markers = find_markers(images, marker_radius)
    distance = np.hypot(*(markers[:, 0] - markers[:, 1]).T)
    histogram = np.histogram(images, bins=HISTOGRAM_EDGES)[0] / images.size
    cues = {"ink_share": ink_share, "mean_ink": mean_ink, "components": components,
            "gray_levels": gray_levels, "marker_distance": distance}
    return {
        "images": len(images),
        "ink_share": (float(ink_share.mean()), float(ink_share.std())),
        "gray_levels": (float(gray_levels.mean()), int(gray_levels.min()), int(gray_levels.max())),
        "histogram": [float(x) for x in histogram],
        "mean_ink": float(images[ink].mean()),
        "components": (float(components.mean()), int(components.min()), int(components.max())),
        "marker_distance": (float(distance[labels == 1].mean()), float(distance[labels == 0].mean())),
        "auc": {name: auc(value, labels) for name, value in cues.items()},
    }


def statistics_line(stats: dict) -> str:
    """One line for `lra-bench prepare`: ink share, gray levels, marker distance by label."""
    worst = max(stats["auc"], key=lambda k: abs(stats["auc"][k] - 0.5))
    return (f"pathfinder statistics ({stats['images']} images): ink share {stats['ink_share'][0]:.3f} "
            f"(sd {stats['ink_share'][1]:.3f}), gray levels {stats['gray_levels'][0]:.0f} "
            f"({stats['gray_levels'][1]}-{stats['gray_levels'][2]}), mean ink {stats['mean_ink']:.1f}, "
            f"components {stats['components'][0]:.1f}, marker distance pos/neg "
            f"{stats['marker_distance'][0]:.1f}/{stats['marker_distance'][1]:.1f}, "
            f"strongest label cue {worst} AUC {stats['auc'][worst]:.3f}")

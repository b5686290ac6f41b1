"""Generated Pathfinder images against the authors' generator (issue 18; spec/tasks.md "Pathfinder").

Bands: drewlinsley/pathfinder at commit 7b53886 (`snakes2.py` `from_wrapper`, with `snakes.py`),
run with the LRA TFDS builder parameters (google-research/long-range-arena
`lra_benchmarks/data/pathfinder.py`, Pathfinder32 and Pathfinder128 docstrings) on top of
`snakes2_wrapper.Args` defaults and the wrapper script's `use_single_paddles = False`, with
scipy.misc's imresize/imsave byte semantics (what made the release; HEAD's NumPy-2 replacement keeps
float images). Measured with `pathfinder_statistics`: 600 hard 32x32 images (numpy/random seeds 1
and 2, 300 each) and 180 Path-X 128x128 images (seeds 1-3, 60 each). Each band is the authors'
value +- 4 standard errors of the difference between their sample and ours.
"""

import numpy as np
import pytest

from lra_bench.data.pathfinder_generator import generate_image, preset
from lra_bench.data.pathfinder_stats import (
    auc, count_components, find_markers, pathfinder_statistics, statistics_line,
)

# authors' 32x32 hard (curv_contour_length_14), 600 images
AUTHORS_32 = {
    "ink_share": 0.341, "gray_levels": 64.2, "mean_ink": 59.3, "components": 8.56, "marker_distance": 13.46,
    "histogram": [0.659, 0.196, 0.0192, 0.0194, 0.0210, 0.0393, 0.0269, 0.0125, 0.0045, 0.0022],
    "auc": {"ink_share": 0.495, "mean_ink": 0.488, "components": 0.498, "gray_levels": 0.481,
            "marker_distance": 0.538},
}
# per-image standard deviations in the authors' sample (for the bands)
AUTHORS_32_SD = {"ink_share": 0.040, "gray_levels": 7.3, "mean_ink": 4.1, "components": 3.4, "marker_distance": 5.0}
# authors' Path-X 128x128 hard, 180 images
AUTHORS_128 = {"ink_share": 0.1374, "gray_levels": 173.0, "mean_ink": 57.8, "components": 67.3}
AUTHORS_128_SD = {"ink_share": 0.0048, "gray_levels": 4.7, "mean_ink": 1.64, "components": 22.5}


def _generate(resolution, n, seed=2026):
    params = preset(resolution, 14)
    labels = np.arange(n) % 2
    images = np.stack([generate_image(params, int(label), seed, i)[0] for i, label in enumerate(labels)])
    return images, labels, params


def _band(name, ours, authors, sd, n_ours, n_authors):
    half = 4 * sd * np.sqrt(1 / n_ours + 1 / n_authors)
    assert abs(ours - authors) <= half, f"{name}: ours {ours:.4f}, authors' {authors} +- {half:.4f}"


def _check_against_authors(stats, n, auc_slack):
    for name in ("ink_share", "mean_ink", "components"):
        value = stats[name][0] if isinstance(stats[name], tuple) else stats[name]
        _band(name, value, AUTHORS_32[name], AUTHORS_32_SD[name], n, 600)
    _band("gray_levels", stats["gray_levels"][0], AUTHORS_32["gray_levels"], AUTHORS_32_SD["gray_levels"], n, 600)
    _band("marker_distance", np.mean(stats["marker_distance"]), AUTHORS_32["marker_distance"],
          AUTHORS_32_SD["marker_distance"], n, 600)
    assert np.abs(np.subtract(stats["histogram"], AUTHORS_32["histogram"])).sum() < 0.03
    # no simple statistic tells the label more than on the authors' images, up to sampling noise
    for name, value in stats["auc"].items():
        assert abs(value - 0.5) <= abs(AUTHORS_32["auc"][name] - 0.5) + auc_slack, f"{name}: AUC {value:.3f}"


def test_pathfinder32_matches_the_authors_statistics():
    """300 hard 32x32 images (~6 s): the look (ink share, gray levels, histogram, components) and
    no label cue beyond the authors' (AUC slack 3 standard errors at 300 images: 0.1)."""
    images, labels, params = _generate(32, 300)
    stats = pathfinder_statistics(images, labels, params.marker_radius)
    _check_against_authors(stats, 300, auc_slack=0.1)
    assert (images.max(axis=(1, 2)) == 255).all()  # byte-scaled like scipy.misc.imsave


@pytest.mark.slow
def test_pathfinder32_no_label_cue_on_2000_images():
    """2,000 images (~2 min): AUC slack 3 standard errors at 2,000 images plus the authors' own
    sampling error at 600 (0.04 + 0.07 ~ 0.08)."""
    images, labels, params = _generate(32, 2000, seed=7)
    stats = pathfinder_statistics(images, labels, params.marker_radius)
    _check_against_authors(stats, 2000, auc_slack=0.08)


def test_pathx_matches_the_authors_look():
    """6 Path-X images (~3 s): ink share, gray levels, mean ink and components in the authors' bands."""
    images, labels, params = _generate(128, 6)
    stats = pathfinder_statistics(images, labels, params.marker_radius)
    for name in ("ink_share", "gray_levels", "components"):
        _band(name, stats[name][0], AUTHORS_128[name], AUTHORS_128_SD[name], 6, 180)
    _band("mean_ink", stats["mean_ink"], AUTHORS_128["mean_ink"], AUTHORS_128_SD["mean_ink"], 6, 180)


def test_pathfinder_small_follows_the_same_procedure():
    """16x16 (ours, CPU smoke size): soft strokes (many gray levels), markers, both labels drawable."""
    params = preset(16, 4)
    images = np.stack([generate_image(params, i % 2, 0, i)[0] for i in range(40)])
    assert images.shape == (40, 16, 16) and (images.max(axis=(1, 2)) == 255).all()
    assert np.mean([len(np.unique(x)) for x in images]) > 20
    assert 0.2 < (images > 0).mean() < 0.6


def test_generation_is_deterministic_per_image():
    params = preset(32, 14)
    first, margin = generate_image(params, 1, 5, 17)
    again, _ = generate_image(params, 1, 5, 17)
    other, _ = generate_image(params, 1, 5, 18)
    assert margin == 1 and np.array_equal(first, again) and not np.array_equal(first, other)


def test_statistics_helpers():
    ink = np.zeros((1, 8, 8), bool)
    ink[0, 1, 1] = ink[0, 2, 2] = True  # diagonal neighbours: one 8-connected component
    ink[0, 6, 1:4] = True
    assert count_components(ink).tolist() == [2]
    image = np.zeros((1, 20, 20), np.uint8)
    yy, xx = np.mgrid[:20, :20]
    for y, x in ((4, 5), (15, 12)):
        image[0][(yy - y) ** 2 + (xx - x) ** 2 <= 4] = 200
    image[0, 10, :] = 255  # a one-pixel line, brighter than the markers: not a marker
    assert sorted(map(tuple, find_markers(image, 2.0)[0].astype(int))) == [(4, 5), (15, 12)]
    assert auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0 and auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    stats = pathfinder_statistics(np.repeat(image, 2, axis=0), np.array([0, 1]), 2.0)
    assert "ink share" in statistics_line(stats) and stats["marker_distance"][0] == pytest.approx(np.hypot(11, 7))


def test_prepare_prints_the_statistics_line(tmp_path, capsys):
    from lra_bench.cli import main

    assert main(["prepare", "task=pathfinder_small", "task.num_images=40", "task.images_per_file=20",
                 "task.workers=1", f"paths.data_dir={tmp_path}"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("pathfinder statistics (32 images): ink share") and "marker distance pos/neg" in line

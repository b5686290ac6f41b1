"""Every task loads fixtures in exactly the official formats through the code path real files take,
caches its tokens once, and reports missing or malformed data in one line."""

import numpy as np
import pytest
import torch

from fixtures import IMDB_TEXTS, write_aan_like, write_cifar_like, write_imdb_like, write_pathfinder_release
from lra_bench.data import load_task, task_schema
from lra_bench.data.pathfinder import PathfinderConfig
from lra_bench.errors import ConfigError, DataError


def config(family, **values):
    return task_schema(family)(family=family, **values)


def test_text_from_hub_layout(tmp_path):
    repo = write_imdb_like(tmp_path / "imdb")
    cfg = config("text", name="text", num_classes=2, max_len=64, hf_dataset=str(repo))
    data = load_task(cfg, str(tmp_path / "data"))
    assert len(data.train) == len(IMDB_TEXTS) and len(data.val) == len(data.test) == len(IMDB_TEXTS)
    first = IMDB_TEXTS[0].encode("utf-8")
    assert data.train.tokens[0, :len(first)].tolist() == [b + 1 for b in first]
    assert data.train.tokens[0, len(first):].eq(0).all()
    long = IMDB_TEXTS[2].encode("utf-8")[:64]  # truncated to max_len, multi-byte UTF-8 kept as bytes
    assert data.train.tokens[2].tolist() == [b + 1 for b in long]
    assert torch.equal(data.val.tokens, data.test.tokens), "official: validation = test for IMDB"
    assert data.train.labels.tolist() == [0, 1, 0, 1, 0, 1]


def test_text_missing_dataset_is_one_line(tmp_path):
    cfg = config("text", name="text", num_classes=2, max_len=64, hf_dataset=str(tmp_path / "no_such_copy"))
    with pytest.raises(DataError) as err:
        load_task(cfg, str(tmp_path / "data"))
    message = str(err.value)
    assert "\n" not in message and "no_such_copy" in message and "lra-bench prepare task=text" in message


def test_image_from_hub_layout(tmp_path):
    repo = write_cifar_like(tmp_path / "cifar")
    cfg = config("image", name="image", num_classes=10, max_len=1024, hf_dataset=str(repo))
    data = load_task(cfg, str(tmp_path / "data"))
    assert (len(data.train), len(data.val), len(data.test)) == (18, 2, 10)  # train[:90%] / train[90%:] / test
    assert data.train.tokens.shape == (18, 1024)
    red = round(0.2989 * 255)  # luminance of pure red, + 1 for the padding offset
    assert data.train.tokens[0].eq(red + 1).all()
    assert data.train.tokens.min() >= 1 and data.train.tokens.max() <= 256


def test_retrieval_from_release_tsvs(tmp_path):
    write_aan_like(tmp_path / "lra_release" / "tsv_data")
    cfg = config("retrieval", name="retrieval", num_classes=2, max_len=16, release_dir=str(tmp_path / "lra_release"))
    data = load_task(cfg, str(tmp_path / "data"))
    assert data.train.tokens.shape == (6, 2, 16) and len(data.val) == 3 and len(data.test) == 3
    assert data.train.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert data.train.tokens[1, 1, :5].tolist() == [b + 1 for b in b"Cited"]


def test_retrieval_malformed_and_missing(tmp_path):
    folder = write_aan_like(tmp_path / "tsv_data")
    (folder / "new_aan_pairs.train.tsv").write_text("label\tid1\tid2\ttext1\ttext2\n")  # a header is not official
    cfg = config("retrieval", name="retrieval", num_classes=2, max_len=16, release_dir=str(folder))
    with pytest.raises(DataError, match=r"new_aan_pairs.train.tsv:1: expected 5 tab-separated columns"):
        load_task(cfg, str(tmp_path / "data"))
    cfg = config("retrieval", name="retrieval", num_classes=2, max_len=16, release_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere: new_aan_pairs.train.tsv not found.*lra_release"):
        load_task(cfg, str(tmp_path / "data"))


@pytest.mark.parametrize("binary", [False, True])
def test_pathfinder_release_layout_text_and_binary_metadata(tmp_path, binary):
    root = tmp_path / "lra_release" / "lra_release"  # as the archive unpacks
    write_pathfinder_release(root / "pathfinder32" / "curv_contour_length_14", n=20, binary_metadata=binary,
                             empty_image=3)
    cfg = config("pathfinder", name="pathfinder", num_classes=2, max_len=1024, source="release",
                 release_dir=str(tmp_path / "lra_release"), max_dropped_fraction=0.1)  # 1 in 20; the release: 1 in 200k
    data = load_task(cfg, str(tmp_path / "data"))
    # 20 rows, one empty image skipped (as the release's sample_172.png): 16 / 2 / 2 before the skip
    assert len(data.train) + len(data.val) + len(data.test) == 19
    assert data.train.tokens.shape[1] == 1024 and data.train.tokens.min() >= 1
    assert data.train.labels.tolist()[:3] == [0, 1, 0]  # row 3 (label 1) was the empty image
    assert data.train.labels.tolist()[3] == 0


def test_pathfinder_missing_release_says_where(tmp_path):
    cfg = config("pathfinder", name="pathfinder", num_classes=2, max_len=1024, source="release",
                 release_dir=str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"nope: no Pathfinder release found \(looked for pathfinder32/"
                                        r"curv_contour_length_14/metadata"):
        load_task(cfg, str(tmp_path / "data"))


def test_pathfinder_config_checks():
    with pytest.raises(ConfigError, match="task.max_len: must be resolution"):
        PathfinderConfig(name="p", family="pathfinder", num_classes=2, max_len=100)
    with pytest.raises(ConfigError, match="task.difficulty"):
        PathfinderConfig(name="p", family="pathfinder", num_classes=2, max_len=1024, difficulty="hard")


def test_generated_pathfinder_has_the_official_statistics(tmp_path):
    """A few hundred generated images through the loader: exact class balance, size, value range
    (byte-scaled: the brightest pixel is 255), the release's metadata rows, and the same amount of
    ink in both classes."""
    cfg = config("pathfinder", name="p", num_classes=2, max_len=1024, difficulty="curv_baseline", num_images=320,
                 images_per_file=80, workers=2)
    data = load_task(cfg, str(tmp_path))
    tokens = torch.cat([data.train.tokens, data.val.tokens, data.test.tokens]).numpy().astype(int) - 1
    labels = torch.cat([data.train.labels, data.val.labels, data.test.labels]).numpy()
    assert tokens.shape == (320, 1024) and labels.mean() == 0.5
    assert tokens.min() == 0 and tokens.max() == 255
    images = tokens.reshape(-1, 32, 32)
    ink = images.mean(axis=(1, 2))
    assert abs(ink[labels == 1].mean() - ink[labels == 0].mean()) < 0.05 * ink.mean()
    assert 0.03 < (images > 0).mean() < 0.4  # sparse strokes on a black background
    folder = next((tmp_path / "pathfinder" / "data").glob("generated-*/pathfinder32/curv_baseline"))
    rows = (folder / "metadata" / "0.npy").read_text().splitlines()
    fields = rows[0].split()
    assert len(rows) == 80 and len(fields) == 11 and fields[0] == "imgs/0" and fields[5] == "6"  # contour length
    assert fields[9] == "1"  # the paddle margin drawn for this image (32x32: always 1)
    # the authors' marker and path look is checked in tests/test_pathfinder_generator.py


def test_prepare_caches_tokens_once(tmp_path, monkeypatch):
    from lra_bench.data import listops

    cfg = config("listops", name="l", num_classes=10, max_len=32, num_train=20, num_val=5, num_test=5,
                 min_length=5, max_length=32, max_depth=4, max_args=3)
    first = load_task(cfg, str(tmp_path))
    monkeypatch.setattr(listops, "tokenize", lambda s: (_ for _ in ()).throw(AssertionError("re-tokenized")))
    second = load_task(cfg, str(tmp_path))
    assert torch.equal(first.train.tokens, second.train.tokens)
    assert isinstance(np.load(next(tmp_path.glob("listops/data/cache-*/train_tokens.npy")), mmap_mode="r"), np.memmap)


def test_parallel_jobs_preparing_the_same_task_do_not_collide(tmp_path):
    """Jobs of a parallel sweep generate and cache the same preset at once (a race seen in CI)."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = config("listops", name="l", num_classes=10, max_len=32, num_train=200, num_val=20, num_test=20,
                 min_length=5, max_length=32, max_depth=4, max_args=3)
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: load_task(cfg, str(tmp_path)), range(4)))
    assert all(torch.equal(d.train.tokens, loaded[0].train.tokens) for d in loaded)
    leftovers = [p.name for p in (tmp_path / "listops" / "data").rglob("*") if "partial" in p.name or
                 p.suffix == ".tmp"]
    assert not leftovers, leftovers

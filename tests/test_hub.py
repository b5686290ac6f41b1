"""Hugging Face tasks offline: a miss fails fast with the accepted local copies; each kind of local copy loads."""

import time

import pytest

from fixtures import write_imdb_like
from lra_bench.data.hub import load_hf_splits
from lra_bench.errors import DataError


def test_offline_miss_fails_fast_and_names_the_local_copies(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(DataError) as err:
        load_hf_splits("nobody/not-a-cached-dataset", tmp_path / "hf", "text", ("text", "label"))
    assert time.monotonic() - started < 20, "no network retries"
    message = str(err.value)
    assert "\n" not in message and "save_to_disk" in message and "parquet" in message
    assert "lra-bench prepare task=text" in message


def test_unreachable_hub_is_offline_without_the_variables(monkeypatch):
    from lra_bench.data import hub

    for variable in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    assert hub.hub_offline()


@pytest.mark.parametrize("kind", ["parquet", "save_to_disk"])
def test_local_copies_load(tmp_path, kind):
    import datasets

    folder = write_imdb_like(tmp_path / "imdb")
    if kind == "save_to_disk":
        loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "c"))
        folder = tmp_path / "saved"
        loaded.save_to_disk(str(folder))
    splits = load_hf_splits(str(folder), tmp_path / "hf", "text", ("text", "label"))
    assert len(splits["train"]) == 6 and len(splits["test"]) == 6

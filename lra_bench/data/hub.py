"""Loading a Hugging Face dataset by name or from a local copy, with one-line errors when offline.

Offline, the hub is not retried for half a minute: with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, or the
hub's host unreachable (a 3 s connection probe), only Hugging Face's own cache is read, and a miss is one
line that says which local copies are accepted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import DataError

LOCAL_COPIES = ("a `datasets` save_to_disk folder (dataset_dict.json with train/ and test/), a folder of "
                "parquet files (the hub repository's layout, e.g. plain_text/train-00000-of-00001.parquet and "
                "plain_text/test-*.parquet), or any folder `datasets.load_dataset` reads")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_offline() -> bool:
    """Whether the hub must not be asked: offline variables set, or its host unreachable within 3 s."""
    if any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARIABLES):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=3).close()
        return False
    except OSError:
        return True


def _load(name: str, cache_dir: Path):
    import datasets

    local = Path(name).expanduser()
    if (local / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(local))
    if local.is_dir():
        return datasets.load_dataset(str(local), cache_dir=str(cache_dir))
    if hub_offline():
        for variable in OFFLINE_VARIABLES:  # read the cache only, no retries (read when datasets is imported,
            os.environ[variable] = "1"      # and by the flags below when it already was)
        datasets.config.HF_DATASETS_OFFLINE = True
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True
    return datasets.load_dataset(name, cache_dir=str(cache_dir))


def load_hf_splits(name: str, cache_dir: Path, task: str, columns: tuple[str, ...]) -> dict:
    """`datasets.load_dataset(name)` (a hub name, or a local copy: see LOCAL_COPIES), checked to hold
    `train` and `test` splits with `columns`."""
    try:
        loaded = _load(name, cache_dir)
    except Exception as err:  # noqa: BLE001 - hub, network and file errors all mean "not available here"
        first = " ".join(str(err).split())[:160]
        raise DataError(f"task {task}: could not load Hugging Face dataset '{name}' ({type(err).__name__}: {first}); "
                        f"on a machine with internet run `lra-bench prepare task={task}` (it caches under "
                        f"{cache_dir}), or set task.hf_dataset=/path/to/a/local/copy: {LOCAL_COPIES}") from None
    splits = dict(loaded)
    for needed in ("train", "test"):
        if needed not in splits:
            raise DataError(f"{name}: no '{needed}' split (found {', '.join(splits)}); expected train and test")
        if not set(columns) <= set(splits[needed].column_names):
            raise DataError(f"{name}[{needed}]: expected columns {', '.join(columns)}; got "
                            f"{', '.join(splits[needed].column_names)}")
    return splits

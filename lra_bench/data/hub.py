"""Loading a Hugging Face dataset by name or from a local copy, with one-line errors when offline."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def load_hf_splits(name: str, cache_dir: Path, task: str, columns: tuple[str, ...]) -> dict:
    """`datasets.load_dataset(name)` (a hub name, or a local folder with the same layout), checked to
    hold `train` and `test` splits with `columns`."""
    import datasets

    try:
        loaded = datasets.load_dataset(name, cache_dir=str(cache_dir))
    except Exception as err:  # noqa: BLE001 - hub, network and file errors all mean "not available here"
        first = " ".join(str(err).split())[:160]
        raise DataError(f"task {task}: could not load Hugging Face dataset '{name}' ({type(err).__name__}: {first}); "
                        f"on a machine with internet run `lra-bench prepare task={task}` (it caches under "
                        f"{cache_dir}), or set task.hf_dataset=/path/to/a/local/copy") from None
    splits = dict(loaded)
    for needed in ("train", "test"):
        if needed not in splits:
            raise DataError(f"{name}: no '{needed}' split (found {', '.join(splits)}); expected train and test")
        if not set(columns) <= set(splits[needed].column_names):
            raise DataError(f"{name}[{needed}]: expected columns {', '.join(columns)}; got "
                            f"{', '.join(splits[needed].column_names)}")
    return splits

"""The rows of the README's "Bad input" table that issue 20 added: each gives one line naming the key
or file and what was expected, never a traceback or silence (the older rows: test_cli.py,
test_tasks.py, test_resilience.py)."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fixtures import write_aan_like, write_pathfinder_release
from lra_bench.cli import main
from lra_bench.data import load_task, task_schema
from lra_bench.data.listops import generate_examples, write_tsv
from lra_bench.errors import DataError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("override, expected", [
    ("model.num_heads=0", "model.num_heads: expected a positive integer, got 0"),
    ("model.dim=0", "model.dim: expected a positive integer, got 0"),
    ("model.depth=-1", "model.depth: expected a positive integer, got -1"),
    ("trainer.checkpoint_every=-1", "trainer.checkpoint_every: expected 0 (= eval_every) or a positive integer, got -1"),
    ("model.dropout=1.5", "model.dropout: expected a probability in [0, 1), got 1.5"),
    ("trainer.lr=-1", "trainer.lr: expected a positive learning rate, got -1.0"),
])
def test_out_of_range_values_name_the_key(workspace, capsys, override, expected):
    assert main(["train", *workspace.overrides(override)]) == 2
    assert _one_line(capsys) == f"lra-bench: error: {expected}"
    assert not workspace.records()


def config(family, **values):
    return task_schema(family)(family=family, **values)


def test_invalid_utf8_in_a_listops_tsv_names_the_file(tmp_path):
    write_tsv(tmp_path / "basic_train.tsv", generate_examples(4, 4, 20, 3, 3, seed=0, workers=1))
    (tmp_path / "basic_val.tsv").write_bytes(b"Source\tTarget\n[MAX 1 \xff ]\t1\n")
    (tmp_path / "basic_test.tsv").write_bytes((tmp_path / "basic_train.tsv").read_bytes())
    cfg = config("listops", name="listops", num_classes=10, max_len=32, source="release", release_dir=str(tmp_path))
    with pytest.raises(DataError, match=rf"^{tmp_path}/basic_val.tsv: not UTF-8 text \(byte 0xff at offset 21\)"):
        load_task(cfg, str(tmp_path / "data"))


def test_invalid_utf8_in_a_retrieval_tsv_names_the_file(tmp_path):
    folder = write_aan_like(tmp_path / "tsv_data")
    (folder / "new_aan_pairs.eval.tsv").write_bytes(b"1.0\ta\tb\tbad \xc3\x28 byte\tfine\n")
    cfg = config("retrieval", name="retrieval", num_classes=2, max_len=32, release_dir=str(tmp_path))
    with pytest.raises(DataError, match=rf"^{folder}/new_aan_pairs.eval.tsv: not UTF-8 text"):
        load_task(cfg, str(tmp_path / "data"))


def _pathfinder(tmp_path, metadata: bytes | None, also_empty_others=False):
    level = write_pathfinder_release(tmp_path / "lra" / "pathfinder32" / "curv_contour_length_14", n=8)
    if metadata is not None:
        (level / "metadata" / "0.npy").write_bytes(metadata)
    cfg = config("pathfinder", name="pathfinder", num_classes=2, max_len=1024, source="release",
                 release_dir=str(tmp_path / "lra"))
    return level / "metadata" / "0.npy", cfg


def _npy(array, **kw) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize("metadata, expected", [
    (_npy(np.array([["imgs/0", "sample_0.png", "0", "1"]] * 50))[:-40], "unreadable NumPy metadata (EOF"),
    (_npy(np.array([{"payload": 1}], dtype=object), allow_pickle=True), "unreadable NumPy metadata (Object arrays"),
])
def test_truncated_or_pickled_metadata_names_the_file(tmp_path, metadata, expected):
    path, cfg = _pathfinder(tmp_path, metadata)
    with pytest.raises(DataError) as err:
        load_task(cfg, str(tmp_path / "data"))
    assert str(err.value).startswith(f"{path}: {expected}") and "no pickles" in str(err.value)


def test_all_metadata_files_empty_says_so(tmp_path):
    path, cfg = _pathfinder(tmp_path, b"")
    with pytest.raises(DataError, match=rf"^{path.parent}: every metadata file is empty; expected one row per image"):
        load_task(cfg, str(tmp_path / "data"))


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "lra_bench.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_a_plugin_with_a_syntax_error_or_a_missing_include_path_is_skipped_in_one_line(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "bad.py").write_text("def broken(:\n")
    (tmp_path / "plugins" / "good.py").write_text(
        "from lra_bench.attention.softmax import SoftmaxAttention\n"
        "from lra_bench.attention import register_attention\n"
        "@register_attention('good_plugin')\nclass GoodPlugin(SoftmaxAttention):\n    pass\n")
    listing = _cli("ls", "attentions", env={"LRA_BENCH_INCLUDE": f"{tmp_path / 'plugins'}:{tmp_path / 'nowhere'}"})
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert listing.stderr.splitlines() == [
        f"lra-bench: warning: LRA_BENCH_INCLUDE: {tmp_path}/plugins/bad.py:1: SyntaxError: invalid syntax; plugin skipped",
        f"lra-bench: warning: LRA_BENCH_INCLUDE: {tmp_path}/nowhere: no such file or folder; skipped"]
    assert "good_plugin" in listing.stdout and "softmax" in listing.stdout


def test_a_full_disk_while_checkpointing_is_one_line_naming_the_file(workspace, monkeypatch, capsys):
    def full_disk(obj, fh):
        fh.write(b"PK\x03\x04")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs 4048")

    monkeypatch.setattr(torch, "save", full_disk)
    assert main(["train", *workspace.overrides(f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 1
    err = _one_line(capsys)
    (record,) = workspace.records()
    assert record["status"] == "failed"
    assert record["error"].startswith(f"{workspace.root / 'ckpt'}/") and ".pt: could not write the checkpoint" in record["error"]
    assert "is the disk full?" in err
    assert not list((workspace.root / "ckpt").rglob("*.tmp")), "a torn temporary file was left behind"


def test_importing_the_attention_package_with_a_missing_include_path_skips_it_in_one_named_line(tmp_path):
    """From Python (no CLI screening), a missing LRA_BENCH_INCLUDE path is one warning naming it, not a
    traceback and not an internal AttributeError; the built-in variants still load."""
    code = "import lra_bench.attention as a; print(len(a.list_attentions()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "LRA_BENCH_INCLUDE": str(tmp_path / "nowhere")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.splitlines() == [f"lra-bench: warning: skipped plugin (LRA_BENCH_INCLUDE {tmp_path}/nowhere): "
                                        "FileNotFoundError: no such file or folder"]
    assert int(done.stdout) >= 21


def test_report_refuses_a_reference_it_would_not_read(tmp_path, capsys):
    from lra_bench.cli import main

    other = tmp_path / "my_numbers.csv"  # the report reads reference.csv by name: another name was passed over
    other.write_text("attention,task,accuracy\n")
    assert main(["report", "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--reference", str(other)]) == 2
    error = capsys.readouterr().err
    assert f"report --reference {other}: expected an existing file named reference.csv" in error
    assert main(["report", "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--reference", str(tmp_path / "reference.csv")]) == 2  # absent
    assert not (tmp_path / "out").exists()  # refused before anything was written

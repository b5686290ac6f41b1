"""Bad input gets one line naming what was wrong and what was expected (README, "Bad input")."""

import pytest

from lra_bench.cli import main
from lra_bench.sweep import sweep_overrides


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("override, expected", [
    ("attention=softmaxx", "attention=softmaxx: unknown attention; available: bigbird, combiner, combiner_axial"),
    ("task=listopz", "task=listopz: unknown task; available: image, listops, listops_small, pathfinder, "
                     "pathfinder_small, pathx, recall_small, retrieval, text (did you mean 'listops'?)"),
    ("model=huge", "model=huge: unknown model; available:"),
    ("trainer.max_steps=abc", "trainer.max_steps: expected int, got 'abc'"),
    ("trainer.lr=fast", "trainer.lr: expected float, got 'fast'"),
    ("trainer.max_stepz=5", "trainer.max_stepz: unknown key; expected one of max_steps"),
    ("+trainer.max_stepz=5", "trainer.max_stepz: unknown key; expected one of max_steps"),
    ("trainer.schedule=cosin", "trainer.schedule: expected one of cosine, linear, rsqrt, constant, got 'cosin'"),
    ("model.causal=maybe", "model.causal: expected bool, got 'maybe'"),
    ("attention.epz=1", "attention.epz: unknown key"),
    ("attention=linear attention.eps=tiny", "attention.eps: expected float, got 'tiny'"),
])
def test_bad_config_is_one_line_naming_the_key(workspace, capsys, override, expected):
    code = main(["train", *workspace.overrides(*override.split())])
    assert code == 2
    assert expected in _error_line(capsys)
    assert not workspace.records(), "nothing may run on a bad config"


def test_bad_value_in_a_sweep_list_is_caught_before_any_run(workspace, capsys):
    assert main(["train", "-m", *workspace.overrides("attention=softmax,nope")]) == 2
    assert "attention=nope: unknown attention" in _error_line(capsys)
    assert not workspace.records()


def test_missing_data_file_is_one_line_with_where_and_how(workspace, capsys, tmp_path):
    code = main(["train", *workspace.overrides("task.source=release", f"task.release_dir={tmp_path}/lra")])
    assert code == 1
    err = _error_line(capsys)
    assert f"{tmp_path}/lra/basic_train.tsv: ListOps file not found" in err and "lra_release" in err
    (record,) = workspace.records()
    assert record["status"] == "failed" and "basic_train.tsv" in record["error"]


def test_malformed_data_file_is_one_line(workspace, capsys, tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / f"basic_{split}.tsv").write_text("Source,Target\n( [MAX 1 2 ] ),2\n")
    code = main(["train", *workspace.overrides("task.source=release", f"task.release_dir={tmp_path}")])
    assert code == 1
    assert "basic_train.tsv:1: expected header 'Source\\tTarget', got 'Source,Target'" in _error_line(capsys)


def test_unknown_command_and_sweep_preset(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in _error_line(capsys) 
    assert main(["sweep", "sweep=nightly"]) == 2
    assert "sweep=nightly: unknown sweep preset; available: cpu_default" in _error_line(capsys)


def test_sweep_grid_covers_every_registered_attention_and_user_overrides_win():
    from lra_bench.attention import get_attention_class, list_attentions

    runs = sweep_overrides([])
    assert [run[0] for run in runs] == ["task=listops_small", "task=recall_small"]
    noncausal = [n for n in list_attentions() if get_attention_class(n).supports_noncausal]
    assert f"attention={','.join(noncausal)}" in runs[0]
    assert "combiner_mixture" not in ",".join(runs[0]) and "combiner_mixture" in ",".join(runs[1])
    causal = [n for n in list_attentions() if get_attention_class(n).supports_causal]
    assert f"attention={','.join(causal)}" in runs[1] and "model=small_causal" in runs[1]
    assert "linformer" not in ",".join(runs[1]) and not any(o.startswith("attentions=") for o in runs[1])
    assert "trainer.max_steps=150" in runs[1] and "trainer.max_steps=150" not in runs[0]
    (run,) = sweep_overrides(["task=listops_small", "attention=linear", "trainer.max_steps=5"])
    assert "attention=linear" in run and not any(g.startswith("attention=") and "," in g for g in run)
    assert run[-1] == "trainer.max_steps=5"


def test_ls_lists_registry_with_wildcards(capsys):
    assert main(["ls", "attentions", "lin*"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == ["linear", "linformer"] and "tasks" not in out


def test_bad_override_syntax_is_one_line(workspace, capsys):
    assert main(["train", *workspace.overrides("trainer.max_steps=[1,"), ]) == 2
    assert "bad override syntax" in _error_line(capsys)


def test_bench_bad_lengths_is_one_line(capsys):
    assert main(["bench", "--lengths", "1k,2k"]) == 2
    assert "--lengths: expected comma-separated integers, got '1k,2k'" in _error_line(capsys)


def test_batch_larger_than_the_data_is_a_failed_run_with_one_line(workspace, capsys):
    assert main(["train", *workspace.overrides("trainer.batch_size=1024")]) == 1
    assert "trainer.batch_size=1024 is larger than the training split (256 examples)" in _error_line(capsys)

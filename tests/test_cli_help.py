"""Help on every command, `--version`, `ls` without torch, Hydra's own flags passed through (issue 21)."""

import logging
import subprocess
import sys

import pytest

from lra_bench.cli import COMMANDS, main
from lra_bench.hydra_flags import split_hydra_flags, strip_subcommand_from_completion_line


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help_with_examples(capsys, command, flag):
    assert main([command, flag]) == 0
    out = capsys.readouterr().out
    assert f"lra-bench {command}" in out and "examples:" in out
    assert all(line.strip().startswith("lra-bench") or line.strip().startswith(("pytest", "#"))
               for line in out.split("examples:")[1].strip().splitlines()), "every example is a command line"


def test_version_and_top_level_help(capsys):
    from lra_bench import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lra-bench {__version__}"
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS) and "--version" in out


def test_quick_commands_never_import_torch():
    """`ls`, `-h` and `--version` answer in a fraction of a second because torch is not imported."""
    code = ("import sys; from lra_bench.cli import main\n"
            "for argv in (['ls'], ['-h'], ['--version'], ['train', '-h'], ['sweep', '-h'], ['report', '-h']):\n"
            "    try: main(argv)\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in ('torch', 'hydra', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_ls_alone_lists_attentions_with_forms_and_paper_and_tasks_with_length_source_state(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "non-causal, causal, step" in rows["softmax"] and "Vaswani et al. 2017" in rows["softmax"]
    assert "non-causal" in rows["linformer"] and "causal" not in rows["linformer"].replace("non-causal", "")
    assert rows["combiner_mixture"].split()[1:2] == ["causal"]
    assert rows["listops_small"].split()[1:3] == ["128", "generate"] and "no" in rows["listops_small"]
    assert "hf:stanfordnlp/imdb" in rows["text"] and "4096" in rows["text"]


def test_catalog_read_from_source_equals_the_imported_registry():
    from lra_bench.attention import get_attention_class, list_attentions
    from lra_bench.catalog import FORM_FLAGS, builtin_variants

    listed = {v.name: v.forms for v in builtin_variants()}
    assert list(listed) == list_attentions()
    for name, forms in listed.items():
        cls = get_attention_class(name)
        assert forms == [form for form, flag in FORM_FLAGS.items() if getattr(cls, flag)], name


def test_train_help_lists_groups_but_not_the_sweep_presets(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    groups = [line.split(":")[0].strip() for line in out.split("config groups")[1].split("examples:")[0].splitlines()
              if line.startswith("  ")]
    assert {"attention", "task", "model", "trainer", "experiment"} <= set(groups) and "sweep" not in groups


@pytest.mark.parametrize("args, flags, overrides", [
    (["-c", "job", "attention=linear"], ["-c", "job"], ["attention=linear"]),
    (["-i", "defaults-tree"], ["-i", "defaults-tree"], []),
    (["-i", "task=text"], ["-i"], ["task=text"]),
    (["-sc", "install=bash"], ["-sc"], ["install=bash"]),
    (["--cfg", "hydra", "-p", "task", "seed=1"], ["--cfg", "hydra", "-p", "task"], ["seed=1"]),
    (["--cfg=job", "seed=1"], ["--cfg=job"], ["seed=1"]),
])
def test_hydra_flags_are_told_apart_from_overrides(args, flags, overrides):
    assert split_hydra_flags(args) == (flags, overrides)


def test_hydra_flags_pass_through_the_override_check(capsys):
    assert main(["train", "-c", "job", "attention=linear"]) == 0
    assert "name: linear" in capsys.readouterr().out
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:  # --info sets up Hydra's logging on the (captured) stdout: put the root logger back afterwards
        assert main(["train", "-i", "defaults-tree"]) == 0
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    assert "Defaults Tree" in capsys.readouterr().out
    assert main(["train", "-sc", "install=bash"]) == 0
    assert "hydra_bash_completion" in capsys.readouterr().out
    assert main(["train", "--cfg", "job", "attention=bogus"]) == 2, "overrides beside a flag are still checked"
    assert "attention=bogus: unknown attention" in capsys.readouterr().err


def test_completion_line_loses_the_subcommand():
    env = {"COMP_LINE": "lra-bench train attention=lin", "COMP_POINT": "29"}
    strip_subcommand_from_completion_line(env)
    assert env == {"COMP_LINE": "lra-bench attention=lin", "COMP_POINT": "23"}


def test_missing_launcher_plugin_is_one_line_with_the_install_hint(capsys):
    assert main(["train", "hydra/launcher=ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install hydra-ray-launcher" in err and "joblib" in err


def test_smoke_preset_covers_every_variant_and_every_default_task_in_its_own_store():
    from omegaconf import OmegaConf

    from lra_bench.attention import get_attention_class, list_attentions
    from lra_bench.sweep import sweep_overrides
    from lra_bench.config import CONF_DIR

    runs = sweep_overrides(["sweep=smoke"])
    default_tasks = list(OmegaConf.load(CONF_DIR / "sweep" / "cpu_default.yaml").tasks)
    assert {f"task={t}" for t in default_tasks} | {"task=pathfinder_small"} <= {run[0] for run in runs}
    covered = {name for run in runs for o in run if o.startswith("attention=") for name in o[10:].split(",")}
    assert covered == set(list_attentions())
    for run in runs:
        grid = next(o for o in run if o.startswith("attention=")).removeprefix("attention=").split(",")
        causal = "model=small_causal" in run
        assert all(get_attention_class(n).has_form(causal) for n in grid)
        assert "paths.store_dir=${paths.root}/results/smoke_runs" in run and "trainer.max_steps=4" in run

"""Help text of every `lra-bench` command: usage and examples, printed without importing torch or Hydra.

`lra-bench train -h` lists the config groups a run composes (read from the config folders and the
variant catalogue); the `sweep` presets are `lra-bench sweep`'s, so they are not listed there.
"""

from __future__ import annotations

USAGE = {
    "train": "usage: lra-bench train [-m] [HYDRA FLAGS] [overrides]\n\n"
             "One run (or, with -m, a Hydra multirun over comma-separated values). Overrides are checked\n"
             "before Hydra starts; Hydra's own flags pass through: --cfg/-c job|hydra|all, --info/-i\n"
             "[defaults-tree|searchpath|plugins|...], -sc install=bash (tab completion), --hydra-help.",
    "sweep": "usage: lra-bench sweep [sweep=PRESET] [overrides]\n\n"
             "Every registered attention on the preset's tasks (conf/sweep/<PRESET>.yaml; default\n"
             "cpu_default), all as ONE Hydra multirun (one job array under submitit); overrides given here\n"
             "win over the preset's. Completed runs are skipped when started again (rerun=true trains them\n"
             "anew). Exit status 1 when any run did not finish ok.",
    "prepare": "usage: lra-bench prepare task=NAME [overrides]\n\n"
               "Generate, or read and check, a task's data once and cache it; prints each split's size,\n"
               "lengths and majority rate. Data lives under paths.data_dir (default: ./tasks).",
    "new-attention": "usage: lra-bench new-attention NAME [--dir FOLDER]\n\n"
                     "Write lra_bench/attention/NAME.py and lra_bench/conf/attention/NAME.yaml (with --dir:\n"
                     "FOLDER/NAME.py and FOLDER/conf/attention/NAME.yaml, outside the package, enabled with\n"
                     "LRA_BENCH_INCLUDE=FOLDER): plain scaled dot-product attention with a `temperature`\n"
                     "hyperparameter that already passes the conformance suite; replace its forward.",
    "check": "usage: lra-bench check attention=NAME[,NAME...] [--slow]\n\n"
             "Run the conformance suite (lra_bench/conformance.py) on a registered variant, built-in or from a\n"
             "plugin, in every form it declares; print a Markdown table (check, result, detail) to paste into a\n"
             "paper's appendix. Exit status 1 if a check fails. --slow adds torch.compile against eager.",
}

EXAMPLES = {
    "train": "examples:\n"
             "  lra-bench train task=listops_small attention=linear trainer.max_steps=200\n"
             "  lra-bench train -m attention=softmax,performer seed=0,1\n"
             "  lra-bench train experiment=lra/listops attention=lln     # a published recipe\n"
             "  lra-bench train attention=latte --cfg job                # print the composed config\n"
             "  lra-bench train -i defaults-tree                         # how the config was composed\n"
             "  lra-bench train -sc install=bash                         # tab completion",
    "sweep": "examples:\n"
             "  lra-bench sweep                                  # every variant x the CPU tasks (~8 min)\n"
             "  lra-bench sweep task=listops_small trainer.max_steps=50\n"
             "  lra-bench sweep attention=softmax,linear seed=0,1,2\n"
             "  lra-bench sweep sweep=lra_full                   # the published LRA recipes (GPU)",
    "report": "examples:\n"
              "  lra-bench report                                 # results/leaderboard.md and plots\n"
              "  lra-bench report --store results/runs --out /tmp/report --reference ''",
    "prepare": "examples:\n"
               "  lra-bench prepare task=listops_small\n"
               "  lra-bench prepare task=pathfinder_small\n"
               "  lra-bench prepare task=text paths.data_dir=/data/lra",
    "sync": "examples:\n"
            "  lra-bench sync --dry-run         # list the offline W&B runs under outputs/ and multirun/\n"
            "  lra-bench sync outputs/sweeps    # upload those",
    "ls": "examples:\n"
          "  lra-bench ls                    # attentions and tasks\n"
          "  lra-bench ls attentions 'lln*'  # forms (non-causal, causal, step) and paper\n"
          "  lra-bench ls tasks              # length, source, whether the data is prepared\n"
          "  lra-bench ls runs               # run records; `stale` for a running record whose owner is gone",
    "new-attention": "examples:\n"
                     "  lra-bench new-attention my_attn\n"
                     "  lra-bench new-attention my_attn --dir ~/my_variants  # outside the package (pip install)\n"
                     "  lra-bench check attention=my_attn && lra-bench train attention=my_attn",
    "check": "examples:\n"
             "  lra-bench check attention=my_attn\n"
             "  lra-bench check attention=softmax,linear > conformance.md",
    "bench": "examples:\n"
             "  lra-bench bench                                   # every variant, 256..2048 tokens on CPU\n"
             "  lra-bench bench --attentions softmax,linear --lengths 512,1024\n"
             "  lra-bench bench --causal --decode                 # recurrent decoding\n"
             "  lra-bench bench --model listops --steps 5         # whole training steps",
    "diagnose": "examples:\n"
                "  lra-bench diagnose                               # every variant at initialisation\n"
                "  lra-bench diagnose --attentions softmax,lln task=listops_small\n"
                "  lra-bench diagnose --trained                     # each variant's latest finished run",
}

HIDDEN_GROUPS = ("hydra", "sweep")  # Hydra's own; `lra-bench sweep`'s presets
GENERATED = {"trainer": ["default"], "model": ["default"]}  # nodes compose.py generates from dataclasses


def print_train_help():
    """Usage, the config groups with their options, and examples; the groups are read from the folders."""
    from . import catalog
    from .compose import include_conf_dirs
    from .config import CONF_DIR

    print(USAGE["train"] + "\n\nconfig groups (GROUP=OPTION):")
    folders = [CONF_DIR, *include_conf_dirs()]
    groups = sorted(({p.name for conf in folders for p in conf.iterdir() if p.is_dir()} | {"attention", *GENERATED})
                    - set(HIDDEN_GROUPS))  # attention nodes are generated from the variants' signatures
    for group in groups:
        options = {str(p.relative_to(conf / group).with_suffix("")) for conf in folders if (conf / group).is_dir()
                   for p in (conf / group).rglob("*.yaml")} | set(GENERATED.get(group, []))
        if group == "attention":
            options |= {v.name for v in catalog.variants()}
        print(f"  {group}: {', '.join(sorted(options))}")
    print("\n" + EXAMPLES["train"])

"""Hydra's own command-line flags, told apart from config overrides, and launcher/sweeper plugin checks.

`lra-bench train` checks overrides before Hydra starts; Hydra's flags (`-c job`, `-i defaults-tree`,
`-sc install=bash`, `--cfg`, `--info`, ...) and their values go to Hydra untouched, as its tab
completion and its docs expect. The flag table follows hydra/_internal/utils.py `get_args_parser`
(hydra-core 1.3).
"""

from __future__ import annotations

import re

from .errors import ConfigError, did_you_mean

VALUE_FLAGS = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name",
               "-cd", "--config-dir", "--experimental-rerun"}
INFO_FLAGS = {"-i", "--info"}
INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
# Hydra answers these without running the job; an `install=bash` after -sc is its argument, not an override.
ANSWER_ONLY = {"-h", "--help", "--hydra-help", "--version", "-sc", "--shell-completion"}

PLUGIN_PACKAGES = {"launcher": "hydra-{}-launcher", "sweeper": "hydra-{}-sweeper"}
PLUGIN_SPECIAL = {"submitit_local": "hydra-submitit-launcher", "submitit_slurm": "hydra-submitit-launcher"}


def split_hydra_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra flags with their values, config overrides), each in the order given."""
    flags, overrides = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        takes = arg in VALUE_FLAGS or (arg in INFO_FLAGS and i + 1 < len(args) and args[i + 1] in INFO_CHOICES)
        if arg.startswith("-"):
            flags += args[i:i + 2] if takes else [arg]
            i += 2 if takes else 1
        else:
            overrides.append(arg)
            i += 1
    return flags, overrides


def answers_only(flags: list[str]) -> bool:
    """Whether Hydra will only print something (help, version, completion) and run nothing."""
    return any(f.split("=", 1)[0] in ANSWER_ONLY for f in flags)


def check_plugins(overrides: list[str]):
    """`hydra/launcher=NAME` or `hydra/sweeper=NAME` whose plugin is not installed: one line with the pip hint."""
    wanted = [(m.group(1), m.group(2)) for o in overrides
              if (m := re.fullmatch(r"\+?hydra/(launcher|sweeper)=(\w+)", o))]
    if not wanted:
        return
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    from .config import CONF_DIR

    Plugins.instance()  # imports installed plugins, which register their config nodes
    for kind, name in wanted:
        available = {n.removesuffix(".yaml") for n in ConfigStore.instance().list(f"hydra/{kind}")}
        available |= {p.stem for p in (CONF_DIR / "hydra" / kind).glob("*.yaml")}
        if name not in available:
            package = PLUGIN_SPECIAL.get(name, PLUGIN_PACKAGES[kind].format(name.replace("_", "-")))
            raise ConfigError(f"hydra/{kind}={name}: the {kind} plugin is not installed; `pip install {package}` "
                              f"(installed: {', '.join(sorted(available))}){did_you_mean(name, available)}")


def strip_subcommand_from_completion_line(environ) -> None:
    """Hydra's bash completion runs `lra-bench -sc query=bash` with the typed line in COMP_LINE; the
    `train` word there is our subcommand, not an override, so it is removed (and COMP_POINT moved back)."""
    line = environ.get("COMP_LINE", "")
    app, _, rest = line.partition(" ")
    if rest.split(" ", 1)[0] == "train":
        removed = len(rest) - len(rest[len("train"):].lstrip(" "))
        environ["COMP_LINE"] = f"{app} {rest[removed:]}"
        environ["COMP_POINT"] = str(max(len(app) + 1, int(environ.get("COMP_POINT", len(line))) - removed))

"""Hydra composition outside a Hydra job, and the check of a command line's overrides before launch.

Every command that needs a run's config without training it (`prepare`, `bench --model`, `diagnose`,
the tests) composes it here, the same way `lra-bench train` would: `conf/train.yaml`, the config
folders of LRA_BENCH_INCLUDE entries, then the overrides. A wrong name, key or type becomes one
ConfigError line naming the key and what was expected (lessons.md, "Harness fragility").

Nodes that would only restate a signature are generated from it, not written as YAML: an
`attention/<name>` node per registered variant (its `__init__` defaults, the registry schema), and
`trainer/default` and `model/default` (the `TrainerConfig` and `ModelConfig` defaults), on which the
trainer files and the recipes in `conf/experiment/` write only their differences. A variant with a
YAML file of its own (needed only to set something non-default) gets no generated node.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, PROJECT_ROOT, ModelConfig, TrainerConfig, validate_run_config
from .errors import ConfigError, did_you_mean

CONFIG_NAME = "train"


def screen_includes(warn) -> None:
    """Take out of LRA_BENCH_INCLUDE (for this process and every job it starts) what would stop every
    command when the attention package imports it: a path that does not exist, a plugin file that
    does not compile. Each is `warn`ed in one line naming it; a folder keeps its good files."""
    entries = [item for item in os.environ.get("LRA_BENCH_INCLUDE", "").split(os.pathsep) if item]
    kept = []
    for item in entries:
        path = Path(item)
        if not path.exists():
            warn(f"LRA_BENCH_INCLUDE: {item}: no such file or folder; skipped")
            continue
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        good = []
        for file in files:
            try:
                compile(file.read_bytes(), str(file), "exec")
                good.append(file)
            except (SyntaxError, ValueError, OSError) as err:
                where = f"{file}:{err.lineno}" if isinstance(err, SyntaxError) else str(file)
                warn(f"LRA_BENCH_INCLUDE: {where}: {type(err).__name__}: {getattr(err, 'msg', err)}; plugin skipped")
        kept += [item] if len(good) == len(files) else [str(f) for f in good]
    if kept != entries:
        os.environ["LRA_BENCH_INCLUDE"] = os.pathsep.join(kept)


def include_conf_dirs() -> list[Path]:
    """The user's `conf/` folder (in the working folder, config.PROJECT_ROOT) and the `conf/` folders next to
    LRA_BENCH_INCLUDE entries: configs kept outside the package, which add nodes to the packaged ones."""
    own = PROJECT_ROOT / "conf"
    folders = [own] if own.is_dir() and own.resolve() != CONF_DIR.resolve() else []
    for item in filter(None, os.environ.get("LRA_BENCH_INCLUDE", "").split(os.pathsep)):
        path = Path(item).resolve()
        conf = (path if path.is_dir() else path.parent) / "conf"
        if conf.is_dir():
            folders.append(conf)
    return folders


def include_searchpath() -> list[str]:
    """The Hydra override that adds `include_conf_dirs()` to the config search path."""
    folders = include_conf_dirs()
    return [f"hydra.searchpath=[{','.join(f'file://{f}' for f in folders)}]"] if folders else []


def register_generated_nodes():
    """Put the generated config nodes in Hydra's ConfigStore (again: a variant may have registered since)."""
    from hydra.core.config_store import ConfigStore

    from .attention import attention_schema, list_attentions

    store = ConfigStore.instance()
    written = {p.stem for conf in [CONF_DIR, *include_conf_dirs()] for p in (conf / "attention").glob("*.yaml")}
    for name in (n for n in list_attentions() if n not in written):  # a YAML is the variant's node
        store.store(group="attention", name=name, node=dataclasses.asdict(attention_schema(name)(name=name)))
    store.store(group="hydra/sweeper", name="job_list", provider="lra_bench",
                node={"_target_": "hydra_plugins.lra_bench_sweeper.job_list_sweeper.JobListSweeper", "jobs_file": None})
    store.store(group="trainer", name="default", node=dataclasses.asdict(TrainerConfig()))
    store.store(group="model", name="default", node=dataclasses.asdict(ModelConfig(name="default")))


def group_options(group: str) -> list[str]:
    """The choices of a config group (`task`, `experiment`, ...): files in conf/ and the included
    folders, and the generated nodes."""
    from hydra.core.config_store import ConfigStore

    register_generated_nodes()
    folders = [CONF_DIR / group] + [conf / group for conf in include_conf_dirs()]
    files = {str(p.relative_to(folder).with_suffix("")) for folder in folders if folder.is_dir()
             for p in folder.rglob("*.yaml")}
    try:
        generated = {name.removesuffix(".yaml") for name in ConfigStore.instance().list(group)}
    except OSError:  # no generated node in this group
        generated = set()
    return sorted(files | generated)


def compose(overrides: list[str]) -> DictConfig:
    """The config `lra-bench train <overrides>` would run (Hydra's runtime keys aside)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_generated_nodes()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(CONFIG_NAME, overrides=[*include_searchpath(), *overrides, "paths.output_dir=/dev/null"])


def override_combinations(overrides: list[str]) -> list[list[str]]:
    """Every value of every sweep override, each with the others at their first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as err:
        raise ConfigError(f"bad override syntax: {str(err).splitlines()[0]}") from None
    options = []
    for item in parsed:
        if item.is_sweep_override():
            key = item.get_key_element()
            options.append([f"{key}={value}" for value in item.sweep_string_iterator()])
        else:
            options.append([item.input_line])
    first = [opts[0] for opts in options]
    combos = [first]
    for i, opts in enumerate(options):
        combos += [first[:i] + [value] + first[i + 1:] for value in opts[1:]]
    return combos


def explain_compose_error(err: Exception, overrides: list[str]) -> str:
    """Rewrite Hydra's multi-line composition errors as one line naming the key and what was expected."""
    text = str(err)
    missing = re.search(r"Could not find '([^']+)'", text)
    if missing:
        group, _, value = missing.group(1).rpartition("/")
        options = group_options(group)
        return f"{group}={value}: unknown {group}; available: {', '.join(options)}{did_you_mean(value, options)}"
    bad_key = re.search(r"Could not (?:override|append to|delete from) '([^']+)'", text)
    if bad_key:
        key = bad_key.group(1)
        parent, _, leaf = key.rpartition(".")
        others = [o for o in overrides if not o.lstrip("+~").startswith(f"{key}=")]
        try:
            node = OmegaConf.select(compose(others), parent) if parent else compose(others)
            known = list(node.keys()) if node is not None else []
        except Exception:  # noqa: BLE001 - the hint is best-effort, the error line stands without it
            known = []
        hint = f"; expected one of {', '.join(map(str, known))}{did_you_mean(leaf, known)}" if known else ""
        return f"{key}: unknown key{hint}"
    return " ".join(text.split())[:300]


def check_overrides(overrides: list[str]):
    """Compose and validate every configuration a command line names; raise ConfigError on the first fault."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    hydra_flags = [o for o in overrides if o.startswith("-") or o.startswith("hydra")]
    plain = [o for o in overrides if o not in hydra_flags]
    for combo in override_combinations(plain):
        try:
            cfg = compose(combo)
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(explain_compose_error(err, combo)) from None
        validate_run_config(cfg)

"""The resolved config, and so the run id, of every experiment (and of every task without one) with
every registered attention is the one checked in (tests/resolved_configs.json). A move of the
config tree (recipes, trainer deltas, generated attention nodes) must not change what a run trains,
nor the id under which the store already holds it.

A change on purpose (a new default, a new recipe) regenerates the snapshot, and the diff shows it:

    .venv/bin/python tests/test_config_guard.py
"""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lra_bench.attention import list_attentions
from lra_bench.compose import compose, group_options
from lra_bench.config import PROJECT_ROOT
from lra_bench.results import config_hash, run_id

SNAPSHOT = Path(__file__).with_name("resolved_configs.json")


def resolved(overrides: list[str]) -> dict:
    """The config a run resolves to, with the machine's project root spelled `<root>`."""
    config = OmegaConf.to_container(compose(overrides), resolve=True)
    return json.loads(json.dumps(config).replace(str(PROJECT_ROOT), "<root>"))


def combinations() -> list[list[str]]:
    """Every task with no experiment, every experiment, and every attention with the defaults; each as
    one line of overrides."""
    return ([[f"task={task}"] for task in group_options("task")]
            + [[f"experiment={experiment}"] for experiment in group_options("experiment")]
            + [[f"attention={attention}"] for attention in list_attentions()])


def snapshot() -> dict:
    """`configs`: each combination's whole config; `run_ids`: each task or experiment with every
    registered attention, the id its record is stored under (~300 compositions: the slow test)."""
    configs, ids = {}, {}
    for overrides in combinations():
        configs[" ".join(overrides)] = resolved(overrides)
        for attention in list_attentions() if not overrides[0].startswith("attention=") else ():
            config = resolved([*overrides, f"attention={attention}"])
            ids[" ".join([*overrides, f"attention={attention}"])] = run_id(
                config["task"]["name"], config["attention"]["name"], config["seed"], config_hash(config))
    return {"configs": configs, "run_ids": ids}


@pytest.fixture(scope="module")
def expected():
    return json.loads(SNAPSHOT.read_text())


def test_the_snapshot_names_every_combination(expected):
    assert sorted(expected["configs"]) == sorted(" ".join(overrides) for overrides in combinations())


@pytest.mark.parametrize("combination", [" ".join(overrides) for overrides in combinations()])
def test_resolved_config_is_unchanged(combination, expected):
    assert resolved(combination.split()) == expected["configs"].get(combination)


@pytest.mark.slow
def test_every_run_id_is_unchanged(expected):
    current = snapshot()["run_ids"]
    changed = {k: (v, current.get(k)) for k, v in expected["run_ids"].items() if current.get(k) != v}
    assert not changed, f"{len(changed)} run ids changed, e.g. {next(iter(changed.items()))}"
    assert sorted(current) == sorted(expected["run_ids"])


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")

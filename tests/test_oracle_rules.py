"""Rules that keep the oracles (tests/test_oracles*.py) independent of the code they test (issue 17):
an oracle imports nothing from `lra_bench.attention` but the registry entry points, and every variant
registered by the package has at least one oracle test named `test_oracle_<name>_...`."""

import ast
from pathlib import Path

import pytest

from lra_bench.attention import get_attention_class, list_attentions

ORACLES = sorted(Path(__file__).parent.glob("test_oracles*.py"))
ENTRY_POINTS = {"build_attention", "attention_schema"}


def imports_from_attention(source: str) -> list[str]:
    """Every name the source imports from lra_bench.attention (or a module under it), as module:name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lra_bench.attention"):
            found += [f"{node.module}:{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("lra_bench.attention")]
    return found


@pytest.mark.parametrize("oracles", ORACLES, ids=lambda p: p.name)
def test_oracles_import_only_the_registry_entry_points(oracles):
    imported = imports_from_attention(oracles.read_text())
    wrong = [item for item in imported if item not in {f"lra_bench.attention:{n}" for n in ENTRY_POINTS}]
    assert not wrong, f"{oracles.name} imports from the code it tests: {wrong}"
    assert imported, "the oracles should build variants through the registry"


def test_the_import_rule_catches_a_private_import():
    # A planted violation, as text for the checker (built from parts: this file imports nothing from it).
    planted = "\n".join(["from lra_bench.attention.lln " + "import FIT_A", "import " + "lra_bench.attention.latte"])
    assert imports_from_attention(planted) == ["lra_bench.attention.lln:FIT_A", "lra_bench.attention.latte"]


@pytest.mark.parametrize("name", [n for n in list_attentions()
                                  if get_attention_class(n).__module__.startswith("lra_bench.attention.")])
def test_every_registered_variant_has_an_oracle(name):
    tests = [node.name for oracles in ORACLES for node in ast.walk(ast.parse(oracles.read_text()))
             if isinstance(node, ast.FunctionDef)]
    assert any(t == f"test_oracle_{name}" or t.startswith(f"test_oracle_{name}_") for t in tests), \
        f"no test_oracle_{name}* in tests/test_oracles*.py"

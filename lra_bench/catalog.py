"""What `lra-bench ls` lists, read without importing torch (so `ls` answers in a fraction of a second).

Built-in variants are read from the source of `lra_bench/attention/` (an AST walk: the
`@register_attention` decorators, the capability flags each class or its bases set, the module
docstring's citation); tests/test_catalog.py checks that this equals the imported registry. Variants
from plugins (`lra_bench.attentions` entry points, LRA_BENCH_INCLUDE) need their code imported, so
only when some are installed does `ls attentions` import the registry. Tasks are the YAML nodes
of `conf/task/`, their prepared state the caches under the data folder.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
from dataclasses import dataclass
from pathlib import Path

ATTENTION_DIR = Path(__file__).resolve().parent / "attention"
FORM_FLAGS = {"non-causal": "supports_noncausal", "causal": "supports_causal", "step": "supports_step"}


@dataclass
class VariantInfo:
    name: str
    forms: list[str]
    paper: str
    source: str  # "built-in" or where a plugin came from


def paper_of(docstring: str | None) -> str:
    """The citation in a variant module's first docstring paragraph: its first parenthesis up to ';' when
    that names a year, else the words before it (e.g. "Local attention, LRA's baseline")."""
    first = " ".join((docstring or "").split("\n\n")[0].split())
    cited = re.search(r"\(([^;()]*)", first)
    if cited and re.search(r"\b(19|20)\d\d\b", cited.group(1)):
        return cited.group(1).strip()
    return first.split("(")[0].split(":")[0].strip().rstrip(".,") or "-"


def _builtin_classes() -> tuple[dict[str, dict], dict[str, tuple[str, str]]]:
    """Per class in the attention package: bases and boolean flags it sets; registered name -> (class, module doc)."""
    classes, registered = {}, {}
    for path in sorted(ATTENTION_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        for node in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            flags = {t.id: s.value.value for s in node.body if isinstance(s, (ast.Assign, ast.AnnAssign))
                     for t in (s.targets if isinstance(s, ast.Assign) else [s.target])
                     if isinstance(t, ast.Name) and isinstance(s.value, ast.Constant)
                     and isinstance(s.value.value, bool)}
            classes[node.name] = {"bases": [b.id for b in node.bases if isinstance(b, ast.Name)], "flags": flags}
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "register_attention"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    registered[deco.args[0].value] = (node.name, doc)
    return classes, registered


def _flag(classes: dict, name: str, flag: str) -> bool:
    """A class's flag as Python would resolve it (own value, else the first base that sets it)."""
    info = classes.get(name)
    if info is None:
        return False
    if flag in info["flags"]:
        return info["flags"][flag]
    return next((_flag(classes, base, flag) for base in info["bases"] if base in classes), False)


def builtin_variants() -> list[VariantInfo]:
    classes, registered = _builtin_classes()
    return [VariantInfo(name, [form for form, flag in FORM_FLAGS.items() if _flag(classes, cls, flag)],
                        paper_of(doc), "built-in")
            for name, (cls, doc) in sorted(registered.items())]


def plugins_present() -> bool:
    """Whether any variant comes from outside the package (then listing it means importing it)."""
    return bool(os.environ.get("LRA_BENCH_INCLUDE")) or bool(
        importlib.metadata.entry_points(group="lra_bench.attentions"))


def variants() -> list[VariantInfo]:
    """Every registered variant; imports the registry only when a plugin is installed."""
    found = builtin_variants()
    if not plugins_present():
        return found
    import sys

    from .attention import get_attention_class, list_attentions

    known = {v.name for v in found}
    for name in (n for n in list_attentions() if n not in known):
        cls = get_attention_class(name)
        forms = [form for form, flag in FORM_FLAGS.items() if getattr(cls, flag, False)]
        module = sys.modules.get(cls.__module__)
        paper = getattr(cls, "paper", None) or paper_of(getattr(module, "__doc__", None))
        found.append(VariantInfo(name, forms, paper, f"plugin {cls.__module__}"))
    return sorted(found, key=lambda v: v.name)


@dataclass
class TaskInfo:
    name: str
    family: str
    max_len: int
    source: str
    prepared: str


def _prepared(family_dir: Path, source: str) -> str:
    """'yes' when a complete cache of the task's family is in the data folder (`prepare` checks the exact one)."""
    if any(family_dir.glob("*/COMPLETE")):
        return "yes"
    return "no (generated on first use)" if source == "generate" else "no (run `lra-bench prepare`)"


def tasks(conf_dirs: list[Path], data_dir: Path) -> list[TaskInfo]:
    """The task nodes of these config folders (later folders override earlier ones), one row each."""
    from omegaconf import OmegaConf

    files = {p.stem: p for conf in conf_dirs for p in sorted((conf / "task").glob("*.yaml"))}
    rows = []
    for name, path in sorted(files.items()):
        node = OmegaConf.load(path)
        family = str(node.get("family", name))
        source = str(node.get("source", "-"))
        if source == "hf":
            source = f"hf:{node.get('hf_dataset', '?')}"
        rows.append(TaskInfo(name, family, int(node.get("max_len", 0)), source,
                             _prepared(data_dir / family / "data", str(node.get("source", "")))))
    return rows

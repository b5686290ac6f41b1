"""ListOps (Nangia & Bowman 2018; LRA version, spec/tasks.md "ListOps").

Three parts, kept independent so each checks the others:
- `generate_tree` / `tree_value` follow the official generator (lra_benchmarks/data/listops.py):
  a node at depth < max_depth is a digit with probability 0.75, else an operator with 2..max_args
  arguments; length counts 1 per digit and 2 per operator; the string nests left-deep binary pairs.
- `evaluate_source` recomputes a label from the text alone (a token stack), never from the tree.
- `read_tsv` reads the official release files (`Source<TAB>Target` header) and ours alike.
Tokenization is the official one after its March 2021 fix: `]` -> `X`, parentheses dropped.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import random
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..errors import DataError
from . import TaskConfig, TaskData, family_data_dir, find_in_release, register_task_family, release_root
from .cache import (cache_key, cached_splits, load_integrity, open_tokens, preparation_lock, save_integrity,
                    save_labels)

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
DIGIT_PROBABILITY = 0.75
VOCAB = ["<pad>", *map(str, range(10)), *OPERATORS, "X"]
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}
TOKENIZATION = "listops-v2 (] -> X, parentheses dropped; LRA fix of March 2021)"
HEADER = ["Source", "Target"]
SPLITS = ("train", "val", "test")
SHARD = 2_000  # expressions per independently seeded shard; fixed, so the data never depends on `workers`
GENERATOR_VERSION = 2  # 2: sharded generation (same algorithm, another seeded order than version 1)


@dataclass
class ListOpsConfig(TaskConfig):
    """ListOps data parameters. Official: 96k/2k/2k, 500 < length < 2000, depth 10, 10 arguments."""

    num_train: int = 96_000
    num_val: int = 2_000
    num_test: int = 2_000
    min_length: int = 500
    max_length: int = 2_000
    max_depth: int = 10
    max_args: int = 10
    data_seed: int = 0
    workers: int = 0  # processes generating shards (0: every core); the data is the same for any value


# -- generator (official algorithm) -------------------------------------------------------------

def generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int):
    """One random expression as (tree, length); the tree is nested binary tuples as in the official code."""
    if depth >= max_depth or rng.random() < DIGIT_PROBABILITY:
        return rng.randrange(10), 1
    num_args = rng.randint(2, max_args)
    args, length = [], 2
    for _ in range(num_args):
        sub, sub_len = generate_tree(rng, depth + 1, max_depth, max_args)
        args.append(sub)
        length += sub_len
    tree = (rng.choice(OPERATORS), args[0])
    for arg in args[1:]:
        tree = (tree, arg)
    return (tree, END), length


def tree_to_string(tree) -> str:
    if isinstance(tree, (str, int)):
        return str(tree)
    return f"( {tree_to_string(tree[0])} {tree_to_string(tree[1])} )"


def tree_value(tree) -> int:
    """The label, computed from the tree structure (the generator's side of the check)."""
    op, args = _collect(tree)
    return _apply(op, [tree_value(a) if isinstance(a, tuple) else a for a in args])


def _collect(tree):
    """Unfold ((((op, a1), a2), ...), END) into (op, [a1, a2, ...])."""
    node, _end = tree
    args = []
    while isinstance(node[0], tuple):
        node, arg = node
        args.append(arg)
    op, first = node
    return op, [first, *reversed(args)]


def _apply(op: str, values: list[int]) -> int:
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        return int(statistics.median(values))
    return sum(values) % 10


def generate_shard(index: int, size: int, min_length: int, max_length: int, max_depth: int, max_args: int,
                   seed: int) -> list[tuple[str, int]]:
    """The first `size` distinct (source, label) pairs with min_length < length < max_length of the
    stream seeded by (seed, index): a smaller size gives a prefix of a larger one."""
    rng = random.Random(f"listops:{seed}:{index}")
    examples: dict[str, int] = {}
    while len(examples) < size:
        tree, length = generate_tree(rng, 1, max_depth, max_args)
        if min_length < length < max_length:
            examples.setdefault(tree_to_string(tree), tree_value(tree))
    return list(examples.items())


def generate_examples(num: int, min_length: int, max_length: int, max_depth: int, max_args: int,
                      seed: int, workers: int = 1) -> list[tuple[str, int]]:
    """`num` distinct (source, label) pairs, in a seeded order: shards 0, 1, 2, ... merged in order
    without repeats (the official generator draws one stream; shards let every core draw at once:
    100,000 official expressions take ~3 min on one core)."""
    args = (min(SHARD, num), min_length, max_length, max_depth, max_args, seed)
    examples: dict[str, int] = {}
    shards = itertools.count()
    workers = min(workers or os.cpu_count() or 1, -(-num // SHARD))
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        while len(examples) < num:
            batch = [next(shards) for _ in range(max(workers, -(-(num - len(examples)) // SHARD)))]
            results = pool.map(generate_shard, batch, *([a] * len(batch) for a in args)) if pool else (
                generate_shard(i, *args) for i in batch)
            for shard in results:
                for source, label in shard:
                    examples.setdefault(source, label)
    finally:
        if pool:
            pool.shutdown()
    return list(examples.items())[:num]


# -- independent evaluator ------------------------------------------------------------------------

def evaluate_source(source: str) -> int:
    """Recompute a label from the Source text alone with an operand stack."""
    stack: list[list] = []
    result = None
    for tok in source.replace("(", " ").replace(")", " ").split():
        if tok in OPERATORS:
            stack.append([tok])
        elif tok == END:
            op, *values = stack.pop()
            value = _apply(op, values)
            if stack:
                stack[-1].append(value)
            else:
                result = value
        elif tok.isdigit() and len(tok) == 1:
            if not stack:
                return int(tok)
            stack[-1].append(int(tok))
        else:
            raise ValueError(f"unexpected token {tok!r}")
    if stack or result is None:
        raise ValueError("unbalanced expression")
    return result


def tree_depth(source: str) -> int:
    """Operator nesting depth of an expression (a lone digit has depth 0)."""
    depth = best = 0
    for tok in source.split():
        if tok in OPERATORS:
            depth += 1
            best = max(best, depth)
        elif tok == END:
            depth -= 1
    return best


# -- files ----------------------------------------------------------------------------------------

def tokenize(source: str) -> list[int]:
    """Official tokenization: `]` -> X, drop parentheses, whitespace split."""
    return [TOKEN_ID[t] for t in source.replace("]", "X").replace("(", "").replace(")", "").split()]


def write_tsv(path: Path, examples: list[tuple[str, int]]):
    """Write the official format (header `Source<TAB>Target`) atomically, so parallel jobs generating
    the same preset never pull a file from under each other."""
    with atomic_write(path, newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(examples)


def read_tsv(path: Path) -> list[tuple[str, int]]:
    """Read an official-format ListOps TSV; malformed input raises DataError naming file and line."""
    if not path.is_file():
        raise DataError(f"{path}: ListOps file not found; expected the LRA release's "
                        "listops-1000/basic_{train,val,test}.tsv (lra_release.gz) or task.source=generate")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
                        "expected the release's 'Source<TAB>Target' TSV") from None
    if not rows or rows[0] != HEADER:
        got = "\\t".join(rows[0]) if rows else "an empty file"
        raise DataError(f"{path}:1: expected header 'Source\\tTarget', got '{got[:60]}'")
    examples = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not row[1].strip().lstrip("-").isdigit():
            raise DataError(f"{path}:{lineno}: expected '<expression>\\t<integer label>', got {row!r:.80}")
        examples.append((row[0], int(row[1])))
    return examples


def checked_examples(path: Path, max_len: int, validate: bool) -> tuple[list, dict, str | None]:
    """The examples of one file as (token ids, label), and what was lost: sequences longer than
    `max_len` (cut, counted), and with `validate` (release files) expressions whose brackets do not
    balance or whose label is not the value `evaluate_source` computes (dropped, counted)."""
    kept, lost, first = [], {"truncated": 0, "unbalanced": 0, "wrong_label": 0}, None
    for row, (source, label) in enumerate(read_tsv(path)):
        where = f"{path}:{row + 2}"
        try:
            ids = tokenize(source)
        except KeyError as err:
            raise DataError(f"{where}: unknown ListOps token {err.args[0]!r}; "
                            f"expected digits, {', '.join(OPERATORS)}, ], ( and )") from None
        if not 0 <= label <= 9:
            raise DataError(f"{where}: label must be 0..9, got {label}")
        reason = None
        if validate:
            try:
                reason = "wrong_label" if evaluate_source(source) != label else None
            except ValueError:
                reason = "unbalanced"
        if reason is None and len(ids) > max_len:
            reason, ids = "truncated", ids[:max_len]
        if reason is not None:
            lost[reason] += 1
            first = first or where
        if reason in (None, "truncated"):
            kept.append((ids, label))
    return kept, lost, first


def generated_dir(config: ListOpsConfig, data_dir: str) -> Path:
    """Cache folder keyed by every generator parameter, so a changed preset never reads stale data."""
    params = {k: v for k, v in asdict(config).items() if k not in ("name", "source", "release_dir", "max_len", "workers")}
    params["generator"] = GENERATOR_VERSION
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return family_data_dir(data_dir, "listops") / f"generated-{key}"


def ensure_generated(config: ListOpsConfig, data_dir: str) -> Path:
    """Generate the three official-format TSVs once (seeded), then reuse them."""
    folder = generated_dir(config, data_dir)
    if all((folder / f"basic_{s}.tsv").is_file() for s in SPLITS):
        return folder
    with preparation_lock(folder):  # a parallel job generating the same preset: wait for it
        if not all((folder / f"basic_{s}.tsv").is_file() for s in SPLITS):
            _generate(config, folder)
    return folder


def _generate(config: ListOpsConfig, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"train": config.num_train, "val": config.num_val, "test": config.num_test}
    examples = generate_examples(sum(sizes.values()), config.min_length, config.max_length,
                                 config.max_depth, config.max_args, config.data_seed, workers=config.workers)
    start = 0
    for split in SPLITS:  # the official builder splits in this order
        write_tsv(folder / f"basic_{split}.tsv", examples[start:start + sizes[split]])
        start += sizes[split]


def release_folder(config: ListOpsConfig, data_dir: str) -> Path:
    """The release's listops-1000 folder: `task.release_dir` may name it or the unpacked archive root."""
    root = release_root(config, data_dir)
    return find_in_release(root, "listops-1000", lambda folder: (folder / "basic_train.tsv").is_file()) or root


@register_task_family("listops", ListOpsConfig)
def load_splits(config: ListOpsConfig, data_dir: str) -> TaskData:
    folder = ensure_generated(config, data_dir) if config.source == "generate" else release_folder(config, data_dir)
    files = {s: folder / f"basic_{s}.tsv" for s in SPLITS}
    for path in files.values():  # check every file before tokenizing any
        if not path.is_file():
            read_tsv(path)
    stamp = {s: (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for s, p in files.items()}
    validate = config.source == "release"
    key = cache_key(files=stamp, max_len=config.max_len, tokenization=TOKENIZATION, validated=validate, layout=2)

    def build(partial: Path):
        listed, lost, first = 0, {}, None
        for split, path in files.items():
            examples, file_lost, file_first = checked_examples(path, config.max_len, validate)
            tokens = open_tokens(partial, split, (len(examples), config.max_len))
            for row, (ids, _) in enumerate(examples):
                tokens[row, :len(ids)] = ids
            tokens.flush()
            save_labels(partial, split, [label for _, label in examples])
            listed += len(examples) + file_lost["unbalanced"] + file_lost["wrong_label"]
            lost = {r: lost.get(r, 0) + n for r, n in file_lost.items()}
            first = first or file_first
        save_integrity(partial, listed, lost, first, f"ListOps {folder}")

    cache = family_data_dir(data_dir, "listops") / f"cache-{key}"
    splits = cached_splits(cache, build)
    return TaskData(**splits, vocab_size=len(VOCAB), num_classes=config.num_classes, tokenization=TOKENIZATION,
                    integrity=load_integrity(cache))

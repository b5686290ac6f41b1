"""ListOps: the generator against the independent evaluator, the limits, and the official file format."""

import statistics

import pytest
import torch

from lra_bench.data import listops
from lra_bench.errors import DataError

OFFICIAL_FIXTURE = (
    "Source\tTarget\n"
    "( ( ( [MAX 2 ) 9 ) ] )\t9\n"
    "( ( ( ( [SM 4 ) ( ( ( [MIN 7 ) 3 ) ] ) ) 8 ) ] )\t5\n"
    "( ( ( ( [MED 1 ) 5 ) 2 ) 8 ) ] )\t3\n"
)


def test_generator_labels_equal_independent_evaluator_on_thousands():
    examples = listops.generate_examples(3000, 16, 128, max_depth=6, max_args=5, seed=1)
    assert len(examples) == 3000
    mismatches = [(s, y) for s, y in examples if listops.evaluate_source(s) != y]
    assert not mismatches, f"{len(mismatches)} labels disagree, e.g. {mismatches[:1]}"


def test_generator_labels_at_official_settings():
    examples = listops.generate_examples(200, 500, 2000, max_depth=10, max_args=10, seed=2)
    assert all(listops.evaluate_source(s) == y for s, y in examples)


def test_lengths_depth_and_arity_within_limits():
    examples = listops.generate_examples(2000, 16, 128, max_depth=6, max_args=5, seed=3)
    lengths = [len(listops.tokenize(s)) for s, _ in examples]
    assert min(lengths) > 16 and max(lengths) < 128
    # depth counted from the root operator at depth 1: operators only at depths < max_depth
    assert max(listops.tree_depth(s) for s, _ in examples) <= 5
    for source, _ in examples[:300]:
        arities, stack = [], []
        for tok in source.replace("(", " ").replace(")", " ").split():
            if tok in listops.OPERATORS:
                stack.append(0)
            elif tok == "]":
                arities.append(stack.pop())
            elif stack:
                stack[-1] += 1
            if tok in listops.OPERATORS and len(stack) > 1:
                stack[-2] += 1
        assert all(2 <= a <= 5 for a in arities)
    assert len({s for s, _ in examples}) == len(examples), "duplicates must be dropped"


def test_generation_is_seeded_and_reproducible():
    a = listops.generate_examples(100, 16, 128, 6, 5, seed=7)
    assert a == listops.generate_examples(100, 16, 128, 6, 5, seed=7)
    assert a != listops.generate_examples(100, 16, 128, 6, 5, seed=8)


def test_evaluator_semantics():
    assert listops.evaluate_source("( ( ( ( [MED 1 ) 5 ) 2 ) 8 ) ] )") == 3  # median 3.5 truncates to 3
    assert listops.evaluate_source("( ( ( [SM 9 ) 8 ) ] )") == 7
    assert listops.evaluate_source("( ( ( [MIN 4 ) ( ( ( [MAX 2 ) 9 ) ] ) ) ] )") == 4
    assert statistics.median([1, 2]) == 1.5 and listops._apply("[MED", [1, 2]) == 1


def test_tokenization_is_the_official_fixed_one():
    ids = listops.tokenize("( ( ( [MAX 2 ) 9 ) ] )")
    assert [listops.VOCAB[i] for i in ids] == ["[MAX", "2", "9", "X"]


def test_loader_reads_official_tsv_fixture(tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / f"basic_{split}.tsv").write_text(OFFICIAL_FIXTURE)
    config = listops.ListOpsConfig(name="listops", family="listops", num_classes=10, max_len=16,
                                   source="release", release_dir=str(tmp_path))
    data = listops.load_splits(config, str(tmp_path))
    assert data.train.labels.tolist() == [9, 5, 3]
    assert data.test.tokens.shape == (3, 16)
    assert [listops.VOCAB[i] for i in data.val.tokens[0, :4]] == ["[MAX", "2", "9", "X"]
    assert data.train.lengths.tolist() == [4, 8, 6]


def test_generated_files_are_in_the_official_format(tmp_path):
    config = listops.ListOpsConfig(name="t", family="listops", num_classes=10, max_len=64, num_train=30,
                                   num_val=5, num_test=5, min_length=10, max_length=64, max_depth=5, max_args=4)
    folder = listops.ensure_generated(config, str(tmp_path))
    lines = (folder / "basic_train.tsv").read_text().splitlines()
    assert lines[0] == "Source\tTarget" and len(lines) == 31
    source, target = lines[1].split("\t")
    assert source.startswith("( ") and listops.evaluate_source(source) == int(target)
    data = listops.load_splits(config, str(tmp_path))
    assert len(data.train) == 30 and len(data.val) == 5 and len(data.test) == 5
    # splits are disjoint, as the official builder's are
    train = {tuple(r.tolist()) for r in data.train.tokens}
    assert not train & {tuple(r.tolist()) for r in data.test.tokens}


@pytest.mark.parametrize("content, expected", [
    ("src\ttgt\n( [MAX 2 ] )\t2\n", "expected header 'Source\\tTarget'"),
    ("", "expected header"),
    ("Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\tnine\n", ":2: expected '<expression>\\t<integer label>'"),
    ("Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\n", ":2: expected"),
    ("Source\tTarget\n( ( ( [MOD 2 ) 9 ) ] )\t1\n", "unknown ListOps token '[MOD'"),
])
def test_malformed_file_gives_one_line_naming_file(tmp_path, content, expected):
    for split in ("train", "val", "test"):
        (tmp_path / f"basic_{split}.tsv").write_text(content)
    config = listops.ListOpsConfig(name="l", family="listops", num_classes=10, max_len=16, source="release",
                                   release_dir=str(tmp_path))
    with pytest.raises(DataError) as err:
        listops.load_splits(config, str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "basic_train.tsv" in message and expected in message


def test_missing_file_names_where_it_looked(tmp_path):
    config = listops.ListOpsConfig(name="l", family="listops", num_classes=10, max_len=16, source="release",
                                   release_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere/basic_train.tsv: ListOps file not found.*lra_release"):
        listops.load_splits(config, str(tmp_path))


def test_majority_rate_is_the_most_frequent_label_share():
    from lra_bench.data import Split
    split = Split(torch.ones(5, 3, dtype=torch.long), torch.tensor([1, 1, 1, 2, 3]))
    assert split.majority_rate() == pytest.approx(0.6)


def test_generated_data_does_not_depend_on_the_number_of_workers():
    one = listops.generate_examples(4500, 16, 128, 6, 5, seed=4, workers=1)
    assert one == listops.generate_examples(4500, 16, 128, 6, 5, seed=4, workers=2)
    assert len(one) == 4500 and len(set(one)) == 4500
    assert one[:100] == listops.generate_examples(100, 16, 128, 6, 5, seed=4)[:100]  # prefix: the first shard

"""The mutation catalogue (tests/mutations.py, `make mutation`): it must keep matching the source, stay
at >= 25 entries with issue 17's four, and (slow) every mutation must be killed by the variant's tests."""

from pathlib import Path

import pytest

from mutations import CATALOGUE, ROOT, patched, run

ISSUE_17 = {"lln_fit_a_plus_8pct", "lln_diag_mix_0.3_0.7", "lln_padded_batch_std_per_head",
            "axial_head_proj_no_residual"}


def test_the_catalogue_is_large_and_holds_issue_17s_mutations():
    ids = [m.id for m in CATALOGUE]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)
    assert ISSUE_17 <= set(ids)


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_every_mutation_applies_once_and_names_existing_tests(mutation):
    text = (ROOT / mutation.file).read_text()
    assert patched(mutation, text) != text
    assert all((ROOT / t).is_file() for t in mutation.tests)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_the_variants_tests_kill_the_mutation(mutation):
    assert run(mutation) == 1, f"{mutation.id} survived (or errored): {mutation.why}"


@pytest.mark.slow
def test_the_unmutated_copy_passes_the_selected_tests():
    """The kill is the mutation's doing: the same copy without it passes (checked on two selections)."""
    assert run(None, ("tests/test_oracles.py",), "lln") == 0
    assert run(None, ("tests/test_combiner_grid.py",), "") == 0


def test_the_check_copies_what_the_tests_need():
    assert Path(ROOT / "lra_bench" / "conf").is_dir() and (ROOT / "pyproject.toml").is_file()

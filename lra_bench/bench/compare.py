"""`lra-bench bench --compare [A B]`: do two runs of the layer bench agree?

Issue 19's test of the bench's statistics: run `make bench` twice in a row; every cell's ratio to
softmax must agree within its printed IQR, or the cell must be marked unstable. Each run prints an IQR
for the cell (of its per-pair ratios, `0.52x IQR 0.03`), both estimates of one spread; two cells
agree when their ratios differ by no more than the two IQRs pooled (`pooled_iqr`: the root mean
square, as variances pool); a cell that does not agree prints the difference and the pooled IQR. The
smaller of the two would be biased low (the minimum of two noisy estimates: drawn from a model of this
machine's records, it fails ~0.5 of 152 cells at 36 pairs where the pooled IQR fails ~0.07), the
larger biased high; the printed summary counts both too. A cell that disagrees is `unstable` when
either run marked it so, and a DISAGREEMENT otherwise. Only ratios timed interleaved with softmax
(`ratio_pairs`) are compared: a ratio of cells timed apart has no per-pair IQR.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConfigError
from ..results import BenchRecord, load_records, parse_record

VERDICTS = ("agree", "unstable", "DISAGREE")
MARK = {"agree": "=", "unstable": "u", "DISAGREE": "X"}


def paired_cells(record: BenchRecord) -> dict:
    """{(mode, attention, length): row} for the rows with a paired ratio to softmax."""
    return {(r["mode"], r["attention"], r["length"]): r for r in record.rows
            if r.get("mode") in ("train", "infer") and r.get("status") == "ok" and r.get("ratio_pairs")
            and r.get("ratio_iqr") is not None}


def same_settings(one: BenchRecord, two: BenchRecord) -> bool:
    """Whether two records ran the same settings (the per-run layout seed aside)."""
    return ({k: v for k, v in one.settings.items() if k != "seed"}
            == {k: v for k, v in two.settings.items() if k != "seed"})


def pooled_iqr(one: float, two: float) -> float:
    """Two IQRs of one cell pooled as variances are: the root mean square."""
    return math.sqrt((one * one + two * two) / 2)


def compare_cells(first: BenchRecord, second: BenchRecord) -> list[dict]:
    """One comparison per cell the two records share: both ratios and IQRs, and the verdict."""
    a, b = paired_cells(first), paired_cells(second)
    compared = []
    for key in sorted(a.keys() & b.keys(), key=lambda k: (k[0] != "train", k[1], k[2])):
        one, two = a[key], b[key]
        difference = abs(one["time_vs_softmax"] - two["time_vs_softmax"])
        pooled = pooled_iqr(one["ratio_iqr"], two["ratio_iqr"])
        if difference <= pooled:
            verdict = "agree"
        elif one["ratio_unstable"] or two["ratio_unstable"]:
            verdict = "unstable"
        else:
            verdict = "DISAGREE"
        compared.append({"mode": key[0], "attention": key[1], "length": key[2], "verdict": verdict,
                         "difference": difference, "pooled_iqr": pooled, "first": one, "second": two})
    return compared


def format_comparison(compared: list[dict], first: BenchRecord, second: BenchRecord) -> str:
    """The counts, then per mode a table: `ratio IQR | ratio IQR mark` per variant and length, and for a
    cell that does not agree `(difference > pooled IQR)`."""
    import pandas as pd

    counts = {v: sum(c["verdict"] == v for c in compared) for v in VERDICTS}
    within_smaller = sum(c["difference"] <= min(c["first"]["ratio_iqr"], c["second"]["ratio_iqr"]) for c in compared)
    within_larger = sum(c["difference"] <= max(c["first"]["ratio_iqr"], c["second"]["ratio_iqr"]) for c in compared)

    def side(row):
        return f"{row['time_vs_softmax']:.3f} IQR {row['ratio_iqr']:.3f}" + ("u" if row["ratio_unstable"] else "")

    def cell(c):
        text = f"{side(c['first'])} \\| {side(c['second'])} {MARK[c['verdict']]}"
        return text if c["verdict"] == "agree" else text + f" ({c['difference']:.3f} > {c['pooled_iqr']:.3f})"

    lines = [f"run 1: {first.run_id}", f"run 2: {second.run_id}",
             f"{len(compared)} cells: {counts['agree']} agree within their pooled IQR, {counts['unstable']} differ "
             f"and are marked unstable, {counts['DISAGREE']} differ unmarked (DISAGREE); within the smaller of "
             f"the two IQRs {within_smaller} agree, within the larger {within_larger}"]
    frame = pd.DataFrame([{"mode": c["mode"], "attention": c["attention"], "length": c["length"],
                           "cell": cell(c)} for c in compared])
    for mode in dict.fromkeys(frame["mode"]) if len(frame) else ():
        table = frame[frame["mode"] == mode].pivot(index="attention", columns="length", values="cell")
        lines.append(f"\n### {mode}: time vs softmax, run 1 | run 2 (`u` marked unstable; `=` agree, "
                     f"`u` differ but marked, `X` DISAGREE)\n\n" + table.to_markdown(disable_numparse=True))
    return "\n".join(lines)


def layer_records(store: str) -> list[BenchRecord]:
    """The store's layer-bench records with paired ratios (not `--check`'s, whose rows have a `form`,
    nor `--model`'s), oldest first."""
    layer = [r for r in load_records(store, on_skip=lambda *_: None)
             if isinstance(r, BenchRecord) and paired_cells(r) and not any("form" in row for row in r.rows)]
    return sorted(layer, key=lambda r: r.finished_at)


def read_bench_record(path: str) -> BenchRecord:
    import json

    try:
        record = parse_record(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as err:
        raise ConfigError(f"--compare {path}: not a readable bench record ({err})") from None
    if not isinstance(record, BenchRecord):
        raise ConfigError(f"--compare {path}: expected a bench record (kind: bench)")
    return record


def compare_command(paths: list[str], store: str, out: str | None = None) -> int:
    """`bench --compare A B` (two record files), or `--compare` alone: the store's two newest layer-bench
    records with the same settings. Prints the comparison; exits 1 when a cell disagrees unmarked."""
    from .layer import emit

    if len(paths) == 2:
        first, second = (read_bench_record(p) for p in paths)
    elif not paths:
        newest = layer_records(store)
        if not newest:
            raise ConfigError(f"--compare: no layer bench record in {store}; run `make bench` twice")
        same = [r for r in newest if same_settings(r, newest[-1]) and r is not newest[-1]]
        if not same:
            raise ConfigError(f"--compare: {store} has one layer bench record with these settings "
                              f"({newest[-1].run_id}); run `make bench` again")
        first, second = same[-1], newest[-1]
    else:
        raise ConfigError(f"--compare: expected two bench record files or none, got {len(paths)}")
    compared = compare_cells(first, second)
    emit(format_comparison(compared, first, second), out)
    return 1 if any(c["verdict"] == "DISAGREE" for c in compared) else 0

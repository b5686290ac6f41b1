"""The mutation check (issue 17): plausible wrong implementations of the seed variants, each applied
alone to a temporary copy of the project, must each make the variant's own tests fail.

A mutation is one text patch (`old` -> `new`, `old` occurring exactly once in `file`) and the tests
that should notice it (pytest files and a `-k` expression over the oracle, conformance, recurrent and
layout tests). Run it with `make mutation` (or `python tests/mutations.py [--only ID,...] [--list]`):
it prints each mutation's fate, the mutation score (killed / catalogue size) and the survivors, and
exits non-zero when one survives. Slow (a pytest process per mutation, ~10 s each): not in `make test`;
tests/test_mutations.py checks the catalogue still applies to the source on every `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("lra_bench", "tests", "pyproject.toml")
ORACLES, CONFORMANCE, RECURRENT, GRID = ("tests/test_oracles.py", "tests/test_conformance.py",
                                        "tests/test_recurrent.py", "tests/test_combiner_grid.py")
ATTN = "lra_bench/attention/"
LRA_ORACLES = "tests/test_oracles_lra_baselines.py"


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    k: str  # pytest -k expression selecting the variant's tests in `tests`
    why: str = ""


CATALOGUE = [
    # -- LLN and LLN + Diag (the first three are named in issue 17) ------------------------------------------
    Mutation("lln_fit_a_plus_8pct", ATTN + "lln.py", "FIT_A = 0.14855178144710912", "FIT_A = 0.16",
             (ORACLES, CONFORMANCE, RECURRENT), "lln", "a fitted constant off by 8% (issue 17)"),
    Mutation("lln_diag_mix_0.3_0.7", ATTN + "lln_diag.py", "return (o_lln + o_diag) / 2",
             "return 0.3 * o_lln + 0.7 * o_diag", (ORACLES, CONFORMANCE, RECURRENT), "lln_diag",
             "the diag mixing changed (issue 17)"),
    Mutation("lln_padded_batch_std_per_head", ATTN + "lln.py", '"batch_with_padding": (0, 1, 2, 3)',
             '"batch_with_padding": (2, 3)', (ORACLES, CONFORMANCE), "lln",
             "the authors' whole-tensor option computing a per-head std (issue 17's `tensor`)"),
    Mutation("lln_default_std_per_sequence", ATTN + "lln.py", 'STATISTICS = {"batch": (0, 1, 2, 3)',
             'STATISTICS = {"batch": (1, 2, 3)', (ORACLES, CONFORMANCE), "lln", "the default pooled per sequence"),
    Mutation("lln_sequence_head_pools_sequence", ATTN + "lln.py", '"sequence_head": (2, 3)',
             '"sequence_head": (1, 2, 3)', (ORACLES,), "lln", "an option pooling something else than its name"),
    Mutation("lln_pads_in_default_std", ATTN + "lln.py", 'if lln_stats == "batch_with_padding":\n        mask = None',
             'if True:\n        mask = None', (ORACLES, CONFORMANCE), "lln", "padding counted in the statistic"),
    Mutation("lln_biased_std", ATTN + "lln.py", "/ (count - 1).clamp_min(1)", "/ count", (ORACLES,), "lln",
             "a biased std (the authors' torch.std is unbiased)"),
    Mutation("lln_class_eps", ATTN + "lln.py", "max_len=4096, eps: float = 1e-5,\n                 lln_stats",
             "max_len=4096, eps: float = 1e-8,\n                 lln_stats", (ORACLES,), "lln and not diag",
             "the class default eps instead of what the experiments ran"),
    Mutation("lln_no_beta_on_keys", ATTN + "lln.py", "bk = k * beta[..., None, None]\n", "bk = k * alpha[..., None, None]\n",
             (ORACLES,), "lln", "alpha used for the keys"),
    Mutation("lln_diag_block_half_d", ATTN + "lln_diag.py", "key_padding_mask, self.dim_head, self.causal)",
             "key_padding_mask, self.dim_head // 2, self.causal)", (ORACLES, CONFORMANCE), "lln_diag",
             "diagonal blocks of d/2 tokens"),
    Mutation("block_softmax_not_causal", ATTN + "block_softmax.py", "    if causal:\n        allowed = allowed & ",
             "    if False:\n        allowed = allowed & ", (ORACLES, CONFORMANCE), "lln_diag or local",
             "a causal leak inside a block"),
    # -- cosFormer -------------------------------------------------------------------------------------------
    Mutation("cos_m_padded_by_default", ATTN + "cosformer.py", "if self.m_from_padded_length:", "if True:",
             (ORACLES, CONFORMANCE), "cosformer", "M from the padded length in the default"),
    Mutation("cos_m_off_by_one", ATTN + "cosformer.py", "m = real_lengths(key_padding_mask, B, N, q.device).to(q.dtype)",
             "m = (real_lengths(key_padding_mask, B, N, q.device) + 1).to(q.dtype)", (ORACLES,), "cosformer",
             "an off-by-one in M (positions 0..N-1 instead of 1..N would be an equivalent mutant: only i - j counts)"),
    Mutation("cos_eps_added", ATTN + "cosformer.py", 'eps=self.eps, eps_mode="clamp",\n',
             'eps=self.eps, eps_mode="add",\n', (ORACLES,), "cosformer", "eps added instead of clamped"),
    Mutation("cos_angle_pi", ATTN + "cosformer.py", "(math.pi / 2) * position / m", "math.pi * position / m",
             (ORACLES,), "cosformer", "the re-weighting angle doubled"),
    # -- the shared linear core, linear, softmax -------------------------------------------------------------
    Mutation("core_chunk_state_not_shifted", ATTN + "linear_core.py",
             "kv = torch.cat([torch.zeros_like(kv[:, :, :1]), kv[:, :, :-1]], dim=2)", "kv = kv",
             (ORACLES, CONFORMANCE), "cosformer or linear", "a causal leak: a chunk sees its own state"),
    Mutation("core_strict_tril", ATTN + "linear_core.py", "tril = torch.ones(C, C, dtype=torch.bool, device=f.device).tril()",
             "tril = torch.ones(C, C, dtype=torch.bool, device=f.device).tril(-1)", (ORACLES,), "cosformer or linear",
             "a query missing its own key (off by one)"),
    Mutation("core_padded_keys_counted", ATTN + "linear_core.py",
             "        g = g * key_padding_mask[:, None, :, None].to(g.dtype)\n", "        pass\n",
             (ORACLES, CONFORMANCE), "linear or cosformer", "a padding mask dropped"),
    Mutation("softmax_unscaled", ATTN + "softmax.py", "return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)",
             "return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=1.0)", (ORACLES,), "softmax",
             "softmax without 1/sqrt(d)"),
    # -- Latte -----------------------------------------------------------------------------------------------
    Mutation("latte_no_q_drop", ATTN + "latte.py", "p_latent = F.dropout(p_latent, self.latent_dropout, self.training)",
             "p_latent = p_latent", (ORACLES,), "latte", "the authors' Q_drop missing"),
    Mutation("latte_scaled_logits", ATTN + "latte.py", "        p_latent = q.softmax(dim=-1)\n",
             "        p_latent = (q * q.shape[-1] ** -0.5).softmax(dim=-1)\n", (ORACLES,), "latte",
             "a softmax scale Latte does not have"),
    Mutation("latte_chunk_sees_itself", ATTN + "latte.py", "tril(-1)[None, None, :, :, None]",
             "tril(0)[None, None, :, :, None]", (ORACLES, CONFORMANCE), "latte", "a chunk's state counted twice"),
    Mutation("latte_padded_keys_counted", ATTN + "latte.py",
             "            k = k.masked_fill(~key_padding_mask[:, None, :, None], float(\"-inf\"))\n",
             "            pass\n", (ORACLES, CONFORMANCE), "latte", "a padding mask dropped"),
    # -- Combiner-Fixed, Axial, Mixture (the Axial residual is named in issue 17) --------------------------
    Mutation("axial_head_proj_no_residual", ATTN + "combiner_axial.py", "self.summary_norm(k_sum + torch.einsum(",
             "self.summary_norm(0 * k_sum + torch.einsum(", (ORACLES, CONFORMANCE), "axial",
             "the residual removed from the summary key (issue 17)"),
    Mutation("axial_missing_summary_dropped", ATTN + "combiner_axial.py",
             "region_ok = visible[None, None, :, None, :] & row_real[:, :, None, None, :]",
             "region_ok = visible[None, None, :, None, :] & real_r.transpose(-1, -2)[:, :, None, :, :]",
             (ORACLES, CONFORMANCE, GRID), "axial", "a short row's tokens get weight 0 (the old defect)"),
    Mutation("grid_rows_from_ceil", ATTN + "masking.py", "m = row_length or math.isqrt(max_len)",
             "m = row_length or math.ceil(math.sqrt(max_len))", (GRID,), "", "rows of 33 on Image (the old layout)"),
    Mutation("grid_no_front_fill", ATTN + "masking.py", "return m, (-max_len) % m", "return m, 0",
             (ORACLES, GRID), "axial or grid", "CLS starts the first pixel row"),
    Mutation("axial_wsum_of_values", ATTN + "combiner_axial.py", "k_hat = p_row @ kr", "k_hat = p_row @ vr",
             (ORACLES,), "axial", "wsum summing values"),
    Mutation("axial_causal_sees_own_row_summary", ATTN + "combiner_axial.py",
             "visible = (other < own) if self.causal", "visible = (other <= own) if self.causal",
             (ORACLES, CONFORMANCE), "axial", "a causal leak through the own row's summary"),
    Mutation("combiner_log_size_correction", ATTN + "combiner.py",
             'region = torch.einsum("bhnid,bhrd->bhnir", qb, k_hat) * scale',
             'region = torch.einsum("bhnid,bhrd->bhnir", qb, k_hat) * scale + math.log(s)', (ORACLES,),
             "combiner and not axial and not mixture", "a log-size correction the paper does not have"),
    Mutation("combiner_mean_pooled_key", ATTN + "combiner.py", "k_hat = kb.masked_fill(~real_e, neg).amax(dim=3)",
             "k_hat = kb.masked_fill(~real_e, 0.0).mean(dim=3)", (ORACLES,), "combiner and not axial and not mixture",
             "mean pooling instead of max"),
    Mutation("combiner_causal_own_block_summary", ATTN + "combiner.py", "visible = (other < own) if self.causal",
             "visible = (other <= own) if self.causal", (ORACLES, CONFORMANCE), "combiner and not axial and not mixture",
             "a causal leak through the own block's summary"),
    Mutation("mixture_column_sees_own_row", ATTN + "combiner_mixture.py",
             "earlier_row = rows[None, :] < rows[:, None]", "earlier_row = rows[None, :] <= rows[:, None]",
             (ORACLES, CONFORMANCE), "mixture", "the own row counted twice"),
    # -- Element-wise Attention ------------------------------------------------------------------------------
    Mutation("ea_causal_no_running_max", ATTN + "elementwise.py",
             "shift = log_w.cummax(dim=2).values.clamp_min(torch.finfo(log_w.dtype).min).detach()",
             "shift = torch.zeros_like(log_w)", (ORACLES,), "elementwise", "a missing shift (issue 17's collapse)"),
    Mutation("ea_kappa_halved", ATTN + "elementwise.py", "        kappa = 2.0 / self.tau\n        num",
             "        kappa = 1.0 / self.tau\n        num", (ORACLES,), "elementwise", "kappa = 1/tau instead of 2/tau"),
    Mutation("ea_wrong_sign", ATTN + "elementwise.py", "log_w = -k * k / self.tau  # [B, H, N, d]",
             "log_w = k * k / self.tau  # [B, H, N, d]", (ORACLES,), "elementwise", "a wrong sign"),
    Mutation("ea_odd_order_accepted", ATTN + "elementwise.py", "if order < 0 or order % 2:", "if order < 0:",
             (ORACLES,), "elementwise", "odd Taylor orders accepted"),
    # -- The LRA baselines we had, rechecked against LRA's code (issue 22) -------------------------------------
    Mutation("performer_no_kernel_epsilon", ATTN + "performer.py", "KERNEL_EPSILON = 0.001", "KERNEL_EPSILON = 0.0",
             (LRA_ORACLES,), "performer", "the generalized kernel's +0.001 dropped"),
    Mutation("performer_generalized_scaled", ATTN + "performer.py",
             "return F.relu(q) + KERNEL_EPSILON, F.relu(k) + KERNEL_EPSILON",
             "return F.relu(q * q.shape[-1] ** -0.25) + KERNEL_EPSILON, F.relu(k * k.shape[-1] ** -0.25) + KERNEL_EPSILON",
             (LRA_ORACLES,), "performer", "d^(-1/4) data scaling (LRA's generalized kernel has normalize_data=False)"),
    Mutation("performer_default_favor", ATTN + "performer.py", 'attention_fn: str = "generalized"',
             'attention_fn: str = "softmax"', (LRA_ORACLES,), "performer", "FAVOR+ as the default"),
    Mutation("performer_masks_by_default", ATTN + "performer.py", "redraw_features: bool = False, mask_padding: bool = False",
             "redraw_features: bool = False, mask_padding: bool = True", (LRA_ORACLES,), "performer",
             "padding masked by default (LRA ignores it)"),
    Mutation("performer_favor_key_max_per_key", ATTN + "performer.py", "top = dk.amax(dim=(2, 3), keepdim=True)",
             "top = dk.amax(dim=3, keepdim=True)", (LRA_ORACLES,), "performer",
             "a per-key shift (does not cancel in the ratio)"),
    Mutation("performer_favor_no_feature_stabilizer", ATTN + "performer.py",
             "return f, ratio * (torch.exp(dk - diag_k - top.detach()) + SOFTMAX_STABILIZER)",
             "return f, ratio * torch.exp(dk - diag_k - top.detach())", (LRA_ORACLES,), "performer",
             "FAVOR+ key features without LRA's +1e-6"),
    Mutation("linformer_unshared_default", ATTN + "linformer.py", "share_kv: bool = True", "share_kv: bool = False",
             (LRA_ORACLES,), "linformer", "separate E and F by default (LRA shares one kernel)"),
    Mutation("linformer_k256", ATTN + "linformer.py", "proj_len: int = 16", "proj_len: int = 256", (LRA_ORACLES,),
             "linformer", "the paper's k instead of LRA's 16"),
    Mutation("linformer_masks_by_default", ATTN + "linformer.py", "share_kv: bool = True,\n                 mask_padding: bool = False",
             "share_kv: bool = True,\n                 mask_padding: bool = True", (LRA_ORACLES,), "linformer",
             "padding masked by default (LRA passes bias=None)"),
    Mutation("linformer_normal_init", ATTN + "linformer.py",
             "self.E = nn.Parameter(nn.init.xavier_uniform_(torch.empty(proj_len, max_len)))",
             "self.E = nn.Parameter(torch.randn(proj_len, max_len) / max_len**0.5)", (LRA_ORACLES,), "linformer",
             "our earlier N(0, 1/max_len) init instead of LRA's xavier_uniform"),
    Mutation("local_consecutive_default", ATTN + "local.py", 'pattern: str = "strided"', 'pattern: str = "consecutive"',
             (LRA_ORACLES,), "local", "consecutive blocks by default"),
    Mutation("local_consecutive_groups", ATTN + "local.py",
             "(t.reshape(B, H, block, groups, -1).transpose(2, 3) for t in (q, k, v))",
             "(t.reshape(B, H, groups, block, -1) for t in (q, k, v))", (LRA_ORACLES,), "local",
             "consecutive instead of strided groups"),
    Mutation("local_mask_aligned", ATTN + "local.py", "real = F.pad(real, (0, fill), value=True).reshape(B, groups, block)",
             "real = F.pad(real, (0, fill), value=True).reshape(B, block, groups).transpose(1, 2)", (LRA_ORACLES,),
             "local", "the padding mask aligned with the strided groups (LRA's is cut in consecutive blocks)"),
    Mutation("local_fill_masked", ATTN + "local.py", "F.pad(real, (0, fill), value=True)", "F.pad(real, (0, fill), value=False)",
             (LRA_ORACLES,), "local", "fill tokens masked (LRA's padded mask is True there)"),
    Mutation("local_no_whole_fill_block", ATTN + "local.py", "fill = block - N % block", "fill = (-N) % block",
             (LRA_ORACLES,), "local", "no fill block when b divides N (LRA adds a whole one)"),
    Mutation("local_block_64", ATTN + "local.py", "block_size: int = 50", "block_size: int = 64", (LRA_ORACLES,), "local",
             "the Image/Pathfinder block length as the default"),
    Mutation("linear_masks_by_default", ATTN + "linear.py", "mask_padding: bool = False):", "mask_padding: bool = True):",
             (LRA_ORACLES,), "linear", "padding masked by default (LRA's LinearAttention passes no mask)"),
]


def patched(mutation: Mutation, text: str) -> str:
    """`text` with the mutation applied; an error when `old` does not occur exactly once."""
    count = text.count(mutation.old)
    if count != 1:
        raise ValueError(f"mutation {mutation.id}: `{mutation.old}` occurs {count} times in {mutation.file}, expected once")
    return text.replace(mutation.old, mutation.new)


def apply(mutation: Mutation, root: Path) -> None:
    path = root / mutation.file
    path.write_text(patched(mutation, path.read_text()))


def copy_project(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


def run(mutation: Mutation | None, tests=(), k: str = "") -> int:
    """pytest's exit code on a fresh copy with `mutation` applied (None: unmutated, with `tests`, `k`)."""
    with tempfile.TemporaryDirectory(prefix="lra-mutation-") as tmp:
        root = Path(tmp)
        copy_project(root)
        if mutation is not None:
            apply(mutation, root)
            tests, k = mutation.tests, mutation.k
        env = {**os.environ, "PYTHONPATH": str(root), "WANDB_MODE": "offline", "LRA_BENCH_INCLUDE": ""}
        check = (f"import lra_bench, sys; sys.exit(0 if lra_bench.__file__.startswith({str(root)!r}) else 3)")
        if subprocess.run([sys.executable, "-c", check], cwd=root, env=env).returncode != 0:
            raise RuntimeError("the temporary copy is not the lra_bench that Python imports")
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests, *(["-k", k] if k else [])]
        return subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation ids")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    opts = parser.parse_args(argv)
    chosen = [m for m in CATALOGUE if not opts.only or m.id in opts.only.split(",")]
    if opts.list:
        for m in chosen:
            print(f"{m.id:36s} {m.file.split('/')[-1]:20s} {m.why}")
        return 0
    for m in chosen:  # fail fast on a catalogue that no longer matches the source
        patched(m, (ROOT / m.file).read_text())
    survivors, start = [], time.time()
    for n, m in enumerate(chosen, 1):
        code = run(m)
        fate = "killed" if code == 1 else "SURVIVED" if code == 0 else f"ERROR (pytest exit {code})"
        if code != 1:
            survivors.append(m.id)
        print(f"[{n:2d}/{len(chosen)}] {m.id:36s} {fate}", flush=True)
    killed = len(chosen) - len(survivors)
    print(f"mutation score: {killed}/{len(chosen)} = {100 * killed / len(chosen):.1f}% killed "
          f"({time.time() - start:.0f} s)")
    print("survivors: " + (", ".join(survivors) if survivors else "none"))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

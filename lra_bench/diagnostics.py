"""`lra-bench diagnose`: how each variant's attention is distributed and how concentrated it is.

For a model (trained, from a run's best checkpoint, or at initialisation) on a batch of its task, each
layer's and head's effective attention matrix A (output = A V; `Attention.attention_matrix`) is
measured over real query and key positions:
- row entropy (nats), mean and spread over rows;
- concentration = 1 - entropy / log(n): 0 for uniform rows, 1 for one-hot. The LLN paper (Nahshan et
  al., ICLR 2024) studies concentration through entropy and the spectral gap; its exact normalisation
  could not be read where this was written, so this is ours, stated here;
- spectral gap 1 - |lambda_2| of the row-stochastic matrix (how fast attention mixes);
- variance of log(A_ij) over positive entries: the log-normality quantity LLN matches to softmax's;
- top-5 mass: the share of a row on its 5 largest entries ("spikiness", Element-wise Attention's claim).
Matrices that are not row-stochastic (Linformer's and Nystromformer's may have negative entries) are
measured on their clipped, renormalised rows, and their negative mass is reported.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from .attention import attention_schema, build_attention, get_attention_class  # noqa: E402

METRICS = ["entropy_mean", "entropy_std", "concentration", "spectral_gap", "log_variance", "top5_mass",
           "negative_mass"]


def capture_attention_inputs(model: torch.nn.Module, tokens: torch.Tensor) -> list[tuple]:
    """Run the model once; return each layer's (attention module, q, k, v, key_padding_mask)."""
    captured, hooks = [], []
    for block in model.encoder.blocks:
        module = block.attn.attention
        hooks.append(module.register_forward_pre_hook(
            lambda mod, args, module=module: captured.append((module, args[0], args[1], args[2],
                                                              args[3] if len(args) > 3 else None))))
    try:
        with torch.no_grad():
            model(tokens)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def matrix_metrics(A: torch.Tensor, real: torch.Tensor) -> dict:
    """Metrics of one [N, N] matrix over its real rows and columns (`real`: [N] bool)."""
    A = A[real][:, real].double()
    negative = A.clamp_max(0).abs().sum() / A.abs().sum().clamp_min(1e-30)
    P = A.clamp_min(0)
    P = P / P.sum(dim=-1, keepdim=True).clamp_min(1e-30)
    n = P.shape[-1]
    entropy = -(P * P.clamp_min(1e-30).log()).sum(dim=-1)
    eigen = torch.linalg.eigvals(P).abs().sort(descending=True).values
    positive = P[P > 0]
    return {"entropy_mean": entropy.mean().item(), "entropy_std": entropy.std().item() if n > 1 else 0.0,
            "concentration": (1 - entropy / math.log(n)).mean().item() if n > 1 else 1.0,
            "spectral_gap": (1 - eigen[1]).item() if n > 1 else 1.0,
            "log_variance": positive.log().var().item() if positive.numel() > 1 else 0.0,
            "top5_mass": P.topk(min(5, n), dim=-1).values.sum(dim=-1).mean().item(),
            "negative_mass": negative.item()}


def diagnose_model(model: torch.nn.Module, tokens: torch.Tensor) -> tuple[pd.DataFrame, list[torch.Tensor]]:
    """Per (layer, head, example) metrics, and each layer's matrices [B, H, N, N]."""
    rows, matrices = [], []
    for layer, (module, q, k, v, mask) in enumerate(capture_attention_inputs(model, tokens)):
        with torch.no_grad():
            A = module.attention_matrix(q, k, mask, v=v)
        matrices.append(A)
        real = mask if mask is not None else torch.ones(q.shape[0], q.shape[2], dtype=torch.bool)
        for b in range(A.shape[0]):
            for h in range(A.shape[1]):
                rows.append({"layer": layer, "head": h, "example": b, **matrix_metrics(A[b, h], real[b])})
    return pd.DataFrame(rows), matrices


def gaussian_metrics(names: list[str], lengths=(16, 32, 64, 128, 256), dim_head: int = 64, seed: int = 0):
    """Each attention alone at initialisation on N(0, 1) queries and keys (the LLN paper's setting), in its
    non-causal form (a causal-only variant is left out)."""
    rows = []
    for name in (n for n in names if get_attention_class(n).has_form(causal=False)):
        torch.manual_seed(seed)
        module = build_attention(attention_schema(name)(name=name), dim_head=dim_head, num_heads=1, causal=False,
                                 max_len=max(lengths)).double()
        for n in lengths:
            g = torch.Generator().manual_seed(seed + n)
            q, k, v = (torch.randn(1, 1, n, dim_head, generator=g, dtype=torch.float64) for _ in range(3))
            with torch.no_grad():
                A = module.attention_matrix(q, k, None, v=v)[0, 0]
            rows.append({"attention": name, "length": n, **matrix_metrics(A, torch.ones(n, dtype=torch.bool))})
    return pd.DataFrame(rows)


def plot_maps(maps: dict, path, title: str):
    """One example's layer-0 head-0 attention matrix per variant, side by side."""
    names = list(maps)
    cols = min(6, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        A = maps[name].clamp_min(0)
        ax.imshow(A.numpy(), cmap="viridis", vmin=0, vmax=float(A.max()) or 1.0)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_entropy_vs_length(gaussian: pd.DataFrame, path):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, group) in enumerate(gaussian.groupby("attention")):
        style = {"color": "k", "lw": 2.5} if name == "softmax" else {"color": plt.cm.tab20(i % 20)}
        ax.plot(group.length, group.entropy_mean, marker="o", label=name, **style)
    lengths = sorted(gaussian.length.unique())
    ax.plot(lengths, [math.log(n) for n in lengths], "k--", lw=1, label="uniform (log n)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length")
    ax.set_ylabel("mean row entropy (nats)")
    ax.set_title("attention entropy at initialisation, N(0,1) queries and keys, d = 64")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: list[str]) -> int:
    """`lra-bench diagnose [--attentions ...] [--trained] [overrides]`: table and figures per variant."""
    import argparse
    from datetime import datetime, timezone
    from pathlib import Path

    from .attention import list_attentions
    from .compose import check_overrides, compose
    from .config import PROJECT_ROOT, validate_run_config
    from .data import load_task
    from .model import Classifier
    from .results import RECORD_VERSION, DiagnosticsRecord, RunRecord, load_records, write_record
    from .data.pipeline import take

    parser = argparse.ArgumentParser(prog="lra-bench diagnose", description=__doc__.splitlines()[0])
    parser.add_argument("--attentions", default="all", help="comma-separated names, or all")
    parser.add_argument("--examples", type=int, default=4, help="examples of the task's validation split")
    parser.add_argument("--trained", action="store_true",
                        help="use each variant's latest completed run of this task (its best checkpoint)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "results"), help="where the table and figures go")
    parser.add_argument("--wandb", action="store_true", help="also log the rows and figures to W&B (job_type "
                        "diagnose, grouped by task; WANDB_MODE, offline when unset)")
    opts, overrides = parser.parse_known_args(args)
    names = list_attentions() if opts.attentions == "all" else opts.attentions.split(",")
    check_overrides([*overrides, f"attention={names[0]}"])
    first = validate_run_config(compose([*overrides, f"attention={names[0]}"]))
    if opts.attentions == "all":  # the variants with this task's form
        names = [n for n in names if get_attention_class(n).has_form(first.model.causal)]
    rows, maps = [], {}
    for name in names:
        run = validate_run_config(compose([*overrides, f"attention={name}"]))
        data = load_task(run.task, run.paths.data_dir)
        torch.manual_seed(run.seed)
        model = Classifier(run.model, run.attention, data.vocab_size, run.task.max_len, data.num_classes,
                           two_tower=getattr(run.task, "two_tower", False))
        source = "initialisation"
        if opts.trained:
            done = [r for r in load_records(run.paths.store_dir) if isinstance(r, RunRecord) and r.status == "ok"
                    and r.task == run.task.name and r.attention == name and r.checkpoint_dir]
            if not done:
                print(f"  {name}: no completed run of {run.task.name} in {run.paths.store_dir}; skipped")
                continue
            latest = max(done, key=lambda r: r.finished_at)
            model.load_state_dict(torch.load(Path(latest.checkpoint_dir) / "best.pt", weights_only=True)["model"])
            source = f"run {latest.run_id}"
        model.eval()
        tokens, _ = take(data.val, torch.arange(min(opts.examples, len(data.val))))
        per_head, matrices = diagnose_model(model, tokens)
        rows.append({"attention": name, "source": source, **per_head[METRICS].mean().to_dict()})
        real = int((tokens[0] != 0).sum())
        maps[name] = matrices[0][0, 0, :real, :real]
        print(f"  {name:14s} entropy {rows[-1]['entropy_mean']:.3f}  concentration {rows[-1]['concentration']:.3f}"
              f"  log-variance {rows[-1]['log_variance']:.3f}  top-5 mass {rows[-1]['top5_mass']:.3f}")
    table = pd.DataFrame(rows).set_index("attention")
    gaussian = gaussian_metrics(names)
    out = Path(opts.out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    task = first.task.name
    what = "trained" if opts.trained else "at initialisation"
    plot_maps(maps, out / "plots" / "attention_maps.png", f"{task}, one validation example, layer 0 head 0, {what}")
    plot_entropy_vs_length(gaussian, out / "plots" / "entropy_vs_length.png")
    at_256 = gaussian[gaussian.length == gaussian.length.max()].set_index("attention")[METRICS]
    text = (f"## Attention diagnostics: {task}, {what} ({opts.examples} validation examples, mean over layers, "
            f"heads and examples)\n\n{table.round(4).to_markdown()}\n\n"
            f"## At initialisation on N(0,1) queries and keys (n = {gaussian.length.max()}, d = 64)\n\n"
            f"{at_256.round(4).to_markdown()}\n")
    (out / "diagnostics.md").write_text(text)
    store = first.paths.store_dir
    stamp = datetime.now(timezone.utc)
    record = DiagnosticsRecord(run_id=f"diagnostics__{task}__{stamp.strftime('%Y%m%dT%H%M%S')}", task=task,
                               trained=opts.trained, finished_at=stamp.isoformat(),
                               rows=table.reset_index().to_dict("records"), gaussian=gaussian.to_dict("records"),
                               version=RECORD_VERSION)
    write_record(store, record.to_json())
    print("\n" + text)
    plots = {f"plots/{name}": out / "plots" / f"{name}.png" for name in ("attention_maps", "entropy_vs_length")}
    print("written:\n  " + "\n  ".join(str(p) for p in (out / "diagnostics.md", *plots.values())))
    if opts.wandb:
        log_diagnostics(table, gaussian, plots, task, {"task": task, "trained": opts.trained,
                                                       "examples": opts.examples, "attentions": names})
    return 0


def log_diagnostics(table: pd.DataFrame, gaussian: pd.DataFrame, plots: dict, task: str, settings: dict):
    """The diagnostics rows as a `wandb.Table` (and the Gaussian-input rows and the figures) in a W&B run
    of job_type `diagnose`, grouped by task beside that task's training runs."""
    from .config import PROJECT_ROOT
    from .tracking import command_tracker

    tracker = command_tracker("diagnose", PROJECT_ROOT / "outputs" / "diagnose", settings, group=task)
    tracker.table("diagnostics", table, plots=plots)
    tracker.table("diagnostics_gaussian", gaussian)
    print(f"W&B: {tracker.path}")
    tracker.finish()

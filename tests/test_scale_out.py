"""Scale-out (issue 20, defect 7): the whole sweep is ONE Hydra multirun (one job array under
submitit), impossible task x variant pairs are n/a in the summary, and the summary comes from the
store after the launcher returns, under any launcher."""

import json

from lra_bench.attention import get_attention_class, list_attentions
from lra_bench.cli import main


def test_lra_full_under_submitit_is_one_job_array(workspace, monkeypatch, capsys):
    import submitit

    submissions = []

    def count(self, fn, *iterables):  # what Hydra's submitit launcher calls once per job array
        submissions.append([list(params[0]) for params in zip(*iterables)])
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", count)
    code = main(["sweep", "sweep=lra_full", "hydra/launcher=submitit_local",
                 *workspace.overrides("logger=none", "trainer.max_steps=2", tiny=False)])
    out = capsys.readouterr().out
    noncausal = [n for n in list_attentions() if get_attention_class(n).has_form(causal=False)]
    assert len(submissions) == 1, "one job array, not one per task"
    (jobs,) = submissions
    assert len(jobs) == 6 * len(noncausal) * 3
    assert sorted({o for job in jobs for o in job if o.startswith("experiment=")}) == [
        f"experiment=lra/{t}" for t in ("image", "listops", "pathfinder", "pathx", "retrieval", "text")]
    assert all("trainer.max_steps=2" in job for job in jobs)
    impossible = len(list_attentions()) - len(noncausal)
    assert code == 1 and f"{len(jobs)} no result" in out and f"{6 * impossible} n/a" in out
    (summary,) = workspace.store.glob(".sweeps/*/summary.json")
    pairs = json.loads(summary.read_text())["not_applicable"]
    assert {p["attention"] for p in pairs} == set(list_attentions()) - set(noncausal)
    assert all(p["reason"] == "causal only" for p in pairs)


def test_the_summary_comes_from_the_store_under_joblib(workspace):
    """Under joblib the jobs run in worker processes: the parent still prints the tally."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lra_bench.cli", "sweep", "hydra/launcher=local_parallel",
                           "task=listops_small", "attention=softmax,linear", *workspace.overrides()],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sweep finished: 2 ok" in proc.stdout
    assert len(list((workspace.root / "out" / "sweep").glob("multirun.yaml"))) == 1

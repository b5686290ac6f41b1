"""Scale-out (issue 20, defect 7): the whole sweep is ONE Hydra multirun (one job array under
submitit), impossible task x variant pairs are n/a in the summary, and the summary comes from the
store after the launcher returns, under any launcher."""

import json

import pytest

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


def test_slurm_launcher_requeues_on_timeout():
    from hydra import compose, initialize_config_dir

    from lra_bench.compose import register_generated_nodes
    from lra_bench.config import CONF_DIR

    register_generated_nodes()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.max_num_timeout >= 1
    assert launcher.gpus_per_node == 2


def test_slurm_tasks_become_ddp_ranks(monkeypatch):
    from lra_bench.runner import map_slurm_tasks_to_ranks
    from lra_bench.train import DataParallel

    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
             "SLURM_NODEID": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]",
             "SLURM_STEP_NODELIST": "gpu[07-08]"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    map_slurm_tasks_to_ranks()
    parallel = DataParallel()
    assert (parallel.rank, parallel.world) == (3, 4)
    import os
    assert os.environ["LOCAL_RANK"] == "1" and os.environ["MASTER_ADDR"] == "gpu07"
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"):
        os.environ.pop(key, None)  # written outside monkeypatch: it must not restore them after the test


def test_parallel_jobs_prepare_the_same_data_once(tmp_path, monkeypatch):
    """Two jobs needing the same generated ListOps: one generates, the other waits and reads it."""
    import threading
    import time

    from lra_bench.data import listops, load_task, task_schema

    calls = []
    real = listops.generate_examples

    def slow_generate(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(listops, "generate_examples", slow_generate)
    cfg = task_schema("listops")(name="l", family="listops", num_classes=10, max_len=48, num_train=64, num_val=16,
                                 num_test=16, min_length=4, max_length=48, max_depth=4, max_args=3, workers=1)
    sizes = []
    threads = [threading.Thread(target=lambda: sizes.append(len(load_task(cfg, str(tmp_path)).train)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sizes == [64, 64] and len(calls) == 1


def test_gradient_accumulation_follows_one_pass(workspace):
    """trainer.accumulate_grad_batches=4: the published batch in four passes, the same training."""
    curves = {}
    for parts in (1, 4):
        store = workspace.root / f"runs{parts}"
        assert main(["train", *workspace.overrides(
            "model.dropout=0", "trainer.log_every=1", f"trainer.accumulate_grad_batches={parts}",
            f"paths.store_dir={store}", f"paths.checkpoint_dir={workspace.root / f'ckpt{parts}'}")]) == 0
        (path,) = store.glob("*.json")
        curves[parts] = json.loads(path.read_text())["loss_curve"]
    assert len(curves[1]) == 6
    for (step, one), (_, four) in zip(curves[1], curves[4]):
        assert four == pytest.approx(one, rel=1e-4, abs=1e-5), step


def test_accumulation_must_divide_the_batch(workspace, capsys):
    assert main(["train", *workspace.overrides("trainer.accumulate_grad_batches=5")]) == 2
    assert "trainer.accumulate_grad_batches: expected a divisor of trainer.batch_size=16, got 5" in capsys.readouterr().err


def test_progress_goes_to_the_job_log(workspace):
    assert main(["train", *workspace.overrides(f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    (job_log,) = (workspace.root / "out" / "run").glob("*.log")
    text = job_log.read_text()
    assert "step 3/6: train loss" in text and "step 6/6: train loss" in text and ": ok" in text


@pytest.mark.slow  # starting a local Ray cluster takes ~30 s and >1 GB: past the default suite's budget
def test_ray_launcher_runs_a_two_job_sweep(workspace):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="pip install lra-bench[ray]")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lra_bench.cli", "sweep", "hydra/launcher=ray", "task=listops_small",
                           "attention=softmax,linear", *workspace.overrides()], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep finished: 2 ok" in proc.stdout

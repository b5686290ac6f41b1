"""The device a job runs on, its name in a record, and the peak memory it used.

`resolve_device` turns `auto` into CUDA when there is one; `describe_device` is the one spelling of
a device in every record (run and bench). Two peaks, for two questions: `PeakMemory` is a whole run's
(the CUDA allocator's peak on a GPU, the process's peak RSS on a CPU); `step_peak_bytes` is one
step's bytes allocated by PyTorch (the allocator on CUDA; on a CPU the profiler's per-op memory
records replayed, deterministic unlike RSS), which the benchmark compares across variants.

For a run on Linux the RSS peak (VmHWM) is reset at run start by writing 5 to /proc/self/clear_refs, so runs
that share a process (Hydra's basic launcher) each get their own peak; where that is not possible the
counter name says the peak is process-wide.
"""

from __future__ import annotations

import platform
import resource
from pathlib import Path

import torch


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; anything else as torch spells it (`cuda:1`)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device | str) -> str:
    """The GPU's name, or the CPU's architecture and thread count: the `device` field of every record."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"


def step_peak_bytes(step, device: torch.device | str) -> int:
    """Peak bytes PyTorch allocates while `step()` runs, above what was allocated before it."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    return cpu_peak_bytes(step)


def cpu_peak_bytes(step) -> int:
    """Peak of live bytes allocated by PyTorch during `step`, from the profiler's memory records."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


class PeakMemory:
    """A whole run's peak memory; `counter` names what was measured (stored beside the number)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.counter = "cuda_max_memory_allocated"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        elif _reset_rss_peak():
            self.counter = "process_peak_rss (reset at run start)"
        else:
            self.counter = "process_peak_rss (since process start)"

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        status = Path("/proc/self/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False

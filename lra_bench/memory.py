"""Peak memory of one run: the CUDA allocator's peak on a GPU, the process's peak RSS on a CPU.

On Linux the RSS peak (VmHWM) is reset at run start by writing 5 to /proc/self/clear_refs, so runs
that share a process (Hydra's basic launcher) each get their own peak; where that is not possible the
counter name says the peak is process-wide.
"""

from __future__ import annotations

import resource
from pathlib import Path

import torch


class PeakMemory:
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

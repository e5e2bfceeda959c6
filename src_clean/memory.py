"""This process's memory, as the kernel counts it (Linux ``/proc/self/status``).

``VmHWM`` is the peak resident set of the process's *own* address space. Unlike
``getrusage().ru_maxrss`` it does not inherit the parent's peak across fork + exec (with
``vfork`` the parent's whole peak is charged to the child), so a child measures itself.
"""

from __future__ import annotations

import re
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def peak_rss_mb() -> float:
    """Peak resident memory in MiB since the process began or the last ``reset_peak_rss``."""
    return _status_kb("VmHWM") / 1024


def rss_mb() -> float:
    """Resident memory now, in MiB."""
    return _status_kb("VmRSS") / 1024


def reset_peak_rss() -> None:
    """Start a new peak window (writing 5 to ``clear_refs`` resets ``VmHWM``)."""
    Path("/proc/self/clear_refs").write_text("5")


# Peak resident bytes a stage needs per article it holds, with margin: bronze news peaked
# at 2.8 GB for 600k articles (20k a day, 30 days; docs/performance.md), 4.6 KB each with
# the interpreter's own 300 MB counted in.
BYTES_PER_ARTICLE = 8 * 1024


def articles_per_chunk(memory_budget_mb: int) -> int:
    """How many articles one batch or chunk may hold within ``memory_budget_mb``."""
    return max(1, memory_budget_mb * 2**20 // BYTES_PER_ARTICLE)

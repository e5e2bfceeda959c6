"""What the engines can run on here, as torch sees it: CUDA, and the CPU's feature flags.

``auto`` takes fp16 on CUDA without measuring (``engines.choose_engine``); on a CPU the
flags say whether bf16 runs natively and key the cached engine choice. Without torch
there is no CUDA to use.
"""

from __future__ import annotations

from src_clean.data_pipelines.silver.scoring.base import cpu_flags, torch_installed


def torch_hardware(device: str) -> tuple[bool, frozenset[str]]:
    """(CUDA will be used, CPU flags) as torch sees them; (False, {}) without torch."""
    if not torch_installed():
        return False, frozenset()
    if device == "cpu":
        return False, cpu_flags()
    import torch

    cuda = torch.cuda.is_available() if device == "auto" else torch.device(device).type == "cuda"
    return cuda, cpu_flags()

"""`make demo`'s pipeline succeeds quietly: no WARNING or ERROR line but the ones it means.

The only warnings a demo on a machine without the FinBERT checkpoint is meant to print are
the hub being out of reach and the loud banner that the lexicon scorer stands in for it
(`--demo-fallback`); everything else (progress bars, third-party deprecations, MLflow's
artifact bars) is noise that hides a real warning, and fails this test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MEANT = (
    re.compile(
        r"WARNING src_clean\.data_pipelines\.silver\.scoring\.transformers_backend: "
        r"Hugging Face hub huggingface\.co unreachable"
    ),  # fmt: skip
    re.compile(r"WARNING src_clean\.data_pipelines\.silver\.scoring\.loading: !+$"),
    re.compile(
        r"WARNING src_clean\.data_pipelines\.silver\.model_registry: .* fell back to the "
        r"lexicon scorer"
    ),  # fmt: skip
)
NOISE = re.compile(r"\b(WARNING|ERROR|CRITICAL|Traceback|Warning:|DeprecationWarning)\b")


def test_the_demo_prints_no_warning_it_does_not_mean(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SP500_"))}
    argv = [sys.executable, str(REPO / "src_clean/run_full_pipeline.py"), "--demo"]
    argv += ["--lake", str(tmp_path / "lake"), "--demo-days", "30"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (done.stdout + done.stderr).splitlines()
    unexpected = [
        line for line in lines if NOISE.search(line) and not any(m.search(line) for m in MEANT)
    ]
    assert unexpected == []
    assert "news is significant at 5%" in done.stdout or "not significant" in done.stdout
    assert re.search(r"Tear sheet: +\S+/reports/verdict/\w+\.html", done.stdout)
    # nothing lands in the working directory: the lake holds MLflow's store and artifacts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]

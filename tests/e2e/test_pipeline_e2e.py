"""run_full_pipeline end to end on generated data: finds planted signal, invents none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src_clean import tables
from src_clean.lake import Lake
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, effect_bps: float, until: str = "train") -> dict:
    cfg = PipelineConfig(
        output_dir=tmp_path,
        demo=True,
        demo_days=30,
        sentiment_model="lexicon",
        news_effect_bps=effect_bps,
        until=until,
    )
    return run_pipeline(cfg)


def _row_counts(lake: Lake) -> dict[str, int]:
    return {t: len(lake.read(t)) for t in tables.LAYER_TABLES}


def test_planted_news_effect_is_found_and_rerun_is_idempotent(tmp_path: Path) -> None:
    summary = _run(tmp_path, effect_bps=25.0)
    with_news, market_only = summary["with_news"], summary["market_only"]
    assert with_news["test_directional_accuracy"] > market_only["test_directional_accuracy"]
    assert summary["uplift"]["ic"]["ci_low"] > 0
    assert set(summary["baselines"]) >= {"zero_return", "previous_return_sign"}
    assert summary["sentiment_model_id"].startswith("lexicon:")
    on_disk = json.loads((tmp_path / tables.TRAINING_SUMMARY).read_text())
    assert on_disk["mlflow_run_id"] == summary["mlflow_run_id"]

    lake = Lake(tmp_path)
    before = _row_counts(lake)
    assert all(before.values()), before
    _run(tmp_path, effect_bps=25.0, until="gold")
    assert _row_counts(lake) == before


def test_zero_effect_uplift_interval_covers_zero(tmp_path: Path) -> None:
    uplift = _run(tmp_path, effect_bps=0.0)["uplift"]
    for metric in ("directional_accuracy", "ic"):
        assert uplift[metric]["ci_low"] <= 0 <= uplift[metric]["ci_high"], uplift

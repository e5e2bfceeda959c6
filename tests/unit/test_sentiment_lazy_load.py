"""silver-sentiment loads its model only when an article needs scoring (issue 16, fix 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_sentiment_stage import articles
from tiny_bert import FINBERT_TONE_ORDER, build_tiny_bert

from src_clean.cli import main as cli_main
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, SILVER_SENTIMENT

DAY = ["--start", "2024-03-04", "--end", "2024-03-04"]


def bronze(ids: list[str], published: str) -> pd.DataFrame:
    return articles(ids, [published] * len(ids), ["Stocks rally to a record high"] * len(ids))


def sentiment(lake: Lake, model: str, *dates: str) -> int:
    argv = ["silver-sentiment", "--lake", lake.root, "--sentiment-model", model]
    return cli_main([*argv, "--precision", "fp32", "--no-progress", *dates])


def test_an_interval_without_articles_needs_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.upsert(BRONZE_NEWS, bronze(["a0"], "2024-03-05T14:30Z"))
    missing = str(tmp_path / "models" / "no-such-checkpoint")
    assert sentiment(lake, missing, *DAY) == 0
    assert "seen=0 already_scored=0 scored=0" in capsys.readouterr().out
    assert not lake.exists(SILVER_SENTIMENT)
    # the same spec over the day that has an article does try to load it
    assert sentiment(lake, missing, "--start", "2024-03-05", "--end", "2024-03-05") == 2
    assert f"the model folder {missing} is missing" in capsys.readouterr().err


def test_a_rerun_with_nothing_new_needs_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.upsert(BRONZE_NEWS, bronze(["a0", "a1"], "2024-03-04T14:30Z"))
    folder = build_tiny_bert(tmp_path / "models" / "tiny", FINBERT_TONE_ORDER, dominant="positive")
    assert sentiment(lake, str(folder), *DAY) == 0
    before = lake.read(SILVER_SENTIMENT)
    assert len(before) == 2
    capsys.readouterr()

    shutil.rmtree(folder)  # the checkpoint is gone: a load would fail
    assert sentiment(lake, str(folder), *DAY) == 0
    assert "seen=2 already_scored=2 scored=0" in capsys.readouterr().out
    pd.testing.assert_frame_equal(lake.read(SILVER_SENTIMENT), before)

    late = bronze(["a2"], "2024-03-04T20:00Z")
    lake.upsert(BRONZE_NEWS, late)
    assert sentiment(lake, str(folder), *DAY) == 2  # a new article needs the model
    assert f"the model folder {folder} is missing" in capsys.readouterr().err

"""silver-sentiment: incremental scoring keyed on (article_id, model_id), CLI, download-model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_bert import FINBERT_TONE_ORDER, build_cached_hub_model, build_tiny_bert

from src_clean.cli import main as cli_main
from src_clean.data_pipelines.silver.scoring import load_scorer
from src_clean.data_pipelines.silver.sentiment import (
    SENTIMENT_COLUMNS,
    score_new_articles,
)
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, SILVER_SENTIMENT

HEADLINES = [
    "Apple beats estimates and raises guidance; shares surge",
    "Company misses estimates, shares plunge on weak outlook",
    "   ",
    "Fed does not expect a recession",
    "Stocks rally to a record high",
]


def articles(ids: list[str], published: list[str], headlines: list[str]) -> pd.DataFrame:
    """Bronze news rows in the bronze/news/articles schema."""
    n = len(ids)
    return pd.DataFrame(
        {
            "article_id": ids,
            "published_at": pd.to_datetime(published, utc=True),
            "available_at": pd.to_datetime(published, utc=True),
            "available_from": "published_at",
            "headline": headlines,
            "body": ["Body text."] * n,
            "source": ["wire"] * n,
            "url": [f"https://example.com/{i}" for i in ids],
            "language": ["en"] * n,
            "gdelt_tone": float("nan"),
            "ingested_at": pd.Timestamp("2024-03-06T00:00:00Z"),
            "source_file": ["news.jsonl"] * n,
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    published = ["2024-03-04T14:30Z", "2024-03-04T15:00Z", "2024-03-04T16:00Z"]
    published += ["2024-03-05T09:00Z", "2024-03-05T13:31Z"]
    bronze = articles([f"a{i}" for i in range(5)], published, HEADLINES)
    lake.upsert(BRONZE_NEWS, bronze)
    return lake


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-tone"
    return build_tiny_bert(folder, FINBERT_TONE_ORDER, dominant="negative")


def silver(lake: Lake) -> pd.DataFrame:
    return lake.read(SILVER_SENTIMENT)


def test_first_run_scores_every_article_and_keeps_blank_ones_as_nulls(lake: Lake) -> None:
    report = score_new_articles(lake, "lexicon")
    assert (report.articles_seen, report.already_scored) == (5, 0)
    assert (report.scored, report.empty_text) == (4, 1)
    assert not report.fell_back_to_lexicon
    rows = silver(lake)
    assert list(rows.columns) == SENTIMENT_COLUMNS
    assert rows["article_id"].tolist() == ["a0", "a1", "a2", "a3", "a4"]
    assert (rows["model_id"] == report.model_id).all()
    assert (
        rows.loc[rows["article_id"] == "a2", ["p_positive", "label", "score"]].isna().all(axis=None)
    )
    assert rows.set_index("article_id").loc[["a0", "a1", "a3", "a4"], "label"].tolist() == [
        "positive",
        "negative",
        "positive",
        "positive",
    ]
    assert lake.partitions(SILVER_SENTIMENT) == [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]


def test_empty_lake_scores_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "empty")
    report = score_new_articles(lake, "lexicon")
    assert (report.articles_seen, report.scored, report.empty_text) == (0, 0, 0)
    assert not lake.exists(SILVER_SENTIMENT)


def test_rerun_scores_nothing_and_rewrites_nothing(lake: Lake) -> None:
    score_new_articles(lake, "lexicon")
    before = silver(lake)
    report = score_new_articles(lake, "lexicon")
    assert (report.already_scored, report.scored, report.empty_text) == (5, 0, 0)
    pd.testing.assert_frame_equal(silver(lake), before)


def test_new_articles_alone_are_scored(lake: Lake) -> None:
    score_new_articles(lake, "lexicon")
    late = articles(["a5"], ["2024-03-05T20:00Z"], ["Nvidia tops expectations"])
    lake.upsert(BRONZE_NEWS, late)
    report = score_new_articles(lake, "lexicon")
    assert (report.articles_seen, report.already_scored, report.scored) == (6, 5, 1)
    assert silver(lake)["article_id"].tolist() == ["a0", "a1", "a2", "a3", "a4", "a5"]


def test_a_new_model_scores_everything_without_touching_other_models(
    lake: Lake, tiny_model: Path
) -> None:
    lexicon_report = score_new_articles(lake, "lexicon")
    lexicon_rows = silver(lake)
    report = score_new_articles(lake, str(tiny_model), precision="fp32", progress=False)
    assert report.model_id.startswith("path:tiny-tone@sha256:")
    assert (report.already_scored, report.scored, report.empty_text) == (0, 4, 1)
    rows = silver(lake)
    assert len(rows) == 10
    kept = rows[rows["model_id"] == lexicon_report.model_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, lexicon_rows)
    tiny = rows[rows["model_id"] == report.model_id]
    assert tiny["label"].dropna().eq("negative").all()
    assert tiny["label"].isna().sum() == 1


def test_injected_scorer_is_used(lake: Lake, tiny_model: Path) -> None:
    scorer = load_scorer(str(tiny_model), precision="fp32", progress=False)
    report = score_new_articles(lake, "ignored/model", scorer=scorer)
    assert report.model_id == scorer.model_id
    assert set(silver(lake)["model_id"]) == {scorer.model_id}


def test_date_range_limits_the_articles(lake: Lake) -> None:
    report = score_new_articles(lake, "lexicon", start=dt.date(2024, 3, 5), end=dt.date(2024, 3, 5))
    assert (report.articles_seen, report.scored) == (2, 2)
    assert silver(lake)["article_id"].tolist() == ["a3", "a4"]
    report = score_new_articles(lake, "lexicon")
    assert (report.already_scored, report.scored, report.empty_text) == (2, 2, 1)


def test_headline_body_mode_scores_the_body_of_a_blank_headline(lake: Lake) -> None:
    """The texts scored are headline + body (the body alone for a blank headline), and the
    stored scores are the scorer's for exactly those texts."""
    from src_clean.data_pipelines.silver.scoring.lexicon_backend import LexiconScorer

    seen: list[str] = []

    class Recording(LexiconScorer):
        def score(self, texts):  # type: ignore[no-untyped-def]
            seen.extend(texts)
            return super().score(texts)

    report = score_new_articles(lake, "lexicon", text_mode="headline_body", scorer=Recording())
    assert (report.scored, report.empty_text) == (5, 0)
    expected = [f"{h}. Body text." if h.strip() else "Body text." for h in HEADLINES]
    assert seen == expected
    stored = silver(lake).set_index("article_id").loc[[f"a{i}" for i in range(5)]]
    direct = LexiconScorer().score(expected)
    np.testing.assert_allclose(stored["score"], direct["score"])
    assert stored["label"].tolist() == direct["label"].tolist()


def test_demo_fallback_scores_with_the_lexicon_and_says_so(lake: Lake, tmp_path: Path) -> None:
    report = score_new_articles(lake, str(tmp_path / "no-such-model"), demo_fallback=True)
    assert report.fell_back_to_lexicon
    assert report.model_id.startswith("lexicon:")
    assert "FELL BACK TO LEXICON" in report.summary()


def test_cli_prints_the_report(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["silver-sentiment", "--lake", lake.root, "--sentiment-model", "lexicon"]
    assert cli_main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "scored=4 empty_text=1" in out
    assert '"already_scored": 0' in out


def test_cli_without_model_fails_with_the_fix(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "models" / "ProsusAI__finbert")
    argv = ["silver-sentiment", "--lake", lake.root, "--sentiment-model", missing]
    assert cli_main(argv) == 2  # a user error: one line with the fix, not retried
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: the model folder {missing} is missing. Fix: ")
    assert "download-model" in line
    assert not lake.exists(SILVER_SENTIMENT)


def test_download_model_saves_a_loadable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    build_cached_hub_model(tmp_path / "cache", "acme/tiny-finbert", commit, dominant="neutral")
    argv = ["download-model", "--model", "acme/tiny-finbert", "--out", str(tmp_path / "models")]
    assert cli_main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "models" / "acme__tiny-finbert"
    assert f"saved acme/tiny-finbert@{commit} to {target}" in out
    assert f"--sentiment-model {target}" in out
    scorer = load_scorer(str(target), progress=False)
    assert scorer.score(["weak outlook"])["label"].tolist() == ["neutral"]


def test_download_model_without_network_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["download-model", "--model", "acme/missing", "--out", str(tmp_path / "models")]
    assert cli_main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot fetch 'acme/missing'@main: "), err
    assert "Fix: run download-model on a machine with internet access" in err[0]
    assert not (tmp_path / "models").exists()


# -- the model registry under concurrent writers (#20) ------------------------------------

REGISTRY_WRITER = """
import sys
from src_clean.data_pipelines.silver import model_registry
from src_clean.lake import Lake

lake, spec = Lake(sys.argv[1]), sys.argv[2]
for round_ in range(30):  # what a backfill shard does at its start, many times over
    model_registry.record(
        lake, model_registry.ResolvedModel(spec, f"{spec}@{round_}", fell_back_to_lexicon=False)
    )
"""


def test_concurrent_shards_never_lose_a_registry_entry(tmp_path) -> None:
    """Four processes record their own spec at once; every spec survives, each with its
    last model id (a shared read-modify-write document loses entries here)."""
    import subprocess
    import sys

    from src_clean.data_pipelines.silver import model_registry

    specs = ["ProsusAI/finbert", "yiyanghkust/finbert-tone", "lexicon", "models/local"]
    writers = [
        subprocess.Popen([sys.executable, "-c", REGISTRY_WRITER, str(tmp_path / "lake"), spec])
        for spec in specs
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * len(specs)
    entries = model_registry.recorded(Lake(tmp_path / "lake"))
    assert {spec: entry.model_id for spec, entry in entries.items()} == {
        spec: f"{spec}@29" for spec in specs
    }


def test_the_registry_reads_an_older_lakes_single_document(tmp_path) -> None:
    from src_clean import tables
    from src_clean.data_pipelines.silver import model_registry

    lake = Lake(tmp_path / "lake")
    legacy = {
        "ProsusAI/finbert": {"model_id": "ProsusAI/finbert@old", "fell_back_to_lexicon": False}
    }
    lake.files.write_json(tables.SENTIMENT_MODELS, legacy)
    assert model_registry.model_id_for_spec(lake, "ProsusAI/finbert") == "ProsusAI/finbert@old"
    model_registry.record(lake, model_registry.ResolvedModel("ProsusAI/finbert", "new@1", False))
    assert model_registry.model_id_for_spec(lake, "ProsusAI/finbert") == "new@1"

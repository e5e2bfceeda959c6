"""Sentiment scorers: the shared interface on tiny real BERT checkpoints and the lexicon."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_bert import FINBERT_ORDER, FINBERT_TONE_ORDER, build_cached_hub_model, build_tiny_bert

from src_clean.data_pipelines.silver.scoring import (
    RESULT_COLUMNS,
    ModelUnavailableError,
    article_texts,
    load_scorer,
)
from src_clean.data_pipelines.silver.scoring.base import BODY_CHARS, canonical_labels
from src_clean.data_pipelines.silver.scoring.lexicon_backend import LexiconScorer
from src_clean.data_pipelines.silver.scoring.transformers_backend import (
    TransformersScorer,
    cpu_supports_bf16,
    hub_reachable,
    resolve_dtype,
)

TEXTS = [
    "Apple beats estimates and raises guidance",
    "the fed expects a recession",
    "stocks surge to a record high after strong earnings in the quarter",
    "weak outlook",
    "company misses revenue estimates , shares plunge and layoffs follow a loss",
    "inflation",
]


@pytest.fixture(scope="module")
def random_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with random weights: every text gets its own probabilities."""
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-random", seed=7)


@pytest.fixture(scope="module")
def fp32_scorer(random_bert: Path) -> TransformersScorer:
    return TransformersScorer(str(random_bert), precision="fp32", device="cpu", progress=False)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def lexicon() -> LexiconScorer:
    return LexiconScorer()


def p_positive(scorer: LexiconScorer, text: str) -> float:
    return float(scorer.score([text])["p_positive"].iloc[0])


def net_score(scorer: LexiconScorer, text: str) -> float:
    return float(scorer.score([text])["score"].iloc[0])


# -- label mapping -------------------------------------------------------------------


@pytest.mark.parametrize("order", [FINBERT_ORDER, FINBERT_TONE_ORDER])
@pytest.mark.parametrize("dominant", ["positive", "negative", "neutral"])
def test_label_comes_from_id2label_whatever_the_class_order(
    tmp_path: Path, order: tuple[str, ...], dominant: str
) -> None:
    folder = build_tiny_bert(tmp_path / "model", order, dominant=dominant)
    scores = load_scorer(str(folder), precision="fp32", progress=False).score(TEXTS)
    assert (scores["label"] == dominant).all()
    assert (scores[f"p_{dominant}"] > 0.99).all()


def test_label_aliases_are_case_insensitive() -> None:
    assert canonical_labels({0: "Neu", 1: "POSITIVE", 2: "neg"}) == [
        "neutral",
        "positive",
        "negative",
    ]


@pytest.mark.parametrize(
    "labels",
    [("LABEL_0", "LABEL_1", "LABEL_2"), ("positive", "negative"), ("pos", "pos", "neg")],
)
def test_unknown_label_set_is_a_clear_error(labels: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"has labels \[.*" + labels[0]):
        canonical_labels(dict(enumerate(labels)))


def test_generic_checkpoint_is_refused_even_with_demo_fallback(tmp_path: Path) -> None:
    folder = build_tiny_bert(tmp_path / "generic", ("LABEL_0", "LABEL_1", "LABEL_2"))
    with pytest.raises(ValueError, match="LABEL_0"):
        load_scorer(str(folder), demo_fallback=True, progress=False)


# -- the result frame ----------------------------------------------------------------


def test_probabilities_sum_to_one_and_score_is_their_difference(
    fp32_scorer: TransformersScorer,
) -> None:
    scores = fp32_scorer.score(TEXTS)
    assert list(scores.columns) == list(RESULT_COLUMNS)
    probabilities = scores[["p_positive", "p_negative", "p_neutral"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(scores["score"], scores["p_positive"] - scores["p_negative"])


def test_rows_come_back_in_input_order(fp32_scorer: TransformersScorer) -> None:
    forward = fp32_scorer.score(TEXTS)
    backward = fp32_scorer.score(TEXTS[::-1])
    assert forward["p_positive"].nunique() == len(TEXTS)  # else the check below proves nothing
    pd.testing.assert_frame_equal(
        backward.iloc[::-1].reset_index(drop=True), forward, check_exact=False, atol=1e-6
    )


def test_batch_size_does_not_change_scores(random_bert: Path) -> None:
    def scores(batch_size: int) -> pd.DataFrame:
        scorer = TransformersScorer(
            str(random_bert), batch_size=batch_size, precision="fp32", progress=False
        )
        return scorer.score(TEXTS)

    one, many = scores(1), scores(64)
    pd.testing.assert_frame_equal(one, many, check_exact=False, atol=1e-5)


def test_long_text_is_truncated_to_the_model_limit(fp32_scorer: TransformersScorer) -> None:
    long_text = " ".join(["strong earnings"] * 600)
    assert fp32_scorer.token_lengths([long_text]).tolist() == [512]
    assert fp32_scorer.score([long_text])["label"].notna().all()


@pytest.mark.parametrize("scorer_name", ["transformers", "lexicon"])
def test_blank_text_gets_nulls_not_a_neutral(
    scorer_name: str, fp32_scorer: TransformersScorer, lexicon: LexiconScorer
) -> None:
    scorer = fp32_scorer if scorer_name == "transformers" else lexicon
    scores = scorer.score(["", "strong earnings", "   \n", "weak outlook"])
    assert (
        scores[["p_positive", "p_negative", "p_neutral", "label", "score"]]
        .iloc[[0, 2]]
        .isna()
        .all(axis=None)
    )
    assert scores.iloc[[1, 3]].notna().all(axis=None)


@pytest.mark.parametrize("texts", [[], ["", " "]])
@pytest.mark.parametrize("scorer_name", ["transformers", "lexicon"])
def test_nothing_to_score(
    scorer_name: str, texts: list[str], fp32_scorer: TransformersScorer, lexicon: LexiconScorer
) -> None:
    scorer = fp32_scorer if scorer_name == "transformers" else lexicon
    scores = scorer.score(texts)
    assert list(scores.columns) == list(RESULT_COLUMNS)
    assert len(scores) == len(texts)
    assert scores.isna().all(axis=None)


# -- precision -----------------------------------------------------------------------


def test_precision_resolution() -> None:
    import torch

    cpu = torch.device("cpu")
    assert resolve_dtype("fp32", cpu) == torch.float32
    assert resolve_dtype("fp16", torch.device("cuda")) == torch.float16
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    auto_cpu = torch.bfloat16 if cpu_supports_bf16() else torch.float32
    assert resolve_dtype("auto", cpu) == auto_cpu
    with pytest.raises(ValueError, match="precision"):
        resolve_dtype("int8", cpu)  # type: ignore[arg-type]


def test_bf16_scores_stay_close_to_fp32(random_bert: Path, fp32_scorer: TransformersScorer) -> None:
    bf16 = TransformersScorer(str(random_bert), precision="bf16", progress=False)
    difference = bf16.score(TEXTS)["score"] - fp32_scorer.score(TEXTS)["score"]
    assert difference.abs().max() < 0.02


# -- model ids and loading -----------------------------------------------------------


def test_local_model_id_names_folder_and_weights_hash(
    random_bert: Path, fp32_scorer: TransformersScorer
) -> None:
    weights = hashlib.sha256((random_bert / "model.safetensors").read_bytes()).hexdigest()
    assert fp32_scorer.checkpoint_id == f"path:tiny-random@sha256:{weights[:12]}"
    assert fp32_scorer.model_id == f"{fp32_scorer.checkpoint_id}@fp32"


def test_model_id_changes_with_the_weights(tmp_path: Path, fp32_scorer: TransformersScorer) -> None:
    other = build_tiny_bert(tmp_path / "tiny-random", seed=8)
    assert TransformersScorer(str(other), progress=False).model_id != fp32_scorer.model_id


def test_hub_model_from_cache_is_named_by_commit(tmp_path: Path, offline: None) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    build_cached_hub_model(tmp_path, "acme/tiny-finbert", commit, dominant="positive")
    scorer = load_scorer("acme/tiny-finbert", cache_dir=tmp_path, progress=False)
    assert scorer.model_id == f"acme/tiny-finbert@{commit}@{scorer.engine.precision}"
    assert scorer.score(["strong earnings"])["label"].tolist() == ["positive"]


def test_missing_hub_model_offline_raises_with_the_fix(tmp_path: Path, offline: None) -> None:
    with pytest.raises(ModelUnavailableError) as error:
        load_scorer("acme/does-not-exist", cache_dir=tmp_path)
    message = str(error.value)
    assert "acme/does-not-exist" in message
    assert "download-model --model ProsusAI/finbert --out models/" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_unreachable_hub_fails_fast_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    hub_reachable.cache_clear()
    try:
        assert not hub_reachable()
        with pytest.raises(ModelUnavailableError, match="acme/does-not-exist"):
            load_scorer("acme/does-not-exist", cache_dir=tmp_path)
    finally:
        hub_reachable.cache_clear()


def test_missing_hub_model_with_demo_fallback_warns_and_uses_lexicon(
    tmp_path: Path, offline: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        scorer = load_scorer("acme/does-not-exist", demo_fallback=True, cache_dir=tmp_path)
    assert isinstance(scorer, LexiconScorer)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "FALLING BACK TO THE LEXICON" in warnings[0]
    assert "--sentiment-model models/ProsusAI__finbert" in warnings[0]
    assert "sentiment_model=lexicon" in warnings[0]  # the way out in Airflow's trigger form
    assert warnings[0].count("\n") >= 4


def test_missing_local_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="Fix:"):
        load_scorer(str(tmp_path / "models" / "nope"))


# -- lexicon -------------------------------------------------------------------------


def test_lexicon_model_id_names_version_and_lexicon_hash(lexicon: LexiconScorer) -> None:
    assert lexicon.model_id.startswith("lexicon:vader+lm@vaderSentiment-3.3.2+sha256:")
    assert load_scorer("lexicon").model_id == lexicon.model_id


def test_lexicon_reads_clear_news(lexicon: LexiconScorer) -> None:
    scores = lexicon.score(
        [
            "Apple beats estimates and raises guidance; shares surge",
            "Company misses estimates, shares plunge on weak outlook",
            "The meeting is on Tuesday",
        ]
    )
    assert scores["label"].tolist() == ["positive", "negative", "neutral"]
    assert scores["score"].iloc[0] > 0.5 > -0.5 > scores["score"].iloc[1]
    assert scores["p_neutral"].iloc[2] == 1.0


@pytest.mark.parametrize(
    ("negated", "plain"),
    [
        ("Fed does not expect a recession", "Fed expects a recession"),
        ("profits are not strong", "profits are strong"),
        ("Apple did not beat Wall Street estimates", "Apple beat Wall Street estimates"),
    ],
)
def test_lexicon_negation_flips_the_sign(lexicon: LexiconScorer, negated: str, plain: str) -> None:
    assert np.sign(net_score(lexicon, negated)) == -np.sign(net_score(lexicon, plain)) != 0


def test_lexicon_uses_loughran_mcdonald_words(lexicon: LexiconScorer) -> None:
    # "impairment" and "profitability" are LM words that VADER does not know.
    assert net_score(lexicon, "the impairment") < 0 < net_score(lexicon, "the profitability")


def test_lexicon_probabilities_sum_to_one(lexicon: LexiconScorer) -> None:
    scores = lexicon.score(TEXTS)
    totals = scores[["p_positive", "p_negative", "p_neutral"]].sum(axis=1)
    np.testing.assert_allclose(totals, 1.0)


# -- texts ---------------------------------------------------------------------------


def test_article_texts_modes() -> None:
    articles = pd.DataFrame(
        {
            "headline": ["Apple beats", "", "Fed holds", None],
            "body": ["Shares rose. " + "x" * 5000, "Body only.", "", None],
        }
    )
    assert article_texts(articles).tolist() == ["Apple beats", "", "Fed holds", ""]
    joined = article_texts(articles, "headline_body")
    assert joined[0] == "Apple beats. Shares rose. " + "x" * (BODY_CHARS - len("Shares rose. "))
    assert joined[1:].tolist() == ["Body only.", "Fed holds", ""]
    with pytest.raises(ValueError, match="text mode"):
        article_texts(articles, "body")  # type: ignore[arg-type]

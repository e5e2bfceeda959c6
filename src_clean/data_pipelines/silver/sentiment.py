"""silver/news/sentiment: score the bronze articles this model has not scored yet.

The table keys on (article_id, model_id): a rerun scores nothing, and a new model scores
every article under its own model_id without touching other models' rows. Articles
without text get a row of nulls, so they are not picked up again on every run. An article
whose ``published_at`` was corrected in bronze is scored again, and the upsert (a merge on
the keys across the table) moves its row to the new date (contract C3). Each row carries
the article's ``available_at`` (point in time: gold counts an article from then on).

The model id names the engine and precision (``…@onnx-int8``). One ``--sentiment-model``
(a hub id, a checkpoint folder or ``lexicon``; ``SP500_SENTIMENT_MODEL`` read when the
command runs, unless given) scores under one model id: without ``--rescore``, ``auto``
keeps the engine recorded for it, and an explicit ``--precision`` that would write
another engine's scores is refused (``EngineChanged``). ``--rescore`` scores the date
range again with the engine asked for, and gold reads that one from then on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from src_clean import settings
from src_clean.cli_args import add_date_range, add_lake_argument, require_tables
from src_clean.data_pipelines.silver import model_registry
from src_clean.data_pipelines.silver.scoring.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    PRECISIONS,
    TEXT_MODES,
    Scorer,
    TextMode,
    article_texts,
    split_model_id,
)
from src_clean.data_pipelines.silver.scoring.loading import LEXICON, load_scorer
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, SENTIMENT_SPEC, SILVER_SENTIMENT

SENTIMENT_COLUMNS = list(SENTIMENT_SPEC.column_names)
SAMPLE_TEXTS = 256  # articles offered to ``auto`` to time the engines on
log = logging.getLogger(__name__)


class EngineChanged(UserError):
    """The run would score a sentiment model with another engine than the one its scores
    have."""


@dataclass
class SentimentRunReport:
    """What one scoring run did: articles_seen = already_scored + scored + empty_text.

    ``engine`` is how ``auto`` chose (``engines.EngineChoice`` as a dict) when it ran.
    """

    model_id: str
    articles_seen: int
    already_scored: int
    scored: int
    empty_text: int
    fell_back_to_lexicon: bool
    seconds: float
    engine: dict[str, Any] | None = None

    def summary(self) -> str:
        line = (
            f"{SILVER_SENTIMENT} [{self.model_id}]: seen={self.articles_seen} "
            f"already_scored={self.already_scored} scored={self.scored} "
            f"empty_text={self.empty_text} in {self.seconds:.1f}s"
        )
        if self.engine is not None:
            line += f" (engine {self.engine['precision']}: {self.engine['choice']}, export "
            line += f"{self.engine['export']}, one-off {self.engine['one_off_seconds']:.1f}s)"
        return line + (" [FELL BACK TO LEXICON]" if self.fell_back_to_lexicon else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def score_new_articles(
    lake: Lake,
    sentiment_model: str | None = None,
    *,
    text_mode: TextMode = "headline",
    start: dt.date | None = None,
    end: dt.date | None = None,
    scorer: Scorer | None = None,
    rescore: bool = False,
    **options: Any,
) -> SentimentRunReport:
    """Score the bronze articles (``start..end`` inclusive) with no row for this model yet.

    ``sentiment_model`` left None is the run's setting (``SP500_SENTIMENT_MODEL``).
    ``options`` go to ``load_scorer`` (demo_fallback, batch_size, max_batch_tokens,
    device, precision, num_threads, progress, model_cache). ``scorer`` overrides
    ``sentiment_model`` and the options (tests, notebooks). ``rescore`` lets the sentiment
    model change engine.
    """
    began = time.perf_counter()
    articles = lake.read(
        BRONZE_NEWS,
        start,
        end,
        columns=["article_id", "published_at", "available_at", "headline", "body"],
    )
    if scorer is None:
        # The model is loaded only when something needs scoring: a run over an interval
        # with no new articles must not fail on a model it never needed.
        sentiment_model = sentiment_model or settings.current().sentiment_model
        recorded = recorded_model_id(lake, sentiment_model)
        if articles.empty or (
            not rescore
            and recorded is not None
            and unscored(lake, articles, recorded, start, end).empty
        ):
            return SentimentRunReport(  # nothing to score: the model is never loaded
                model_id=recorded or sentiment_model,
                articles_seen=len(articles),
                already_scored=len(articles),
                scored=0,
                empty_text=0,
                fell_back_to_lexicon=False,
                seconds=time.perf_counter() - began,
            )
        sample = articles.sample(min(len(articles), SAMPLE_TEXTS), random_state=0)
        scorer = load_recorded_scorer(
            lake,
            sentiment_model,
            rescore=rescore,
            text_mode=text_mode,
            sample_texts=article_texts(sample, text_mode).tolist(),
            **options,
        )
        fell_back = fell_back_to_lexicon(sentiment_model, scorer)
    else:
        fell_back = False
    new = unscored(lake, articles, scorer.model_id, start, end)
    rows = score_articles(new, scorer, text_mode)
    store_scores(lake, rows)
    empty = int(rows["p_positive"].isna().sum())
    return SentimentRunReport(
        model_id=scorer.model_id,
        articles_seen=len(articles),
        already_scored=len(articles) - len(new),
        scored=len(rows) - empty,
        empty_text=empty,
        fell_back_to_lexicon=fell_back,
        seconds=time.perf_counter() - began,
        engine=engine_report(scorer),
    )


def engine_report(scorer: Scorer) -> dict[str, Any] | None:
    """How ``auto`` chose the scorer's engine, if it did."""
    engine = getattr(scorer, "engine", None)
    return None if engine is None else asdict(engine)


def unscored(
    lake: Lake,
    articles: pd.DataFrame,
    model_id: str,
    start: dt.date | None,
    end: dt.date | None,
) -> pd.DataFrame:
    """The ``articles`` with no row for ``model_id`` at their current ``published_at``.

    A row stored under an older ``published_at`` does not count: the article moved in
    bronze, so it is scored again and its row moves with it.
    """
    stored = lake.read(SILVER_SENTIMENT, start, end, columns=[*SENTIMENT_SPEC.keys, "published_at"])
    stored = stored.loc[stored["model_id"] == model_id, ["article_id", "published_at"]]
    if stored.empty:
        return articles
    keys = ["article_id", "published_at"]
    done = pd.MultiIndex.from_frame(stored.astype({"published_at": "datetime64[ns, UTC]"}))
    current = articles[keys].astype({"published_at": "datetime64[ns, UTC]"})
    return articles[~pd.MultiIndex.from_frame(current).isin(done)]


def score_articles(articles: pd.DataFrame, scorer: Scorer, text_mode: TextMode) -> pd.DataFrame:
    """Sentiment rows (``SENTIMENT_COLUMNS``) for ``articles``; blank texts get null scores."""
    scores = scorer.score(article_texts(articles, text_mode).tolist())
    keys = articles[["article_id", "published_at", "available_at"]].reset_index(drop=True)
    rows = pd.concat([keys.assign(model_id=scorer.model_id), scores], axis=1)
    return rows.assign(scored_at=pd.Timestamp.now(tz="UTC"))[SENTIMENT_COLUMNS]


def load_recorded_scorer(
    lake: Lake, sentiment_model: str, *, rescore: bool = False, **options: Any
) -> Scorer:
    """``load_scorer(sentiment_model, **options)`` on the engine recorded for
    ``sentiment_model``, recording the model id it resolved to.

    Without ``rescore``, ``auto`` becomes the recorded engine, and a scorer whose id
    differs from the recorded one only by engine raises ``EngineChanged``.
    """
    recorded = recorded_model_id(lake, sentiment_model)
    recorded_checkpoint, recorded_engine = split_model_id(recorded or "")
    if not rescore and recorded_engine and options.get("precision", "auto") == "auto":
        log.info("%s keeps %s, the engine its silver scores have", sentiment_model, recorded_engine)
        options = {**options, "precision": recorded_engine}
    scorer = load_scorer(sentiment_model, **options)
    checkpoint, engine = split_model_id(scorer.model_id)
    # a legacy id splits into (itself, None): the same checkpoint without a named engine
    if (
        not rescore
        and recorded
        and scorer.model_id != recorded
        and checkpoint == recorded_checkpoint
    ):
        raise EngineChanged(
            f"{SILVER_SENTIMENT} holds {sentiment_model!r} scores as {recorded}; this run "
            f"would add {scorer.model_id}, and one table keeps one engine per model",
            f"pass --rescore to score the date range again with {engine} (gold then reads "
            "it), "
            + (
                f"or run with --precision {recorded_engine}"
                if recorded_engine
                else "once: the recorded scores predate model ids that name the engine"
            ),
        )
    fell_back = fell_back_to_lexicon(sentiment_model, scorer)
    resolved = model_registry.ResolvedModel(sentiment_model, scorer.model_id, fell_back)
    model_registry.record(lake, resolved)
    return scorer


def recorded_model_id(lake: Lake, sentiment_model: str) -> str | None:
    """The ``model_id`` ``sentiment_model`` last loaded as; None if never or if it fell back."""
    entry = model_registry.lookup(lake, sentiment_model)
    return None if entry is None or entry.fell_back_to_lexicon else entry.model_id


def fell_back_to_lexicon(sentiment_model: str, scorer: Scorer) -> bool:
    """A neural ``sentiment_model`` was asked for but the lexicon scorer came back
    (``demo_fallback``)."""
    return sentiment_model != LEXICON and scorer.model_id.startswith(f"{LEXICON}:")


def store_scores(lake: Lake, rows: pd.DataFrame) -> None:
    """Upsert sentiment rows into silver, keyed on (article_id, model_id)."""
    lake.upsert(SILVER_SENTIMENT, rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    parser.add_argument(
        "--sentiment-model",
        default=settings.current().sentiment_model,
        help=f"hub id, local checkpoint folder, or '{LEXICON}' (default: SP500_SENTIMENT_MODEL, "
        f"else {DEFAULT_SENTIMENT_MODEL})",
    )
    parser.add_argument(
        "--text-mode",
        choices=TEXT_MODES,
        default="headline",
        help="score the headline (default: FinBERT is trained on sentences) or headline + body",
    )
    add_batching_arguments(parser)
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--demo-fallback",
        action=argparse.BooleanOptionalAction,
        default=settings.current().demo_fallback,
        help="if the model cannot be loaded, warn loudly and score with the lexicon instead "
        "(default: SP500_DEMO_FALLBACK, else no)",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the range again with the engine asked for (default: keep the recorded one)",
    )
    add_date_range(parser, "UTC date")


def add_batching_arguments(parser: argparse.ArgumentParser) -> None:
    """How texts are batched and where they run: one definition for every scoring CLI."""
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="most texts per forward pass"
    )
    parser.add_argument(
        "--max-batch-tokens",
        type=int,
        default=DEFAULT_MAX_BATCH_TOKENS,
        help="most padded tokens per forward pass (default: %(default)s)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda:0")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: fp16 on CUDA, else the fastest validated engine measured on this CPU",
    )
    parser.add_argument(
        "--model-cache",
        default=settings.current().model_cache,
        help="folder for ONNX exports and engine choices (default: SP500_MODEL_CACHE, else "
        "the checkpoint's onnx/ folder)",
    )


def batching_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_scorer`` options named by the arguments of ``add_batching_arguments``."""
    return {
        "batch_size": args.batch_size,
        "max_batch_tokens": args.max_batch_tokens,
        "device": args.device,
        "precision": args.precision,
        "model_cache": args.model_cache,
    }


def scorer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_scorer`` options named by the arguments of ``add_arguments``."""
    return {
        **batching_options(args),
        "demo_fallback": args.demo_fallback,
        "num_threads": args.num_threads,
        "progress": not args.no_progress,
    }


def main(args: argparse.Namespace) -> SentimentRunReport:
    lake = Lake(args.lake)
    require_tables(lake, BRONZE_NEWS, produced_by="bronze-news")
    report = score_new_articles(  # a model that cannot load raises a UserError (exit 2)
        lake,
        args.sentiment_model,
        text_mode=args.text_mode,
        start=args.start,
        end=args.end,
        rescore=args.rescore,
        **scorer_options(args),
    )
    return report

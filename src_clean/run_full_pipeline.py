"""Run the whole pipeline in-process, stage by stage, and print a summary.

    python src_clean/run_full_pipeline.py --demo --lake data_clean
    python src_clean/run_full_pipeline.py --bronze-market raw/market --bronze-news raw/news \\
        --lake s3://bucket/lake --sentiment-model models/ProsusAI__finbert

Each stage runs the same ``python -m src_clean <subcommand>`` argv as the Airflow DAG's
task of that name (one stage registry, ``orchestration.stages.STAGES``), in this process:
ingestion takes only the files the ingest ledgers have not seen (``--only-new``, the same
ledgers as the DAG), so a later Airflow run does not ingest them again. ``--lake`` is the
lake root, a folder or ``s3://bucket/prefix``, as for every stage (``--output-dir``, its
earlier name, is kept as an alias).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src_clean import settings, tables
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL, tracking_uri
from src_clean.errors import USER_ERROR_EXIT, UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.logging_setup import configure_logging
from src_clean.orchestration.chunks import plan_chunks
from src_clean.orchestration.runner import run_stage
from src_clean.orchestration.stages import LAYERS, STAGES, RunContext, Stage
from src_clean.orchestration.trigger_form import InvalidRunParams, RunParams
from src_clean.redact import redact
from src_clean.sample_data import (
    ARTICLES_PER_DAY,
    NEWS_EFFECT_BPS,
    PRE_AVAILABILITY_BPS,
    generate_sample_data,
)
from src_clean.settings import Settings

UNTIL = LAYERS[1:]  # bronze, silver, gold, train (acquisition is the DAG's fetch tasks)
CHUNKED_LAYERS = ("silver", "gold")  # run per chunk of dates (orchestration.chunks)
DEMO_DAYS = 60
DEMO_START = dt.date(2024, 1, 1)

log = logging.getLogger("run_full_pipeline")


@dataclass
class PipelineConfig:
    """Everything the end-to-end run needs; mirrors the CLI flags."""

    lake: str | Path
    bronze_market: str | Path | None = None
    bronze_news: str | Path | None = None
    skip_news: bool = False
    window: int = tables.CANONICAL_WINDOW
    prediction_horizon: int = tables.CANONICAL_HORIZON
    sentiment_model: str = DEFAULT_SENTIMENT_MODEL
    mlflow_tracking_uri: str | None = None
    until: str = "train"
    demo: bool = False
    demo_days: int = DEMO_DAYS
    seed: int = 7
    news_effect_bps: float = NEWS_EFFECT_BPS
    pre_availability_bps: float = PRE_AVAILABILITY_BPS
    articles_per_day: float = ARTICLES_PER_DAY
    memory_budget_mb: int = Settings.model_fields["memory_budget_mb"].default

    @property
    def lake_root(self) -> str:
        return str(self.lake)


@dataclass
class StageLog:
    """Timing and a one-line result for each stage, for the closing summary."""

    rows: list[tuple[str, float, str]] = field(default_factory=list)

    def run(
        self,
        name: str,
        fn: Callable[[], Any],
        describe: Callable[[Any], str] = lambda report: report.summary(),
    ) -> Any:
        print(f"▶ {name} ...", flush=True)
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        line = describe(result)
        self.rows.append((name, seconds, line))
        print(f"✔ {name} ({seconds:.1f} s): {line}", flush=True)
        return result


def pipeline_stages(cfg: PipelineConfig) -> list[Stage]:
    """The registry's stages from bronze through ``cfg.until``; news ones unless skip_news."""
    last = LAYERS.index(cfg.until)
    return [
        stage
        for stage in STAGES.values()
        if 0 < LAYERS.index(stage.layer) <= last
        and not (cfg.skip_news and stage.news)
        and not (stage.task_id == "bronze_news" and cfg.bronze_news is None)
    ]


def chunked_stages(
    stages: Sequence[Stage], ctx: RunContext, memory_budget_mb: int
) -> Iterator[tuple[Stage, RunContext]]:
    """``stages`` with the context each runs in: bronze and train once over everything;
    silver and gold once per chunk of dates (``orchestration.chunks``), planned from what
    bronze holds after the ingests, the training set of each later chunk starting a day
    early (the previous chunk's last bars get their labels), as in the daily DAG."""
    chunked = [s for s in stages if s.layer in CHUNKED_LAYERS]
    yield from ((s, ctx) for s in stages if LAYERS.index(s.layer) < LAYERS.index("silver"))
    plan = plan_chunks(Lake(ctx.lake_root), memory_budget_mb) if chunked else []
    if len(plan) <= 1:  # everything fits (or bronze is empty): one run over every date
        yield from ((s, ctx) for s in chunked)
    else:
        log.info(
            "silver and gold in %d chunks of dates (%d MB budget)", len(plan), memory_budget_mb
        )
        for number, days in enumerate(plan):
            label_start = days.start - dt.timedelta(days=1) if number else None
            chunk_ctx = dataclasses.replace(ctx, days=days, label_start=label_start)
            yield from ((s, chunk_ctx) for s in chunked)
    yield from ((s, ctx) for s in stages if s.layer not in ("bronze", *CHUNKED_LAYERS))


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Run the stages up to ``cfg.until``; returns the training summary (or {} before train)."""
    stages = StageLog()
    if cfg.demo:
        _generate_demo_data(cfg, stages)
    if cfg.bronze_market is None or (cfg.bronze_news is None and not cfg.skip_news):
        raise UserError(
            "no input: --bronze-market and --bronze-news are required",
            "pass both folders, --skip-news without --bronze-news, or --demo",
        )
    try:
        params = RunParams(
            skip_news=cfg.skip_news,
            window=cfg.window,
            prediction_horizon=cfg.prediction_horizon,
            sentiment_model=cfg.sentiment_model,
        )
        params.check()
    except InvalidRunParams as exc:
        raise UserError(str(exc), "see --help for the allowed values") from None
    # only train reads it; an s3:// lake needs one, a local lake defaults to its own store
    mlflow_env = {"MLFLOW_TRACKING_URI": cfg.mlflow_tracking_uri} if cfg.mlflow_tracking_uri else {}
    ctx = RunContext(
        lake_root=cfg.lake_root,
        landing_market=str(cfg.bronze_market),
        landing_news=str(cfg.bronze_news),
        params=params,
        sentiment_model=cfg.sentiment_model,
        demo_fallback=cfg.demo,
        progress=sys.stderr.isatty(),
    )
    for stage, stage_ctx in chunked_stages(pipeline_stages(cfg), ctx, cfg.memory_budget_mb):
        argv = stage.argv(stage_ctx)
        name = stage.task_id + (
            f" {stage_ctx.days.start}..{stage_ctx.days.end}" if stage_ctx.days else ""
        )
        stages.run(name, lambda argv=argv: run_stage(argv, mlflow_env), lambda _: "done")
    if cfg.until != "train":
        return _finish(cfg, stages, {})
    summary = Lake(cfg.lake_root).files.read_json(params.feature_set.training_summary)
    return _finish(cfg, stages, summary, tracking_uri(cfg.lake_root, cfg.mlflow_tracking_uri))


def _generate_demo_data(cfg: PipelineConfig, stages: StageLog) -> None:
    local = not cfg.lake_root.startswith("s3://")
    raw = Path(cfg.lake_root) / "raw" if local else Path(tempfile.mkdtemp(prefix="sp500-demo-"))
    sample = stages.run(
        "sample data",
        lambda: generate_sample_data(
            raw,
            DEMO_START,
            cfg.demo_days,
            seed=cfg.seed,
            news_effect_bps=cfg.news_effect_bps,
            pre_availability_bps=cfg.pre_availability_bps,
            articles_per_day=cfg.articles_per_day,
        ),
    )
    cfg.bronze_market = cfg.bronze_market or sample.market_dir
    cfg.bronze_news = cfg.bronze_news or sample.jsonl_dir


def _finish(
    cfg: PipelineConfig, stages: StageLog, summary: dict[str, Any], tracking_uri: str = ""
) -> dict[str, Any]:
    print("\n=== stages ===")
    for name, seconds, line in stages.rows:
        print(f"{name:<24} {seconds:7.1f} s  {line}")
    if summary:
        print(format_summary(summary))
        path = FeatureSet.from_name(summary.get("variant")).training_summary
        print(f"\nSummary JSON: {cfg.lake_root}/{path}")
        if summary.get("tear_sheet"):
            print(f"Tear sheet:   {cfg.lake_root}/{summary['tear_sheet']}  (open in a browser)")
        print(f"MLflow:       {redact(tracking_uri)}")
        print("Open the UI:  make mlflow-ui   (then http://127.0.0.1:5000)")
    print(f"Lake:         {cfg.lake_root}  (bronze/, silver/, gold/, quarantine/)")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The verdict in one line, then the holdout's models and baselines side by side."""
    metrics = (
        "test_rmse",
        "test_mae",
        "test_directional_accuracy",
        "test_directional_accuracy_demeaned",
        "test_ic",
    )
    rows: list[tuple[str, dict[str, float] | None]] = [
        ("with_news", summary.get("with_news")),
        ("market_only", summary.get("market_only")),
    ]
    rows += [(f"baseline:{k}", v) for k, v in sorted(summary.get("baselines", {}).items())]
    lines = [
        f"\n=== verdict (walk-forward) ===\n{summary['verdict']}",
        "\n=== holdout, scored once (n_train={n_train}, n_val={n_val}, n_test={n_test}) ===".format(
            **summary
        ),
        f"{'model':<30}"
        + "".join(f"{m[5:]:>22}" for m in metrics[:3])
        + f"{'dir_acc_demeaned':>22}"
        + f"{'ic':>22}",
    ]
    for name, values in rows:
        cells = "".join(f"{values[m]:>22.4f}" if values else f"{'(skipped)':>22}" for m in metrics)
        lines.append(f"{name:<30}{cells}")
    lines.append(f"news timed by: {summary.get('news_time')}")
    lines.append(f"sentiment model: {summary.get('sentiment_model_id')}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> PipelineConfig:
    p = argparse.ArgumentParser(
        prog="run_full_pipeline.py",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--bronze-market", help="raw candles: file or folder (or s3:// prefix)")
    p.add_argument("--bronze-news", help="raw articles: file or folder (or s3:// prefix)")
    defaults = settings.current()
    p.add_argument(
        "--lake",
        "--output-dir",
        default=defaults.lake_root,
        help="lake root: folder or s3:// (SP500_LAKE_ROOT); --output-dir is an alias",
    )
    p.add_argument("--skip-news", action="store_true", help="market-only training variant")
    p.add_argument("--window", type=int, default=tables.CANONICAL_WINDOW, help="news window, min")
    p.add_argument(
        "--prediction-horizon",
        type=int,
        default=tables.CANONICAL_HORIZON,
        help="label horizon, minutes",
    )
    p.add_argument(
        "--sentiment-model",
        default=defaults.sentiment_model,
        help="HF id, folder or lexicon (SP500_SENTIMENT_MODEL)",
    )
    p.add_argument(
        "--mlflow-tracking-uri",
        default=defaults.mlflow_tracking_uri,
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///<lake>/mlflow.db)",
    )
    p.add_argument("--until", choices=UNTIL, default="train", help="last layer to run")
    p.add_argument(
        "--demo",
        action="store_true",
        help="generate --demo-days days of sample candles and news (with a planted news "
        "effect) under <lake>/raw first, ingest them, and fall back to the lexicon "
        "scorer with a loud warning when the transformer model cannot be loaded (never "
        "outside demo mode)",
    )
    p.add_argument("--demo-days", type=int, default=DEMO_DAYS, help="days of sample data")
    p.add_argument("--seed", type=int, default=7, help="sample data seed")
    p.add_argument(
        "--news-effect-bps",
        type=float,
        default=PipelineConfig.news_effect_bps,
        help="news effect planted in the demo, from each article's availability",
    )
    p.add_argument(
        "--pre-availability-bps",
        type=float,
        default=PipelineConfig.pre_availability_bps,
        help="effect planted between publication and availability (a point-in-time "
        "pipeline must not find it)",
    )
    p.add_argument(
        "--articles-per-day",
        type=float,
        default=PipelineConfig.articles_per_day,
        help="mean sample articles per day (Poisson) in the demo",
    )
    p.add_argument(
        "--memory-budget-mb",
        type=int,
        default=defaults.memory_budget_mb,
        help="peak RSS the silver and gold chunks are sized for (SP500_MEMORY_BUDGET_MB)",
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of user errors")
    args = vars(p.parse_args(argv))
    args.pop("debug")
    return PipelineConfig(**args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging(fmt="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_args(argv)  # a bad SP500_* value is a user error too
        run_pipeline(cfg)
    except UserError as exc:
        if "--debug" in argv:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    except Exception as exc:
        log.exception("pipeline failed")
        print(f"\nerror: pipeline failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

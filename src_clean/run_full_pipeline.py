"""Run bronze → silver → gold → train end to end, in-process, and print a summary.

    python src_clean/run_full_pipeline.py --demo --output-dir data_clean
    python src_clean/run_full_pipeline.py --bronze-market raw/market --bronze-news raw/news \\
        --output-dir data_clean --sentiment-model models/ProsusAI__finbert

``--output-dir`` is the lake root. ``--demo`` generates sample data under
``<output-dir>/raw`` first and allows the lexicon fallback when the transformer model
cannot be loaded (never outside demo mode).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src_clean.lake import Lake
from src_clean.logging_setup import configure_logging
from src_clean.redact import redact

STAGES = ("bronze", "silver", "gold", "train")
DEMO_DAYS = 60
DEMO_START = dt.date(2024, 1, 1)

log = logging.getLogger("run_full_pipeline")


@dataclass
class PipelineConfig:
    """Everything the end-to-end run needs; mirrors the CLI flags."""

    output_dir: Path
    bronze_market: Path | None = None
    bronze_news: Path | None = None
    skip_news: bool = False
    window: int = 60
    prediction_horizon: int = 30
    sentiment_model: str = "ProsusAI/finbert"
    mlflow_tracking_uri: str | None = None
    until: str = "train"
    demo: bool = False
    demo_days: int = DEMO_DAYS
    seed: int = 7
    news_effect_bps: float = 25.0


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


def default_tracking_uri(output_dir: Path) -> str:
    """``$MLFLOW_TRACKING_URI``, else a SQLite store inside the lake."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{output_dir.resolve()}/mlflow.db"


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Run the stages up to ``cfg.until``; returns the training summary (or {} before train)."""
    from src_clean.data_pipelines.bronze.market import ingest_market
    from src_clean.data_pipelines.bronze.news import ingest_news
    from src_clean.data_pipelines.gold.news_signals import build_news_signals
    from src_clean.data_pipelines.gold.training_set import build_training_set
    from src_clean.data_pipelines.silver.market_features import build_market_features

    lake = Lake(cfg.output_dir)
    stages = StageLog()
    last = STAGES.index(cfg.until)

    if cfg.demo:
        _generate_demo_data(cfg, stages)
    if cfg.bronze_market is None or (cfg.bronze_news is None and not cfg.skip_news):
        raise SystemExit("error: --bronze-market and --bronze-news are required (or use --demo)")

    stages.run("bronze market", lambda: ingest_market(cfg.bronze_market, lake))
    if not cfg.skip_news:
        stages.run("bronze news", lambda: ingest_news(cfg.bronze_news, lake))
    if last < STAGES.index("silver"):
        return _finish(cfg, stages, {})

    stages.run("silver market features", lambda: build_market_features(lake))
    model_id = None
    if not cfg.skip_news:
        from src_clean.data_pipelines.silver.sentiment_stage import score_new_articles

        report = stages.run(
            "silver sentiment",
            lambda: score_new_articles(lake, cfg.sentiment_model, demo_fallback=cfg.demo),
        )
        model_id = report.model_id
    if last < STAGES.index("gold"):
        return _finish(cfg, stages, {})

    if not cfg.skip_news:
        stages.run(
            "gold news signals",
            lambda: build_news_signals(lake, window_minutes=cfg.window, model_id=model_id),
        )
    stages.run(
        "gold training set",
        lambda: build_training_set(
            lake, horizon_minutes=cfg.prediction_horizon, skip_news=cfg.skip_news
        ),
    )
    if last < STAGES.index("train"):
        return _finish(cfg, stages, {})

    from src_clean.training.config import TrainConfig
    from src_clean.training.train import train

    tracking_uri = cfg.mlflow_tracking_uri or default_tracking_uri(cfg.output_dir)
    summary = stages.run(
        "train",
        lambda: train(lake, TrainConfig(tracking_uri=tracking_uri)),
        lambda s: f"MLflow run {s['mlflow_run_id']}",
    )
    return _finish(cfg, stages, summary, tracking_uri)


def _generate_demo_data(cfg: PipelineConfig, stages: StageLog) -> None:
    from src_clean.sample_data import generate_sample_data

    raw = cfg.output_dir / "raw"
    sample = stages.run(
        "sample data",
        lambda: generate_sample_data(
            raw, DEMO_START, cfg.demo_days, seed=cfg.seed, news_effect_bps=cfg.news_effect_bps
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
        print(f"\nSummary JSON: {cfg.output_dir / 'reports' / 'training_summary.json'}")
        print(f"MLflow:       {redact(tracking_uri)}")
        print("Open the UI:  make mlflow-ui   (then http://127.0.0.1:5000)")
    print(f"Lake:         {cfg.output_dir.resolve()}  (bronze/, silver/, gold/, quarantine/)")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Models and baselines side by side on the test set, then the news uplift."""
    metrics = ("test_rmse", "test_mae", "test_directional_accuracy", "test_ic")
    rows: list[tuple[str, dict[str, float] | None]] = [
        ("with_news", summary.get("with_news")),
        ("market_only", summary.get("market_only")),
    ]
    rows += [(f"baseline:{k}", v) for k, v in sorted(summary.get("baselines", {}).items())]
    lines = [
        "\n=== test set (n_train={n_train}, n_val={n_val}, n_test={n_test}) ===".format(**summary),
        f"{'model':<30}" + "".join(f"{m[5:]:>22}" for m in metrics),
    ]
    for name, values in rows:
        cells = "".join(f"{values[m]:>22.4f}" if values else f"{'(skipped)':>22}" for m in metrics)
        lines.append(f"{name:<30}{cells}")
    uplift = summary.get("uplift")
    if uplift:
        lines.append("\nnews uplift (with_news - market_only), 95% block-bootstrap interval:")
        for metric, u in uplift.items():
            verdict = "significant" if u["ci_low"] > 0 or u["ci_high"] < 0 else "covers zero"
            lines.append(
                f"  {metric:<24} {u['estimate']:+.4f}  [{u['ci_low']:+.4f}, {u['ci_high']:+.4f}]"
                f"  ({verdict})"
            )
    lines.append(f"sentiment model: {summary.get('sentiment_model_id')}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> PipelineConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bronze-market", type=Path, help="raw candles: file or folder")
    p.add_argument("--bronze-news", type=Path, help="raw articles: file or folder")
    p.add_argument("--output-dir", type=Path, default=Path("data_clean"), help="lake root")
    p.add_argument("--skip-news", action="store_true", help="market-only run")
    p.add_argument("--window", type=int, default=60, help="news window in minutes")
    p.add_argument("--prediction-horizon", type=int, default=30, help="label horizon, minutes")
    p.add_argument("--sentiment-model", default="ProsusAI/finbert", help="HF id, path or lexicon")
    p.add_argument("--mlflow-tracking-uri", help="default: $MLFLOW_TRACKING_URI or lake SQLite")
    p.add_argument("--until", choices=STAGES, default="train", help="last stage to run")
    p.add_argument("--demo", action="store_true", help="generate sample data first")
    p.add_argument("--demo-days", type=int, default=DEMO_DAYS, help="days of sample data")
    p.add_argument("--seed", type=int, default=7, help="sample data seed")
    p.add_argument("--news-effect-bps", type=float, default=25.0, help="planted effect (demo)")
    args = p.parse_args(argv)
    return PipelineConfig(**vars(args))


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging(fmt="%(levelname)s %(name)s: %(message)s")
    cfg = parse_args(argv)
    try:
        run_pipeline(cfg)
    except Exception as exc:
        log.exception("pipeline failed")
        print(f"\nerror: pipeline failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The verdict in words: the one-line verdict, the parent run's description, the training
summary (``reports/training_summary.json``) and the report ``train`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS
from src_clean.training.metrics import METRICS
from src_clean.training.walk_forward import ALPHA

if TYPE_CHECKING:
    from src_clean.training.experiment import GoldSnapshot, Outcome

_REPORT_COLUMNS = dict(zip(METRICS, ("rmse", "mae", "dir_acc", "dir_dm", "ic"), strict=True))


def verdict_line(walk: dict[str, Any]) -> str:
    """The verdict in one line: IC uplift with its interval, the null's p, net of costs."""
    pnl = walk["pnl"]
    spread = f"{pnl['spread_points']:g}-point spread"
    if "uplift_ic" not in walk["pooled"]:
        market = pnl[MARKET_ONLY]["sign"]
        daily = walk["pooled"][f"{MARKET_ONLY}_daily_ic"]["estimate"]
        return (
            f"market features only: daily IC {daily:+.4f}; "
            f"net of a {spread}, {market['net_mean_bps']:+.2f} bps/trade "
            f"(SE {market['net_se_bps']:.2f})"
        )
    uplift, null = walk["pooled"]["uplift_ic"], walk["null"]
    treated, control = pnl[WITH_NEWS]["sign"], pnl[MARKET_ONLY]["sign"]
    p = "n/a" if null["p_value"] is None else f"{null['p_value']:.3f}"
    return (
        f"news adds {uplift['estimate']:+.4f} daily IC (95% CI {uplift['low']:+.4f} to "
        f"{uplift['high']:+.4f}, {walk['pooled']['sessions']} test sessions, "
        f"{len(walk['seeds'])} seeds), p = {p} against shuffled news "
        f"({null['permutations']} permutations); net of a {spread}: with_news "
        f"{treated['net_mean_bps']:+.2f} bps/trade (SE {treated['net_se_bps']:.2f}) vs "
        f"market_only {control['net_mean_bps']:+.2f} (SE {control['net_se_bps']:.2f}); "
        + ("significant" if walk["significant"] else "not significant")
        + f" at {ALPHA:.0%} (CI above 0 and p <= {ALPHA:g})"
    )


def run_description(outcome: Outcome) -> str:
    """The parent run's description (Markdown): the verdict line first, then per fold."""
    walk = outcome.verdict.summary
    lines = [f"**{verdict_line(walk)}**", ""]
    names = [n for n in (WITH_NEWS, MARKET_ONLY) if n in outcome.data.feature_sets]
    lines.append("| fold | " + " | ".join(f"{n} daily IC" for n in names) + " | uplift (95% CI) |")
    lines.append("|---" * (len(names) + 2) + "|")
    for fold in walk["folds"]:
        cells = " | ".join(f"{fold['models'][n]['daily_ic']:+.4f}" for n in names)
        ci = fold.get("uplift_ic")
        uplift = (
            "-" if ci is None else f"{ci['estimate']:+.4f} ({ci['low']:+.4f}, {ci['high']:+.4f})"
        )
        lines.append(f"| {fold['fold']} | {cells} | {uplift} |")
    flagged = [
        f"{n} in {k} of {len(walk['folds'])} folds" for n, k in walk["degenerate"].items() if k
    ]
    if flagged:
        lines.append("")
        lines.append(f"Degenerate (one tree or a constant forecast): {', '.join(flagged)}.")
    return "\n".join(lines)


def _numbers(scores: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in scores.items() if isinstance(v, int | float) and k != "degenerate"}


def build_summary(
    outcome: Outcome, snapshot: GoldSnapshot, tracked: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    """The training summary (``reports/training_summary.json``, a variant's under
    ``reports/variants/<variant>/``): the walk-forward verdict first, then the holdout."""
    walk, holdout = outcome.verdict.summary, outcome.holdout
    models = {name: result.summary() for name, result in outcome.models.items()}
    uplift = walk["pooled"].get("uplift_ic")
    baselines = {
        name.removeprefix("baseline:"): _numbers(scores)
        for name, scores in holdout["models"].items()
        if name.startswith("baseline:")
    }
    return {
        "verdict": verdict_line(walk),
        "walk_forward": walk | {"plan": outcome.plan.describe(outcome.times)},
        "holdout": holdout,
        WITH_NEWS: models.get(WITH_NEWS),
        MARKET_ONLY: models[MARKET_ONLY],
        "baselines": baselines,
        "uplift": None
        if uplift is None
        else {
            "ic": {
                "estimate": uplift["estimate"],
                "ci_low": uplift["low"],
                "ci_high": uplift["high"],
                "p_value": walk["null"]["p_value"],
                "significant": walk["significant"],
            }
        },
        "sentiment_model_id": outcome.spec.sentiment_model_id,
        "news_time": outcome.spec.news_time,
        "horizon_minutes": outcome.spec.horizon_minutes,
        "feature_list_hash": outcome.spec.feature_list_hash,
        "variant": outcome.config.variant,
        "gold_table": snapshot.table,
        "gold_version": snapshot.version,
        "fingerprint": fingerprint,
        **{f"n_{part}": n for part, n in outcome.plan.holdout.sizes().items()},
        **tracked,
    }


def _cell(value: float | None) -> str:
    return f"{'-':>10}" if value is None else f"{value:>10.4f}"


def format_report(summary: dict[str, Any]) -> str:
    """The verdict, the holdout's models x metrics table and the champion decision."""
    rows = {name: summary[name] for name in (WITH_NEWS, MARKET_ONLY)}
    rows |= {f"baseline:{name}": metrics for name, metrics in summary["baselines"].items()}
    lines = [f"verdict: {summary['verdict']}", "", "holdout (scored once, after the walk-forward):"]
    lines.append(f"{'model':<30}" + "".join(f"{_REPORT_COLUMNS[m]:>10}" for m in METRICS))
    for name, metrics in rows.items():
        cells = "".join(_cell(None if metrics is None else metrics[m]) for m in METRICS)
        lines.append(f"{name:<30}{cells}")
    decision = summary["champion_decision"]
    lines.append(f"data {summary['gold_table']}@v{summary['gold_version']}")
    lines.append(
        f"{decision['registered_model']} v{decision['challenger_version']}: {decision['reason']}"
    )
    lines.append(f"mlflow run {summary['mlflow_run_id']}")
    return "\n".join(lines)

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


def verdict_line(walk: dict[str, Any], holdout: dict[str, Any] | None = None) -> str:
    """The verdict in one line: the claim in plain words, then the primary test (the
    pre-registered news factor), the secondary (the model uplift), the holdout and costs."""
    pnl = walk["pnl"]
    spread = f"{pnl['spread_points']:g}-point spread"
    if "secondary" not in walk:
        market = pnl[MARKET_ONLY]["sign"]
        daily = walk["pooled"][f"{MARKET_ONLY}_daily_ic"]["estimate"]
        return (
            f"market features only: daily IC {daily:+.4f}; "
            f"net of a {spread}, {market['net_mean_bps']:+.2f} bps/trade "
            f"(SE {market['net_se_bps']:.2f})"
        )
    primary, secondary = walk["primary"], walk["secondary"]
    treated, control = pnl[WITH_NEWS]["sign"], pnl[MARKET_ONLY]["sign"]
    sessions = primary["sessions"]
    if walk["claim"]["significant"]:
        which = [n for n, r in walk["claim"]["rejected"].items() if r]
        claim = f"news is significant at {ALPHA:.0%} ({' and '.join(which)} test, Holm)"
    else:
        claim = (
            f"news is not significant at {ALPHA:.0%}: neither test beats the shuffled-news "
            "null after Holm"
        )
    if primary["p_value"] is None:
        first = f"primary {primary['factor']}: not tested ({primary.get('reason', 'no null')})"
    else:
        first = (
            f"primary {primary['factor']} daily IC {primary['ic']:+.4f} (ICIR "
            f"{primary['icir']:.2f}, t {primary['t']:.1f}), p = {p_text(primary)}"
        )
    second = (
        f"secondary model uplift {secondary['estimate']:+.4f} daily IC (95% CI "
        f"{secondary['low']:+.4f} to {secondary['high']:+.4f} over "
        f"{len(secondary['fold_uplift_ic'])} folds), p = {p_text(secondary)}"
    )
    held = (holdout or {}).get("uplift_ic")
    held_text = "" if not held else f"; holdout uplift {held['estimate']:+.4f}"
    return (
        f"{claim}. {first}; {second}; {sessions} test sessions, "
        f"{null_size(walk['null'])}{held_text}; net of a {spread}: "
        f"with_news {treated['net_mean_bps']:+.2f} bps/trade (SE {treated['net_se_bps']:.2f}) "
        f"vs market_only {control['net_mean_bps']:+.2f} (SE {control['net_se_bps']:.2f})"
    )


def null_size(null: dict[str, Any]) -> str:
    """ "199 permutations", or "999 permutations (19 refitted)" when fewer were refitted."""
    refits = null.get("refits", null["permutations"])
    fewer = f" ({refits} refitted)" if refits != null["permutations"] else ""
    return f"{null['permutations']} permutations{fewer}"


def p_text(test: dict[str, Any]) -> str:
    """A p-value at its resolution, 1 / (1 + permutations): p = 0.005 is the floor of 199."""
    p = test.get("p_value")
    if p is None:
        return "not tested"
    floor = 1 / (1 + test["permutations"])
    return f"{p:.3f}" + (" (the floor)" if abs(p - floor) < 1e-12 else "")


def run_description(outcome: Outcome) -> str:
    """The parent run's description (Markdown): the verdict line first, then per fold."""
    walk = outcome.verdict.summary
    lines = [f"**{verdict_line(walk, outcome.holdout)}**", ""]
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
        "verdict": verdict_line(walk, holdout),
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

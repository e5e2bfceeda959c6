"""The verdict tear sheet: one self-contained HTML page per training run.

Ten seconds to the answer, a minute to the evidence. From top to bottom: the verdict in
one plain sentence (what its p-values and interval mean); the pre-registered news factor
(daily IC, ICIR, t, decile forward returns, IC by horizon); the model uplift per fold;
both null distributions with the observed values marked; net-of-cost equity curves
against buy-and-hold; the news-lag curve, the holdout and the seeds.

Jinja2 (autoescaped) with inline SVG (``src_clean.charts``): no script, nothing fetched,
so it opens the same from the lake (``reports/verdict/<run>.html``), as the MLflow run's
artifact (``verdict/tear_sheet.html``) or attached to a mail. Rendered from the training
summary and the equity curves only, so any recorded run can be redrawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from src_clean import charts
from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS
from src_clean.training.verdict import null_size, p_text
from src_clean.training.walk_forward import ALPHA

MAX_CURVE_POINTS = 600
FOLDER = "reports/verdict"

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Verdict: {{ headline }}</title><link rel="icon" href="data:,">
<style>
body{font:14px system-ui,sans-serif;margin:24px auto;max-width:780px;color:#1d2430}
h1{font-size:21px;line-height:1.35}h2{font-size:16px;margin-top:30px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d4da;padding:4px 8px;
text-align:left}th{background:#f3f4f6}.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{background:#e7f6ea}.no{background:#f3f4f6}.muted{color:#5b6472}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
svg{display:block;margin:8px 0}details{margin-top:24px}
</style></head><body>
<h1 id="verdict"><span class="badge {{ 'yes' if significant else 'no' }}">{{ headline }}</span>
{{ sentence }}</h1>
<p id="meaning" class="muted">{{ meaning }}</p>
<p class="muted">Run {{ run_id }} · gold {{ gold }} · sentiment {{ sentiment }} ·
news timed by {{ news_time }} · horizon {{ horizon }} min · {{ sessions }} test sessions ·
{{ null_size }}.</p>

<h2>1. Primary test: {{ primary.factor }} on its own</h2>
{% if primary.p_value is not none %}
<table id="primary"><tr><th>daily IC</th><th>ICIR</th><th>t</th><th>p (one-sided)</th>
<th>sessions</th></tr><tr><td class="num">{{ "%+.4f"|format(primary.ic) }}</td>
<td class="num">{{ "%.2f"|format(primary.icir) }}</td>
<td class="num">{{ "%.1f"|format(primary.t) }}</td><td class="num">{{ p_primary }}</td>
<td class="num">{{ primary.sessions }}</td></tr></table>
{{ deciles|safe }}{{ horizons|safe }}
{% else %}<p id="primary">Not tested: {{ primary.reason or "no null" }}.</p>{% endif %}

<h2>2. Secondary test: does the model with news beat the market-only model?</h2>
<table id="secondary"><tr><th>uplift (daily IC)</th><th>95% interval over folds</th>
<th>p</th><th>holdout uplift</th></tr><tr>
<td class="num">{{ "%+.4f"|format(secondary.estimate) }}</td>
<td class="num">{{ "%+.4f"|format(secondary.low) }} to {{ "%+.4f"|format(secondary.high) }}</td>
<td class="num">{{ p_secondary }}</td><td class="num">{{ holdout_uplift }}</td></tr></table>
{{ folds_chart|safe }}
<table id="folds"><tr><th>fold</th><th>test sessions</th><th>with_news</th>
<th>market_only</th><th>uplift</th></tr>
{% for f in folds %}<tr><td>{{ f.name }}</td><td>{{ f.range }}</td>
<td class="num">{{ "%+.4f"|format(f.with_news) }}</td>
<td class="num">{{ "%+.4f"|format(f.market_only) }}</td>
<td class="num">{{ "%+.4f"|format(f.uplift) }}</td></tr>{% endfor %}</table>

<h2>3. Against chance: the shuffled-news null</h2>
<p class="muted">Each permutation moves whole sessions of news onto other sessions (minute of
day kept) and scores both tests again by the observed values' recipe. p = (1 + permutations
at or above the observed) / (1 + permutations).</p>
{{ null_primary|safe }}{{ null_secondary|safe }}

<h2>4. Net of costs</h2>
{{ equity|safe }}
<table id="pnl"><tr><th>strategy</th><th>bps/trade (net)</th><th>SE</th><th>trades</th>
<th>hit rate</th><th>max drawdown (bps)</th></tr>
{% for r in pnl %}<tr><td>{{ r.name }}</td><td class="num">{{ "%+.2f"|format(r.net_mean_bps) }}</td>
<td class="num">{{ "%.2f"|format(r.net_se_bps) }}</td><td class="num">{{ r.trades }}</td>
<td class="num">{{ "%.3f"|format(r.hit_rate) }}</td>
<td class="num">{{ "%.0f"|format(r.max_drawdown_bps) }}</td></tr>{% endfor %}</table>

<details open><summary><strong>5. More evidence: lag curve, holdout, seeds, dropped
columns</strong></summary>
{{ lag|safe }}
<table id="holdout"><tr><th>holdout model ({{ holdout_sessions }} sessions)</th>
<th>daily IC</th><th>IC</th><th>direction accuracy</th></tr>
{% for r in holdout %}<tr><td>{{ r.name }}</td><td class="num">{{ r.daily_ic }}</td>
<td class="num">{{ r.ic }}</td><td class="num">{{ r.dir_acc }}</td></tr>{% endfor %}</table>
<p id="seeds">Uplift per seed: {{ seeds }}.</p>
<p id="dropped">Columns dropped before fitting: {{ dropped }}.</p>
<p class="muted">Claim rule: {{ rule }} at {{ alpha }}.</p>
</details>
</body></html>
"""


def _num(value: Any, form: str = "{:+.4f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return form.format(value)


def headline(walk: dict[str, Any]) -> tuple[bool, str, str, str]:
    """(significant, badge, sentence, what it means) in plain words."""
    if "claim" not in walk:
        return (False, "market features only", "This run has no news features to test.", "")
    significant = bool(walk["claim"]["significant"])
    primary, secondary = walk["primary"], walk["secondary"]
    if significant:
        which = " and ".join(n for n, r in walk["claim"]["rejected"].items() if r)
        sentence = (
            f"News moves the index over the next half hour: the {which} test beats "
            f"shuffled news at {ALPHA:.0%} after Holm's correction."
        )
    else:
        sentence = (
            f"No evidence that news moves the index: neither test beats shuffled news at "
            f"{ALPHA:.0%} after Holm's correction."
        )
    meaning = (
        f"p is the share of shuffled-news datasets that score at least as well as the real "
        f"news (primary {p_text(primary)} of {primary.get('permutations', 0)}, secondary "
        f"{p_text(secondary)} of {secondary['permutations']} refits); the smallest p is "
        f"1 / (1 + that count). The uplift's 95% "
        f"interval ({secondary['low']:+.4f} to {secondary['high']:+.4f}) is the spread of "
        "the per-fold uplifts, so it includes the variance of refitting; an interval that "
        "includes 0 means the model's gain from news is within noise."
    )
    badge = f"significant at {ALPHA:.0%}" if significant else f"not significant at {ALPHA:.0%}"
    return significant, badge, sentence, meaning


def _thin(values: np.ndarray) -> np.ndarray:
    step = max(1, len(values) // MAX_CURVE_POINTS)
    return values[::step]


def _equity_chart(walk: dict[str, Any], curves: dict[str, np.ndarray], times: pd.Series) -> str:
    spread = walk["pnl"]["spread_points"]
    mean_cost = walk["pnl"].get("mean_cost_bps")
    title = f"net equity (bps), non-overlapping trades, {spread:g}-point round-trip spread" + (
        f" (about {mean_cost:.2f} bps)" if mean_cost and math.isfinite(mean_cost) else ""
    )
    if not curves or times is None or len(times) < 2:
        return charts.empty("equity", f"{title}: no trades.")
    return charts.lines(
        "equity",
        title,
        {name: _thin(np.asarray(c, dtype=float)).tolist() for name, c in curves.items()},
        y_label="cumulative bps",
        x_left=f"{times.iloc[0]:%Y-%m-%d}",
        x_right=f"{times.iloc[-1]:%Y-%m-%d}",
    )


def render(
    summary: dict[str, Any],
    curves: dict[str, np.ndarray] | None = None,
    curve_times: pd.Series | None = None,
) -> str:
    """The tear sheet's HTML from a training summary (and the run's equity curves)."""
    walk = summary["walk_forward"]
    significant, badge, sentence, meaning = headline(walk)
    primary = walk.get("primary") or {"factor": "-", "p_value": None, "reason": "no news"}
    secondary = walk.get("secondary") or {"estimate": math.nan, "low": math.nan,
                                          "high": math.nan, "p_value": None}  # fmt: skip
    deciles = primary.get("decile_returns") or []
    horizons = primary.get("ic_by_horizon") or []
    folds = [
        {
            "name": f["fold"],
            "range": f"{f['test'][0][:10]} to {f['test'][1][:10]}" if f.get("test") else "",
            "with_news": f["models"].get(WITH_NEWS, {}).get("daily_ic", math.nan),
            "market_only": f["models"][MARKET_ONLY]["daily_ic"],
            "uplift": f.get("uplift_ic", {}).get("estimate", math.nan),
        }
        for f in walk["folds"]
    ]
    holdout = summary.get("holdout") or {}
    held_models = holdout.get("models", {})
    null = walk.get("null", {})
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(TEMPLATE).render(
        headline=badge,
        significant=significant,
        sentence=sentence,
        meaning=meaning,
        run_id=summary.get("mlflow_run_id", "-"),
        gold=f"{summary.get('gold_table', '-')}@v{summary.get('gold_version', '-')}",
        sentiment=summary.get("sentiment_model_id", "-"),
        news_time=summary.get("news_time", "-"),
        horizon=summary.get("horizon_minutes", "-"),
        sessions=primary.get("sessions", "-"),
        null_size=null_size(null) if null else "no null",
        primary=primary,
        p_primary=p_text(primary),
        deciles=charts.bars(
            "deciles",
            f"mean forward return by {primary['factor']} decile (lowest first)",
            [f"D{i + 1}" for i in range(len(deciles))],
            deciles,
            y_label="bps",
        )
        if deciles
        else "",
        horizons=charts.bars(
            "ic-by-horizon",
            f"{primary['factor']} daily IC by horizon",
            [f"{h['minutes']} min" for h in horizons],
            [h["ic"] for h in horizons],
            y_label="daily IC",
        )
        if horizons
        else "",
        secondary=secondary,
        p_secondary=p_text(secondary),
        holdout_uplift=_num((holdout.get("uplift_ic") or {}).get("estimate")),
        folds=folds,
        folds_chart=charts.intervals(
            "fold-uplift",
            "uplift per fold (daily IC, with_news minus market_only; 95% session bootstrap)",
            [f["fold"] for f in walk["folds"]],
            [
                (u.get("estimate", math.nan), u.get("low"), u.get("high"))
                for u in (f.get("uplift_ic", {}) for f in walk["folds"])
            ],
            y_label="daily IC uplift",
        ),
        null_primary=charts.histogram(
            "null-primary",
            f"primary: {primary['factor']} daily IC under shuffled news",
            primary.get("null_ic") or [],
            primary.get("ic"),
            x_label="daily IC",
        )
        if primary.get("null_ic")
        else "",
        null_secondary=charts.histogram(
            "null-secondary",
            "secondary: model uplift under shuffled news",
            null.get("uplift_ic") or [],
            secondary.get("estimate"),
            x_label="daily IC uplift",
        )
        if null.get("uplift_ic")
        else "",
        equity=_equity_chart(walk, curves or {}, curve_times),
        pnl=[
            {"name": f"{name} {rule}", **walk["pnl"][name][rule]}
            for name in (WITH_NEWS, MARKET_ONLY)
            if name in walk["pnl"]
            for rule in ("sign", "threshold")
        ]
        + (
            [{"name": "buy_and_hold", **walk["pnl"][MARKET_ONLY]["buy_and_hold"]}]
            if "buy_and_hold" in walk["pnl"].get(MARKET_ONLY, {})
            else []
        ),
        lag=charts.lines(
            "lag-curve",
            "uplift when the news arrives later (refitted per delay)",
            {"uplift": [c["uplift_ic"] for c in walk.get("lag_curve", [])]},
            y_label="daily IC uplift",
            x_left=f"{walk['lag_curve'][0]['lag_minutes']} min" if walk.get("lag_curve") else "",
            x_right=f"{walk['lag_curve'][-1]['lag_minutes']} min" if walk.get("lag_curve") else "",
        ),
        holdout_sessions=holdout.get("sessions", "-"),
        holdout=[
            {
                "name": name,
                "daily_ic": _num(scores.get("daily_ic")),
                "ic": _num(scores.get("test_ic")),
                "dir_acc": _num(scores.get("test_directional_accuracy"), "{:.3f}"),
            }
            for name, scores in held_models.items()
        ],
        seeds=", ".join(f"{v:+.4f}" for v in walk.get("per_seed_uplift_ic", [])) or "-",
        dropped=", ".join(f"{k} ({v})" for k, v in walk.get("dropped_features", {}).items())
        or "none",
        rule=(walk.get("claim") or {}).get("rule", "-"),
        alpha=f"{ALPHA:.0%}",
    )


def path_for(run_id: str) -> str:
    """The tear sheet's lake path for a run (run ids are unique across variants)."""
    return f"{FOLDER}/{run_id}.html"

"""The monitoring report people open: one self-contained HTML page per run.

Server-rendered (Jinja2, autoescaped), no script and nothing fetched from elsewhere, so it
opens the same from the lake, as an MLflow artifact or in a mail. It shows the run's status
per check (warnings and failures first), the drift table (each feature's PSI, KS and
Wasserstein scores and verdict), the champion's rolling live IC against its expected band
(an inline SVG chart) and the latest signal.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape

from src_clean.monitoring.checks import (
    STATUSES,
    SUSTAINED_WINDOW,
    day_status,
    headline_rows,
)

CHART_WIDTH, CHART_HEIGHT, PAD = 720, 240, 36

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}: {{ overall }}</title><link rel="icon" href="data:,">
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2430;max-width:900px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d4da;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f4f6}
.ok{background:#e7f6ea}.warn{background:#fff4d6}.fail{background:#fde2e1}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}details{margin-top:18px}
summary{font-weight:600;cursor:pointer}
</style></head><body>
<h1>{{ title }} <span class="badge {{ overall }}" id="overall">{{ overall }}</span></h1>
<p id="counts">{{ counts.ok }} ok, {{ counts.warn }} warn, {{ counts.fail }} fail.
{% if champion %}Champion {{ champion }}{% if review_state %}
(<strong>{{ review_state }}</strong>){% endif %}.{% else %}No champion yet: drift and the live
record wait for the first promoted model.{% endif %}
{% for text, href in links.items() %} <a href="{{ href }}">{{ text }}</a>{% endfor %}</p>
<h2>Changed since the previous monitored day{% if previous_day %}
({{ previous_day }}){% endif %}</h2>
{% if changes is none %}<p id="changes">No earlier day to compare with.</p>
{% elif changes %}<table id="changes"><tr><th>check</th><th>subject</th><th>was</th>
<th>now</th><th>detail</th></tr>
{% for c in changes %}<tr class="{{ c.status }}"><td>{{ c.check }}</td><td>{{ c.subject }}</td>
<td>{{ c.was }}</td><td>{{ c.status }}</td><td>{{ c.detail }}</td></tr>{% endfor %}</table>
{% else %}<p id="changes">Nothing changed.</p>{% endif %}
<h2>Live record: {{ window }}-session rolling daily IC</h2>
{{ chart|safe }}
<details id="details-checks"{% if overall != "ok" %} open{% endif %}>
<summary>Checks ({{ checks|length }})</summary>
<table id="checks"><tr><th>status</th><th>kind</th><th>check</th><th>subject</th>
<th>value</th><th>threshold</th><th>detail</th></tr>
{% for c in checks %}<tr class="{{ c.status }}"><td>{{ c.status }}</td><td>{{ c.kind }}</td>
<td>{{ c.check }}</td><td>{{ c.subject }}</td><td class="num">{{ c.value|fmt }}</td>
<td class="num">{{ c.threshold|fmt }}</td><td>{{ c.detail }}</td></tr>{% endfor %}
</table></details>
<details id="details-drift"><summary>Drift against the champion's training window</summary>
{% if drift %}<table id="drift"><tr><th>feature</th><th>PSI</th><th>KS</th>
<th>Wasserstein (normed)</th><th>verdict</th></tr>
{% for d in drift %}<tr class="{{ d.status }}"><td>{{ d.subject }}</td>
<td class="num">{{ d.psi|fmt }}</td><td class="num">{{ d.ks|fmt }}</td>
<td class="num">{{ d.wasserstein|fmt }}</td><td>{{ d.status }}</td></tr>{% endfor %}
</table>{% else %}<p id="drift">No drift computed (no champion or no rows).</p>{% endif %}
</details>
<details id="details-signal"><summary>Signal at the end of this day</summary>
{% if signal %}{% if signal.state == "stale" %}<p id="signal-stale" class="fail">STALE:
{{ signal.stale_reason }}</p>{% endif %}<table id="signal"><tr><th>bar</th>
<th>decision time</th><th>age</th><th>predicted</th><th>direction</th><th>model</th>
<th>source</th></tr><tr><td>{{ signal.bar_time }}</td><td>{{ signal.decision_time }}</td>
<td class="num">{{ "%.0f"|format(signal.feature_freshness.age_seconds) }} s</td>
<td class="num">{% if signal.predicted_return_bps is not none %}{{
"%+.2f"|format(signal.predicted_return_bps) }} bps{% else %}-{% endif %}</td>
<td>{{ signal.direction or "-" }}</td><td>{{ signal.model_name }} v{{ signal.model_version }}
</td><td>{{ signal.source or "gold" }}</td></tr></table>{% if signal.feeds %}
<p id="feeds">feed lags at the decision: market {{ signal.feeds.market_lag_s|fmt }} s,
news {{ signal.feeds.news_lag_s|fmt }} s</p>{% endif %}{% else %}<p id="signal">{{
signal_note }}</p>{% endif %}
</details>
</body></html>
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring: every day</title>
<link rel="icon" href="data:,"><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2430}
table{border-collapse:collapse}td,th{border:1px solid #d0d4da;padding:4px 8px}
th{background:#f3f4f6}.ok{background:#e7f6ea}.warn{background:#fff4d6}.fail{background:#fde2e1}
.num{text-align:right}</style></head><body><h1>Monitoring: every day</h1>
<table id="days"><tr><th>day</th><th>status</th><th>ok</th><th>warn</th><th>fail</th></tr>
{% for d in days %}<tr class="{{ d.status }}"><td><a href="{{ d.day }}.html">{{ d.day }}</a></td>
<td>{{ d.status }}</td><td class="num">{{ d.counts.ok }}</td>
<td class="num">{{ d.counts.warn }}</td><td class="num">{{ d.counts.fail }}</td></tr>
{% endfor %}</table></body></html>
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def drift_table(checks: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per drifted subject: the three scores and the verdict."""
    drift = checks[checks["kind"] == "drift"]
    rows = []
    for subject, group in drift.groupby("subject", sort=True):
        scores = group.set_index("check")["value"]
        verdict = group.loc[group["check"] == "drift", "status"]
        rows.append(
            {
                "subject": subject,
                "psi": scores.get("drift_psi", scores.get("drift", float("nan"))),
                "ks": scores.get("drift_ks", float("nan")),
                "wasserstein": scores.get("drift_wasserstein", float("nan")),
                "status": verdict.iloc[0] if len(verdict) else "ok",
            }
        )
    return sorted(rows, key=lambda r: (-STATUSES.index(r["status"]), r["subject"]))


def live_chart(curve: pd.DataFrame) -> str:
    """An inline SVG: the rolling IC, its expected band (shaded) and the zero line."""
    if curve.empty:
        return '<p id="live-ic-chart">No live record yet.</p>'
    values = pd.concat([curve["rolling_ic"], curve["band_low"], curve["band_high"]]).dropna()
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    span = (high - low) or 1.0
    n = len(curve)

    def x(i: int) -> float:
        return PAD + (CHART_WIDTH - 2 * PAD) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return CHART_HEIGHT - PAD - (CHART_HEIGHT - 2 * PAD) * (v - low) / span

    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(curve["rolling_ic"]))
    parts = [
        f'<svg id="live-ic-chart" role="img" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        "<title>rolling live daily IC against the walk-forward band</title>",
    ]
    if curve["band_low"].notna().all():
        upper = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(curve["band_high"])]
        lower = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(curve["band_low"])]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower[::-1])}" '
            'fill="#cfe3ff" stroke="none"/>'
        )
    parts += [
        f'<line x1="{PAD}" x2="{CHART_WIDTH - PAD}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
        'stroke="#888" stroke-dasharray="4 3"/>',
        f'<polyline class="rolling-ic" points="{line}" fill="none" stroke="#1f5fbf" '
        'stroke-width="2"/>',
        f'<text x="{PAD}" y="{PAD - 12}" font-size="12">IC {high:+.3f}</text>',
        f'<text x="{PAD}" y="{CHART_HEIGHT - 8}" font-size="12">IC {low:+.3f}; '
        f"{curve['session'].iloc[0]:%Y-%m-%d} to {curve['session'].iloc[-1]:%Y-%m-%d}</text>",
        "</svg>",
    ]
    return "".join(parts)


def changes_since(checks: pd.DataFrame, previous: pd.DataFrame | None) -> list[dict] | None:
    """Checks whose status differs from the previous monitored day's (new ones included),
    worst first; None without a previous day."""
    if previous is None or previous.empty:
        return None
    before = {
        (r.check, r.subject): r.status for r in headline_rows(previous).itertuples(index=False)
    }
    out = []
    for row in headline_rows(checks).itertuples(index=False):
        was = before.get((row.check, row.subject), "-")
        if was != row.status:
            out.append(
                {
                    "check": row.check,
                    "subject": row.subject,
                    "was": was,
                    "status": row.status,
                    "detail": row.detail,
                }  # fmt: skip
            )
    return sorted(out, key=lambda r: (-STATUSES.index(r["status"]), r["check"], r["subject"]))


def render(
    *,
    title: str,
    run_id: str,
    checks: pd.DataFrame,
    curve: pd.DataFrame,
    champion: str | None,
    review_state: str | None,
    signal: dict[str, Any] | None,
    signal_note: str,
    previous: pd.DataFrame | None = None,
    links: dict[str, str] | None = None,
) -> str:
    """The report's HTML: the day's status, what changed, the live chart; details folded."""
    env = Environment(autoescape=select_autoescape(default=True))
    env.filters["fmt"] = _fmt
    # per-feature drift lives in its own table; here only the verdicts that flagged
    quiet_drift = (checks["kind"] == "drift") & (checks["status"] == "ok")
    shown = headline_rows(checks[~quiet_drift])
    order = shown["status"].map(lambda s: -STATUSES.index(s))
    shown = shown.assign(_order=order).sort_values(["_order", "kind", "check", "subject"])
    overall, counts = day_status(checks)
    return env.from_string(TEMPLATE).render(
        title=title,
        run_id=run_id,
        overall=overall,
        counts=counts,
        champion=champion,
        review_state=review_state,
        signal=signal,
        signal_note=signal_note,
        checks=shown.to_dict("records"),
        drift=drift_table(checks),
        window=SUSTAINED_WINDOW,
        chart=live_chart(curve),
        changes=changes_since(checks, previous),
        links={"All days": "index.html"} if links is None else links,
        previous_day=None
        if previous is None or previous.empty
        else f"{previous['day'].iloc[0]:%Y-%m-%d}",
    )


def render_index(days: list[dict[str, Any]]) -> str:
    """The index page: every monitored day with its status and counts, newest first."""
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(INDEX_TEMPLATE).render(days=days)

"""``python -m src_clean monitor --lake DIR --start D --end D``: the daily checks.

Without dates it checks every day bronze holds (the backfill case).

One run looks at the UTC days ``start..end`` and writes, for the day ``end``, one row per
check to ``monitoring/checks`` (a rerun replaces that day's rows), the champion's newly
matured predictions to ``monitoring/predictions``, and the report to
``reports/monitoring/<end>.html``, also logged to MLflow as a run of the
``sp500-monitoring`` experiment tagged with the champion's name and version. It prints one
JSON line (the DAG task's return value): the status, the counts, the checks that warned or
failed and the report's location. A day without a session is checked too: its result is
``market_closed`` and the news and drift checks still run.

Exit 0 whatever the checks found (their status is the data, not an error); a ``fail`` on
data quality is what stops ``train`` from promoting (``training.promotion.promotion_blockers``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import get_args

import pandas as pd

from src_clean import settings, tables
from src_clean.cli_args import add_date_range, add_lake_argument, require_tables
from src_clean.defaults import MarketHours, tracking_uri
from src_clean.lake import Lake
from src_clean.monitoring import drift, quality
from src_clean.monitoring.champion import ChampionContext, load_champion, mark_under_review
from src_clean.monitoring.checks import Check, day_status, headline_rows
from src_clean.monitoring.latest import curve_file
from src_clean.monitoring.live import LiveRecord, live_record
from src_clean.monitoring.recorded import recorded_checks
from src_clean.monitoring.report import render, render_index
from src_clean.monitoring.window import Window

log = logging.getLogger(__name__)

EXPERIMENT = "sp500-monitoring"
PROGRESS_S = 10.0  # a progress line at most this often on a long range
CHAMPION_ALIAS = "champion"
CALIBRATION_DIR = "monitoring/_calibration"


@dataclass
class MonitorResult:
    """What one monitor run found and where it wrote it."""

    run_id: str
    day: dt.date
    status: str
    counts: dict[str, int]
    alerts: list[str]
    report: str
    champion: str | None
    scored: int
    checks: pd.DataFrame = field(repr=False)

    def to_json(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "checks"}
        return json.dumps(fields | {"day": str(self.day)}, sort_keys=True)


def run_monitor(
    lake: Lake,
    start: dt.date,
    end: dt.date,
    *,
    run_ts: pd.Timestamp | None = None,
    sessions_between: tuple[dt.datetime, dt.datetime] | None = None,
    market_calendar: str | None = None,
    market_hours: MarketHours | None = None,
    mlflow_uri: str | None = None,
    registered_model: str | None = None,
) -> MonitorResult:
    """Run every check over ``start..end``; write the day's rows, predictions and report.

    ``market_calendar``, ``market_hours`` and ``registered_model`` left ``None`` are the
    run's settings (``SP500_MARKET_CALENDAR``, ``SP500_MARKET_HOURS``,
    ``SP500_REGISTERED_MODEL``)."""
    run_settings = settings.current()
    calendar = market_calendar or run_settings.market_calendar
    hours = market_hours or run_settings.market_hours
    model_name = registered_model or run_settings.registered_model
    window = Window(start, end)
    uri = mlflow_uri or tracking_uri(lake.root, run_settings.mlflow_tracking_uri)
    context = _champion(uri, model_name, lake)
    inputs = _inputs(lake, window, context) if context else None
    checks = _quality(lake, window, run_ts, (calendar, hours, sessions_between), context, inputs)
    checks += _drift(lake, context, inputs)
    record = live_record(lake, context, window) if context else None
    checks += record.checks if record else []
    checks += recorded_checks(lake, context, window) if context else []
    run_id = f"monitor-{end}-{uuid.uuid4().hex[:8]}"
    frame = _frame(checks, run_id, end)
    lake.replace_range(tables.MONITORING_CHECKS, frame, end, end)
    if record and any(c.check == "live_decay" and c.status == "fail" for c in checks):
        reason = next(c.detail for c in checks if c.check == "live_decay")
        context = mark_under_review(context, f"{end}: {reason}")  # type: ignore[arg-type]
    html = _render(lake, window, run_id, frame, record, context)
    path = lake.files.write_text(f"{tables.MONITORING_REPORTS}/{end}.html", html)
    curve = record.curve if record else pd.DataFrame()
    lake.files.write_text(curve_file(end), curve.to_json(orient="records", date_format="iso"))
    _log_to_mlflow(lake, uri, run_id, end, frame, html, context)
    status, counts = day_status(frame)
    flagged = headline_rows(frame)
    alerts = [
        f"{row.status}: {row.check} {row.subject}".strip()
        for row in flagged.itertuples()
        if row.status != "ok"
    ]
    return MonitorResult(
        run_id=run_id,
        day=end,
        status=status,
        counts=counts,
        alerts=alerts,
        report=path,
        champion=f"{context.model.name} v{context.model.version}" if context else None,
        scored=record.scored if record else 0,
        checks=frame,
    )


def _champion(uri: str, name: str, lake: Lake) -> ChampionContext | None:
    try:
        return load_champion(uri, name, CHAMPION_ALIAS, lake)
    except Exception as exc:  # a registry outage must not stop the data checks
        log.warning("no champion for monitoring (%s): drift and live checks skipped", exc)
        return None


def _quality(
    lake: Lake,
    window: Window,
    run_ts: pd.Timestamp | None,
    market: tuple[str, str, tuple[dt.datetime, dt.datetime] | None],
    context: ChampionContext | None,
    inputs: ChampionInputs | None,
) -> list[Check]:
    calendar, sessions = quality.sessions_in(lake, window, *market)
    checks = quality.bar_coverage(lake, window, sessions, calendar)
    checks += quality.ingest_rates(lake, window, run_ts)
    checks += quality.news_volume(lake, window, sessions, calendar)
    checks += quality.late_shares(lake, window)
    model = context.model.sentiment_model_id if context else None
    checks += quality.row_parity(lake, window, model)
    checks += quality.non_finite(lake, window)
    if context and inputs:
        features = context.model.features
        checks += quality.null_shares(inputs.gold, inputs.reference, features)
        checks += quality.label_shares(inputs.labels, inputs.reference_labels)
    return checks


@dataclass(frozen=True)
class ChampionInputs:
    """What the champion's checks compare, read once per run: the window's gold rows and
    sentiment labels, and those of the champion's training window (the reference)."""

    gold: pd.DataFrame
    reference: pd.DataFrame
    labels: pd.Series
    reference_labels: pd.Series


def _inputs(lake: Lake, window: Window, context: ChampionContext) -> ChampionInputs:
    gold, reference = _gold(lake, window, context)
    labels, reference_labels = _labels(lake, window, context)
    return ChampionInputs(gold, reference, labels, reference_labels)


def _gold(
    lake: Lake, window: Window, context: ChampionContext
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window's gold rows and the champion's training window's (the reference), its
    features only."""
    columns = ["time", *context.model.features]
    current = lake.read(tables.GOLD_TRAINING, window.start, window.end, columns=columns)
    current = current[window.holds(current["time"])] if len(current) else current
    current = quality.finite_or_missing(current)  # ±inf is counted by non_finite, then missing
    first, last = context.train_start, context.train_end
    reference = lake.read(tables.GOLD_TRAINING, first.date(), last.date(), columns=columns)
    if len(reference):
        reference = reference[(reference["time"] >= first) & (reference["time"] <= last)]
    return current, drift.sample(quality.finite_or_missing(reference))


def _labels(lake: Lake, window: Window, context: ChampionContext) -> tuple[pd.Series, pd.Series]:
    model = context.model.sentiment_model_id
    columns = ["available_at", "model_id", "label", "score"]

    def scored(first: dt.date, last: dt.date) -> pd.DataFrame:
        rows = lake.read(tables.SILVER_SENTIMENT, first, last, columns=columns)
        return rows[rows["model_id"] == model]

    now = scored(window.start, window.end)
    before = scored(context.train_start.date(), context.train_end.date())
    return now["label"], before["label"]


def _drift(
    lake: Lake, context: ChampionContext | None, inputs: ChampionInputs | None
) -> list[Check]:
    if context is None or inputs is None:
        return []
    calibration = _calibration(lake, inputs.reference, context)
    features = context.model.features
    checks = drift.feature_drift(inputs.reference, inputs.gold, features, calibration)
    if context.model.sentiment_model_id:
        checks += drift.label_psi(inputs.reference_labels, inputs.labels)
    return checks


def _calibration(
    lake: Lake, reference: pd.DataFrame, context: ChampionContext
) -> drift.Calibration:
    """The champion's drift calibration: computed once per version, then read back."""
    champion = context.model
    path = f"{CALIBRATION_DIR}/{champion.name}-v{champion.version}.json"
    if lake.files.exists(path):
        return lake.files.read_json(path)
    found = drift.calibrate(reference, champion.features) if len(reference) else {}
    lake.files.write_json(path, found)
    return found


def _frame(checks: list[Check], run_id: str, end: dt.date) -> pd.DataFrame:
    frame = pd.DataFrame([c.row() for c in checks])
    frame["subject"] = frame["subject"].fillna("")
    frame = frame.drop_duplicates(["check", "subject"], keep="last")
    return frame.assign(
        day=pd.Timestamp(end, tz="UTC"), run_id=run_id, checked_at=pd.Timestamp.now(tz="UTC")
    )


def _render(
    lake: Lake,
    window: Window,
    run_id: str,
    frame: pd.DataFrame,
    record: LiveRecord | None,
    context: ChampionContext | None,
) -> str:
    signal, note = None, "No champion yet."
    if context is not None:
        from src_clean.training.champion import ChampionTracker, SignalUnavailableError

        tracker = ChampionTracker(context.tracking_uri, context.model.name, CHAMPION_ALIAS, lake)
        tracker.champion = context.model
        try:
            signal = tracker.signal()
        except SignalUnavailableError as exc:
            note = f"No signal: {exc.detail}"
    curve = record.curve if record else pd.DataFrame()
    return render(
        title=f"Monitoring {window.end}"
        if window.start == window.end
        else f"Monitoring {window.start}..{window.end}",
        previous=_previous_day(lake, window.end),
        run_id=run_id,
        checks=frame,
        curve=curve,
        champion=f"{context.model.name} v{context.model.version}" if context else None,
        review_state=context.review_state if context else None,
        signal=signal,
        signal_note=note,
    )


def _log_to_mlflow(
    lake: Lake,
    uri: str,
    run_id: str,
    end: dt.date,
    frame: pd.DataFrame,
    html: str,
    context: ChampionContext | None,
) -> None:
    """A run of ``EXPERIMENT`` with the counts, the live ICs and the report."""
    from mlflow import MlflowClient

    from src_clean.training.tracking import artifact_location, ensure_experiment

    client = MlflowClient(uri)
    # artifacts beside the lake's tracking store (``<lake>/mlartifacts``), never ./mlruns
    experiment_id = ensure_experiment(client, EXPERIMENT, artifact_location(uri, lake))
    tags = {"monitor_run_id": run_id, "monitored_day": str(end)}
    if context:
        tags |= {"champion_name": context.model.name, "champion_version": context.model.version}
    run = client.create_run(experiment_id, run_name=f"monitoring {end}", tags=tags)
    for status in ("warn", "fail"):
        client.log_metric(
            run.info.run_id, f"checks_{status}", float((frame["status"] == status).sum())
        )
    live = frame[frame["check"].str.startswith("live_ic_")]
    for check, value in zip(live["check"], live["value"], strict=True):
        if pd.notna(value):
            client.log_metric(run.info.run_id, check, float(value))
    client.log_text(run.info.run_id, html, f"monitoring_{end}.html")
    client.set_terminated(run.info.run_id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    add_date_range(parser)
    defaults = settings.current()
    parser.add_argument("--run-ts", type=pd.Timestamp, help="the ingest run to rate (DAG runs)")
    parser.add_argument(
        "--sessions-between",
        nargs=2,
        type=dt.datetime.fromisoformat,
        metavar=("START", "END"),
        help="read the expected sessions from this [START, END) (a DAG run's data interval)",
    )
    parser.add_argument(
        "--market-calendar",
        "--calendar",
        default=defaults.market_calendar,
        help="exchange_calendars name of the market's sessions (SP500_MARKET_CALENDAR)",
    )
    parser.add_argument(
        "--market-hours",
        choices=get_args(MarketHours),
        default=defaults.market_hours,
        help="trading hours the market data keeps (SP500_MARKET_HOURS)",
    )
    parser.add_argument(
        "--registered-model",
        default=defaults.registered_model,
        help="the registered model whose champion is rated (SP500_REGISTERED_MODEL)",
    )


def _previous_day(lake: Lake, day: dt.date) -> pd.DataFrame | None:
    """The check rows of the last monitored day before ``day`` (None when none)."""
    earlier = [d for d in lake.partitions(tables.MONITORING_CHECKS) if d < day]
    return lake.read(tables.MONITORING_CHECKS, earlier[-1], earlier[-1]) if earlier else None


def monitor_days(
    lake: Lake,
    start: dt.date,
    end: dt.date,
    sessions_between: tuple[dt.datetime, dt.datetime] | None = None,
    **options,
) -> list[MonitorResult]:
    """``run_monitor`` once per day of ``start..end``: one report per day, showing only
    that day, then the index of every monitored day (``reports/monitoring/index.html``).

    With ``sessions_between`` (a DAG run's data interval) each day expects the sessions of
    its own part of the interval, and a first day the interval only enters after midnight
    is left to the run before (a daily run rates its end day, as it always did; a holiday
    run its closed days; a month-long run each of its days)."""
    results = []
    last_line = time.perf_counter()
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        if time.perf_counter() - last_line >= PROGRESS_S:
            last_line = time.perf_counter()
            log.info("monitor: %d days done, %s next (to %s)", len(results), day, end)
        between = None
        if sessions_between is not None:
            midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
            first = max(sessions_between[0], midnight)
            last = min(sessions_between[1], midnight + dt.timedelta(days=1))
            partial_start = day == start and first > midnight and day != end
            if partial_start or first >= last:
                continue
            between = (first, last)
        results.append(run_monitor(lake, day, day, sessions_between=between, **options))
    write_index(lake)
    return results


def write_index(lake: Lake) -> str:
    """The list of monitored days, newest first, each with its status, counts and report."""
    rows = lake.read(tables.MONITORING_CHECKS, columns=["day", "check", "status"])
    days = []
    for day, group in rows.groupby(rows["day"].dt.date, sort=True):
        status, counts = day_status(group)
        days.append({"day": day, "status": status, "counts": counts})
    html = render_index(days[::-1])
    return lake.files.write_text(f"{tables.MONITORING_REPORTS}/index.html", html)


@dataclass
class MonitorRun:
    """A ``monitor`` CLI run over one or more days; prints as the last day's JSON line
    (the DAG task's return value) with every day's status beside it."""

    results: list[MonitorResult]

    def to_json(self) -> str:
        if not self.results:
            return json.dumps({"days": {}, "status": "ok"})
        last = json.loads(self.results[-1].to_json())
        return json.dumps(last | {"days": {str(r.day): r.status for r in self.results}})


def main(args: argparse.Namespace) -> MonitorRun:
    lake = Lake(args.lake)
    require_tables(lake, tables.BRONZE_CANDLES, produced_by="bronze-market")
    days = lake.partitions(tables.BRONZE_CANDLES)
    start = args.start or days[0]
    return MonitorRun(
        monitor_days(
            lake,
            start,
            args.end or args.start or days[-1],
            run_ts=args.run_ts,
            sessions_between=tuple(args.sessions_between) if args.sessions_between else None,
            market_calendar=args.market_calendar,
            market_hours=args.market_hours,
            registered_model=args.registered_model,
        )
    )

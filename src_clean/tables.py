"""Table names in the lake: the contract between the layers (see docs/lake.md "Lake layout")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

BRONZE_CANDLES = "bronze/market/candles"
BRONZE_NEWS = "bronze/news/articles"
SILVER_FEATURES = "silver/market/features"
SILVER_SENTIMENT = "silver/news/sentiment"
# the one-document model registry of earlier versions (now silver.model_registry's folder)
SENTIMENT_MODELS = f"{SILVER_SENTIMENT}/_models.json"
GOLD_SIGNALS = "gold/news/signals"
GOLD_TRAINING = "gold/training"
REPORTS = "reports"
MONITORING_CHECKS = "monitoring/checks"
MONITORING_PREDICTIONS = "monitoring/predictions"
LIVE_DECISIONS = "live/decisions"
LIVE_OUTCOMES = "live/outcomes"
MONITORING_INGESTS = "monitoring/ingests"
MONITORING_REPORTS = f"{REPORTS}/monitoring"
# the date-partitioned table of every layer, in pipeline order
LAYER_TABLES = (
    BRONZE_CANDLES,
    BRONZE_NEWS,
    SILVER_FEATURES,
    SILVER_SENTIMENT,
    GOLD_SIGNALS,
    GOLD_TRAINING,
)
TRAINING_SUMMARY = f"{REPORTS}/training_summary.json"


def quarantine(table: str) -> str:
    """Quarantine table for rejected records of ``table``."""
    return f"quarantine/{table}"


CANONICAL_WINDOW = 60
CANONICAL_HORIZON = 30
VARIANTS = "gold/variants"


# -- table specs ----------------------------------------------------------------------------
# Every lake table is a Delta table partitioned by ``PARTITION_COLUMN``, the UTC date of
# its ``date_source`` column. The registry below is the one place that names keys, sort
# orders, date columns and schemas; ``src_clean.lake`` reads it for every write and read.

PARTITION_COLUMN = "date"
# How far (days) a corrected ``published_at`` may move an article and still be matched to
# its stored row; longer than any news window, so no bar ever counts an article twice.
ARTICLE_MATCH_DAYS = 7
ASSET_SCHEME = "sp500"
# Arrow types by name; ``timestamp`` is Delta's: microseconds, UTC.
COLUMN_TYPES = ("string", "double", "int64", "timestamp")


@dataclass(frozen=True)
class TableSpec:
    """The contract of one lake table.

    ``columns`` (name, type) is the enforced schema; empty for the computed layers, whose
    columns follow the stage's parameters (features, horizon): there the table's first
    write fixes the schema and every later write must match it. ``keep_on_update`` names
    columns whose stored value survives an upsert of an existing key (first ``ingested_at``).
    ``write`` is how stages write it: ``upsert`` (MERGE on ``keys``), ``replace`` (a date
    range overwritten whole) or ``append`` (rows whose key is new are inserted, a stored row
    is never changed: ``Lake.insert_new``).

    ``match_days`` bounds an upsert's work when the keys do not fix the partition: a stored
    row is matched only in partitions within that many days of an incoming row's date, so
    a daily MERGE reads days, not years (issue 37). A key that comes back further away is a
    new row there (a rare correction; see docs/data-contracts.md). None matches everywhere.
    """

    name: str
    date_source: str
    keys: tuple[str, ...]
    sort: tuple[str, ...]
    write: Literal["upsert", "replace", "append"]
    description: str
    columns: tuple[tuple[str, str], ...] = ()
    keep_on_update: tuple[str, ...] = ()
    match_days: int | None = None

    def __post_init__(self) -> None:
        names = [name for name, _ in self.columns]
        unknown = [t for _, t in self.columns if t not in COLUMN_TYPES]
        if unknown:
            raise ValueError(f"{self.name}: unknown column types {unknown}")
        if names:
            missing = set(self.keys + self.sort + self.keep_on_update) - set(names)
            if missing or self.date_source not in names:
                raise ValueError(f"{self.name}: spec names undeclared columns {sorted(missing)}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        """Columns that may never be null: the keys and the date source."""
        return tuple(dict.fromkeys((*self.keys, self.date_source)))

    def arrow_schema(self) -> Any:
        """The declared ``pyarrow.Schema`` (without the partition column); None if computed."""
        if not self.columns:
            return None
        import pyarrow as pa

        types = {
            "string": pa.string(),
            "double": pa.float64(),
            "int64": pa.int64(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }
        return pa.schema(
            [pa.field(n, types[t], nullable=n not in self.required) for n, t in self.columns]
        )

    def renamed(self, name: str) -> TableSpec:
        """The same contract under another path (quarantine tables, gold variants)."""
        return replace(self, name=name)


CANDLES_SPEC = TableSpec(
    name=BRONZE_CANDLES,
    date_source="time",
    keys=("instrument", "time"),
    sort=("time", "instrument"),
    write="upsert",
    description="validated M1 candles; `time` is the bar open (UTC)",
    columns=(
        ("time", "timestamp"),
        ("instrument", "string"),
        ("granularity", "string"),
        ("open", "double"),
        ("high", "double"),
        ("low", "double"),
        ("close", "double"),
        ("volume", "int64"),
        ("source_file", "string"),
    ),
)
NEWS_SPEC = TableSpec(
    name=BRONZE_NEWS,
    date_source="published_at",
    keys=("article_id",),
    sort=("published_at", "article_id"),
    write="upsert",
    description="deduplicated articles; a corrected `published_at` moves the row, the first "
    "`available_at` (when a feed first had it) stays",
    columns=(
        ("article_id", "string"),
        ("published_at", "timestamp"),
        ("available_at", "timestamp"),
        ("available_from", "string"),
        ("headline", "string"),
        ("body", "string"),
        ("source", "string"),
        ("url", "string"),
        ("language", "string"),
        ("gdelt_tone", "double"),
        ("ingested_at", "timestamp"),
        ("source_file", "string"),
    ),
    keep_on_update=("ingested_at", "available_at", "available_from"),
    match_days=ARTICLE_MATCH_DAYS,
)
QUARANTINE_SPEC = TableSpec(
    name="quarantine/<table>",
    date_source="quarantined_at",
    keys=("source_file", "record_number", "record_index", "raw_sha256"),
    sort=("source_file", "record_number", "record_index", "raw_sha256"),
    write="upsert",
    description="rejected records with the reason (first 64 KiB of the raw text)",
    columns=(
        ("source_file", "string"),
        ("record_number", "int64"),
        ("record_index", "int64"),
        ("reason", "string"),
        ("raw", "string"),
        ("raw_bytes", "int64"),
        ("raw_sha256", "string"),
        ("quarantined_at", "timestamp"),
    ),
    keep_on_update=("quarantined_at",),
)
FEATURES_SPEC = TableSpec(
    name=SILVER_FEATURES,
    date_source="time",
    keys=("time", "instrument"),
    sort=("time", "instrument"),
    write="replace",
    description="causal market features per bar; `close` kept for the labels only",
)
SENTIMENT_SPEC = TableSpec(
    name=SILVER_SENTIMENT,
    date_source="published_at",
    keys=("article_id", "model_id"),
    sort=("published_at", "article_id", "model_id"),
    write="upsert",
    description="one score row per article and model (stage, backfill shards, worker)",
    columns=(
        ("article_id", "string"),
        ("published_at", "timestamp"),
        ("available_at", "timestamp"),
        ("model_id", "string"),
        ("p_positive", "double"),
        ("p_negative", "double"),
        ("p_neutral", "double"),
        ("label", "string"),
        ("score", "double"),
        ("scored_at", "timestamp"),
    ),
    match_days=ARTICLE_MATCH_DAYS,  # a score moves with its article, within bronze's bound
)
SIGNALS_SPEC = TableSpec(
    name=GOLD_SIGNALS,
    date_source="time",
    keys=("time",),
    sort=("time",),
    write="replace",
    description="`news_*` aggregates per bar and the sentiment model / window they used",
)
TRAINING_SPEC = TableSpec(
    name=GOLD_TRAINING,
    date_source="time",
    keys=("time", "instrument"),
    sort=("time", "instrument"),
    write="replace",
    description="market features, `news_*`, `target_*` labels; `_features.json` lists them",
)
INGESTS_SPEC = TableSpec(
    name=MONITORING_INGESTS,
    date_source="ingested_at",
    keys=("ingested_at", "table"),
    sort=("ingested_at", "table"),
    write="upsert",
    description="one row per bronze ingest run: records read, written, duplicates, "
    "incomplete, quarantined (read = the other four)",
    columns=(
        ("ingested_at", "timestamp"),
        ("table", "string"),
        ("files", "int64"),
        ("read", "int64"),
        ("written", "int64"),
        ("duplicates", "int64"),
        ("incomplete", "int64"),
        ("quarantined", "int64"),
    ),
)
CHECKS_SPEC = TableSpec(
    name=MONITORING_CHECKS,
    date_source="day",
    keys=("day", "check", "subject"),
    sort=("day", "kind", "check", "subject"),
    write="replace",
    description="one row per monitored day and check: value, threshold, status ok|warn|fail",
    columns=(
        ("day", "timestamp"),
        ("run_id", "string"),
        ("kind", "string"),
        ("check", "string"),
        ("subject", "string"),
        ("value", "double"),
        ("threshold", "double"),
        ("status", "string"),
        ("detail", "string"),
        ("checked_at", "timestamp"),
    ),
)
PREDICTIONS_SPEC = TableSpec(
    name=MONITORING_PREDICTIONS,
    date_source="time",
    keys=("time", "instrument", "model_version"),
    sort=("time", "instrument", "model_version"),
    write="upsert",
    description="the champion's prediction for each bar whose label has matured, beside "
    "the realised forward return",
    columns=(
        ("time", "timestamp"),
        ("instrument", "string"),
        ("model_name", "string"),
        ("model_version", "string"),
        ("predicted", "double"),
        ("realized", "double"),
        ("cost_bps", "double"),
        ("scored_at", "timestamp"),
    ),
)
DECISIONS_SPEC = TableSpec(
    name=LIVE_DECISIONS,
    date_source="bar_time",
    keys=("bar_time", "model_name"),
    sort=("bar_time", "model_name"),
    write="append",
    description="one row per bar and deployed model, written once before its outcome exists "
    "(`status` decided, skipped or missed, with the reason): the model version, its "
    "sentiment model, the features and their hash, the prediction and each feed's lag",
    columns=(
        ("bar_time", "timestamp"),
        ("decision_time", "timestamp"),
        ("written_at", "timestamp"),
        ("model_name", "string"),
        ("status", "string"),
        ("reason", "string"),
        ("model_version", "string"),
        ("model_run_id", "string"),
        ("sentiment_model_id", "string"),
        ("feature_hash", "string"),
        ("features", "string"),
        ("predicted_return_bps", "double"),
        ("market_data_time", "timestamp"),
        ("news_data_time", "timestamp"),
        ("market_lag_s", "double"),
        ("news_lag_s", "double"),
    ),
)
OUTCOMES_SPEC = TableSpec(
    name=LIVE_OUTCOMES,
    date_source="bar_time",
    keys=("bar_time", "model_name"),
    sort=("bar_time", "model_name"),
    write="upsert",
    description="each decided `live/decisions` row's outcome once it matured, joined by "
    "`monitor` (a table apart: the decisions are never touched): the prediction as recorded, "
    "the realised forward return and the spread's cost",
    columns=(
        ("bar_time", "timestamp"),
        ("model_name", "string"),
        ("model_version", "string"),
        ("predicted_return_bps", "double"),
        ("realized_return_bps", "double"),
        ("cost_bps", "double"),
        ("horizon_minutes", "double"),
        ("matured_at", "timestamp"),
    ),
)
SPECS: dict[str, TableSpec] = {
    s.name: s
    for s in (
        CANDLES_SPEC,
        NEWS_SPEC,
        FEATURES_SPEC,
        SENTIMENT_SPEC,
        SIGNALS_SPEC,
        TRAINING_SPEC,
        INGESTS_SPEC,
        CHECKS_SPEC,
        PREDICTIONS_SPEC,
        DECISIONS_SPEC,
        OUTCOMES_SPEC,
    )
}
QUARANTINED_TABLES = (BRONZE_CANDLES, BRONZE_NEWS)


# Columns later versions added to tables that older lakes hold without them; ``lake-migrate``
# adds them (bronze: empty; gold: 0.0, exact for rows built before bronze had tones). Keyed
# by table name, or by the last path part for gold tables (variants included).
NEWS_TONE_FEATURE = "news_mean_gdelt_tone"
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    BRONZE_NEWS: ("gdelt_tone",),
    "signals": (NEWS_TONE_FEATURE,),
    "training": (NEWS_TONE_FEATURE,),
}


def added_columns(table: str) -> tuple[str, ...]:
    """The ``ADDED_COLUMNS`` of ``table`` (a gold table by its kind)."""
    name = table.strip("/")
    if name in ADDED_COLUMNS:
        return ADDED_COLUMNS[name]
    return ADDED_COLUMNS.get(name.rsplit("/", 1)[-1], ()) if name.startswith("gold/") else ()


def spec(table: str | TableSpec) -> TableSpec:
    """The spec of ``table``: a layer table, ``quarantine/<table>`` or a gold variant."""
    if isinstance(table, TableSpec):
        return table
    name = table.strip("/")
    if name in SPECS:
        return SPECS[name]
    if name.startswith("quarantine/"):
        return QUARANTINE_SPEC.renamed(name)
    parts = name.split("/")
    if len(parts) == 4 and f"{parts[0]}/{parts[1]}" == VARIANTS:
        variant_of = {"training": TRAINING_SPEC, "signals": SIGNALS_SPEC}
        if parts[3] in variant_of:
            return variant_of[parts[3]].renamed(name)
    raise KeyError(f"{table!r} is not a lake table (known: {sorted(SPECS)}, quarantine/<table>)")


def all_specs() -> list[TableSpec]:
    """Every fixed table, in pipeline order, then the quarantine tables."""
    return [*SPECS.values(), *(spec(quarantine(t)) for t in QUARANTINED_TABLES)]


def asset_uri(path: str) -> str:
    """Stable lineage URI of a lake table or file (an Airflow ``Asset``), wherever the lake
    lives: ``sp500://lake/<path>``."""
    return f"{ASSET_SCHEME}://lake/{path.strip('/')}"


def markdown_table() -> str:
    """docs/lake.md's table of lake tables, generated from the specs (a test keeps it equal)."""
    rows = [
        "| table | partition `date` = UTC date of | merge keys | written by | columns |",
        "|---|---|---|---|---|",
    ]
    variants = (
        TRAINING_SPEC.renamed(f"{VARIANTS}/<variant>/training"),
        SIGNALS_SPEC.renamed(f"{VARIANTS}/news-w<window>/signals"),
    )
    for s in (*SPECS.values(), *variants, QUARANTINE_SPEC):
        columns = ", ".join(f"`{c}`" for c in s.column_names) or "fixed by the first write"
        keys = ", ".join(f"`{k}`" for k in s.keys)
        kept = f"; keeps stored `{'`, `'.join(s.keep_on_update)}`" if s.keep_on_update else ""
        if s.match_days is not None:
            kept += f"; matched within {s.match_days} days of its date"
        rows.append(
            f"| `{s.name}/` | `{s.date_source}` | {keys} | {s.write}{kept} | "
            f"{columns}: {s.description} |"
        )
    return "\n".join(rows)

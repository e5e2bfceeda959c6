"""Every lake layer on S3: a real S3 API (moto server on 127.0.0.1), reached through the
standard AWS environment with a custom endpoint, exactly like MinIO or AWS itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
from pathlib import Path

import airflow_env  # noqa: F401  (a throw-away AIRFLOW_HOME before airflow loads)
import local_aws
import pandas as pd
import pyarrow.fs as pafs
import pytest

from src_clean import aws, tables
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.bronze.sources import list_input_files, read_input
from src_clean.data_pipelines.gold.news import build_news_signals
from src_clean.data_pipelines.gold.training import build_training_set
from src_clean.data_pipelines.silver.market import build_market_features
from src_clean.data_pipelines.silver.scoring.loading import load_scorer
from src_clean.data_pipelines.silver.sentiment import score_new_articles
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.orchestration import airflow_lookups
from src_clean.sample_data import generate_sample_data
from src_clean.tables import TableSpec

RUN_TS = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
UTC = "datetime64[ns, UTC]"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> local_aws.LocalAws:
    return local_aws.activate(monkeypatch)


@pytest.fixture(scope="module")
def lexicon():
    return load_scorer("lexicon")


def object_keys(local: local_aws.LocalAws, bucket: str) -> list[str]:
    listing = local.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def upload_folder(local: local_aws.LocalAws, folder: Path, bucket: str, prefix: str) -> None:
    s3 = local.client("s3")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix}{path.relative_to(folder).as_posix()}")


def frame(day: str, values: list[float]) -> pd.DataFrame:
    times = pd.date_range(f"{day} 14:30", periods=len(values), freq="min", tz="UTC")
    return pd.DataFrame({"time": times, "key": range(len(values)), "value": values})


# -- settings -------------------------------------------------------------------------


def test_env_settings_prefer_the_service_endpoint_and_aws_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://minio:9000")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID", raising=False)
    assert aws.resolve_settings("s3").endpoint_url == "http://minio:9000"
    assert aws.resolve_settings("dynamodb").endpoint_url == "http://generic:9000"
    assert aws.resolve_settings("s3").region == "eu-central-1"


@pytest.fixture
def airflow_task(monkeypatch: pytest.MonkeyPatch):
    """Inside an Airflow task (as far as ``src_clean.aws`` can tell), with a fresh cache."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "some_dag")
    airflow_lookups.install()  # as importing orchestration does in a worker
    airflow_lookups.aws_connection.cache_clear()
    yield monkeypatch
    airflow_lookups.aws_connection.cache_clear()


def test_inside_airflow_the_aws_default_connection_wins(airflow_task) -> None:
    extra = {
        "region_name": "eu-west-2",
        "endpoint_url": "http://minio:9000",
        "service_config": {"dynamodb": {"endpoint_url": "http://ddb:8000"}},
    }
    connection = {"conn_type": "aws", "login": "conn-key", "password": "conn-secret"}
    airflow_task.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({**connection, "extra": extra}))
    assert aws.resolve_settings("s3") == aws.AwsSettings(
        "conn-key", "conn-secret", None, "eu-west-2", "http://minio:9000"
    )
    assert aws.resolve_settings("dynamodb").endpoint_url == "http://ddb:8000"
    airflow_task.delenv("AIRFLOW_CTX_DAG_ID")  # outside a task: the environment
    assert aws.resolve_settings("s3").access_key == "env-key"


def test_inside_airflow_without_the_connection_the_environment_is_used(airflow_task) -> None:
    airflow_task.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    assert aws.resolve_settings("s3").access_key == "env-key"


def test_s3_filesystem_reaches_the_custom_endpoint(aws_env: local_aws.LocalAws) -> None:
    bucket = aws_env.new_bucket()
    aws_env.client("s3").put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    fs, path = aws.filesystem_for(f"s3://{bucket}/a/b.txt")
    assert isinstance(fs, pafs.S3FileSystem)
    with fs.open_input_stream(path) as src:
        assert src.read() == b"hello"


# -- lake -----------------------------------------------------------------------------


SPEC = TableSpec("t", "time", keys=("key",), sort=("time", "key"), write="replace", description="")


def test_lake_partitions_round_trip_on_s3(aws_env: local_aws.LocalAws) -> None:
    bucket = aws_env.new_bucket()
    lake = Lake(f"s3://{bucket}/lake")
    assert not lake.is_local
    assert lake.table_uri(SPEC) == f"s3://{bucket}/lake/t"
    lake.replace_range(SPEC, frame("2024-01-02", [1.0, 2.0]), "2024-01-02", "2024-01-02")
    lake.replace_range(SPEC, frame("2024-01-03", [3.0]), "2024-01-03", "2024-01-03")
    replace = frame("2024-01-02", [5.0, 6.0, 7.0])
    assert lake.replace_range(SPEC, replace, "2024-01-02", "2024-01-02").version == 3

    assert lake.partitions(SPEC) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    back = lake.read(SPEC)
    assert back["value"].tolist() == [5.0, 6.0, 7.0, 3.0]
    assert str(back["time"].dtype) == UTC
    assert lake.read(SPEC, start="2024-01-03")["value"].tolist() == [3.0]
    assert lake.read(SPEC, version=2)["value"].tolist() == [1.0, 2.0, 3.0]
    keys = object_keys(aws_env, bucket)
    assert "lake/t/_delta_log/00000000000000000003.json" in keys
    assert any(k.startswith("lake/t/date=2024-01-02/") for k in keys)

    lake.replace_range(SPEC, lambda: [], "2024-01-02", "2024-01-02")
    assert lake.partitions(SPEC) == [dt.date(2024, 1, 3)]


def test_lake_upsert_keeps_stored_columns_on_s3(aws_env: local_aws.LocalAws) -> None:
    lake = Lake(f"s3://{aws_env.new_bucket()}/lake")
    spec = dataclasses.replace(SPEC, write="upsert", keep_on_update=("seen",))
    first = frame("2024-01-02", [1.0, 2.0]).assign(seen="first")
    lake.upsert(spec, first)
    second = frame("2024-01-02", [9.0, 8.0, 7.0]).assign(seen="second")
    result = lake.upsert(spec, second)
    stored = lake.read(spec)
    assert (result.rows_replaced, result.rows_inserted) == (2, 1)
    assert stored["value"].tolist() == [9.0, 8.0, 7.0]
    assert stored["seen"].tolist() == ["first", "first", "second"]


def test_lake_json_and_single_files_on_s3(aws_env: local_aws.LocalAws) -> None:
    lake = Lake(f"s3://{aws_env.new_bucket()}/lake")
    assert not lake.files.exists("_state/x.json")
    lake.files.write_json("_state/x.json", {"b": [1, 2], "a": "z"})
    assert lake.files.exists("_state/x.json")
    assert lake.files.read_json("_state/x.json") == {"a": "z", "b": [1, 2]}
    lake.files.write_parquet("curated/one.parquet", frame("2024-01-02", [4.0]))
    assert lake.files.exists("curated/one.parquet")


# -- raw inputs -----------------------------------------------------------------------


def test_raw_files_are_listed_and_read_from_an_s3_prefix(aws_env: local_aws.LocalAws) -> None:
    bucket = aws_env.new_bucket()
    s3 = aws_env.client("s3")
    line = json.dumps({"headline": "Stocks rally", "published_at": "2024-01-02T15:00:00Z"})
    s3.put_object(Bucket=bucket, Key="raw/text/a.jsonl.gz", Body=gzip.compress(line.encode()))
    s3.put_object(Bucket=bucket, Key="raw/text/sub/b.jsonl", Body=line.encode())
    s3.put_object(Bucket=bucket, Key="raw/text/.hidden/c.jsonl", Body=line.encode())
    s3.put_object(Bucket=bucket, Key="raw/text/notes.txt", Body=b"x")

    files = list_input_files(f"s3://{bucket}/raw/text/", (".jsonl", ".jsonl.gz"))

    assert [f.uri for f in files] == [
        f"s3://{bucket}/raw/text/a.jsonl.gz",
        f"s3://{bucket}/raw/text/sub/b.jsonl",
    ]
    assert all(f.mtime_ns > 0 and f.size > 0 for f in files)
    assert [read_input(f).data for f in files] == [line.encode(), line.encode()]
    with pytest.raises(FileNotFoundError):
        list_input_files(f"s3://{bucket}/raw/missing/", (".jsonl",))


# -- the whole pipeline ---------------------------------------------------------------


def run_pipeline(raw: str, lake: Lake, scorer) -> None:
    """bronze -> silver -> gold with the same arguments for any raw location and lake."""
    ingest_market(f"{raw}/market", lake, run_ts=RUN_TS)
    ingest_news(f"{raw}/news/jsonl", lake, run_ts=RUN_TS)
    build_market_features(lake)
    score_new_articles(lake, scorer=scorer)
    build_news_signals(lake, window_minutes=60)
    build_training_set(lake, horizon_minutes=30)


def test_every_layer_runs_on_s3_and_matches_a_local_lake(
    aws_env: local_aws.LocalAws, tmp_path: Path, lexicon
) -> None:
    raw = tmp_path / "raw"
    generate_sample_data(raw, dt.date(2024, 1, 2), days=2, articles_per_day=20)
    bucket = aws_env.new_bucket()
    upload_folder(aws_env, raw, bucket, "raw/")
    s3_lake, local_lake = Lake(f"s3://{bucket}/lake"), Lake(tmp_path / "lake")

    run_pipeline(f"s3://{bucket}/raw", s3_lake, lexicon)
    run_pipeline(str(raw), local_lake, lexicon)

    for table in (tables.BRONZE_CANDLES, tables.BRONZE_NEWS, tables.GOLD_TRAINING):
        assert s3_lake.partitions(table) == local_lake.partitions(table)
    on_s3, local = s3_lake.read(tables.GOLD_TRAINING), local_lake.read(tables.GOLD_TRAINING)
    assert len(on_s3) > 1000
    assert on_s3.filter(like="news_").notna().any().any()
    pd.testing.assert_frame_equal(on_s3, local)
    spec = s3_lake.files.read_json(FeatureSet().feature_list)
    assert spec == local_lake.files.read_json(FeatureSet().feature_list)
    assert spec["sentiment_model_id"] == lexicon.model_id
    news = s3_lake.read(tables.BRONZE_NEWS)
    assert news["source_file"].str.startswith(f"s3://{bucket}/raw/news/jsonl/").all()

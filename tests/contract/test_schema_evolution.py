"""One schema-evolution rule for every table (issue 35.7; docs/lake.md "Schema evolution").

A newer version of the code added a column and wrote values into it; this version, which
does not know the column, then writes the table again:

- a declared table (bronze, silver sentiment, monitoring, quarantine) keeps the column:
  days this version does not rewrite keep their values, an upserted key keeps its value,
  rows this version writes have it null;
- a computed table (silver features, gold: columns follow the stage's parameters)
  refuses the write in one line naming what is missing, and nothing is written.

Before, ``monitoring/checks`` dropped such a column and every value in it, even on days
it did not rewrite; bronze kept it; gold refused with a traceback.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from src_clean import tables
from src_clean.lake import Lake, SchemaMismatchError

pytestmark = pytest.mark.contract

NEWER = "added_by_a_newer_version"
DAYS = (dt.date(2024, 1, 2), dt.date(2024, 1, 3))
DECLARED = [s for s in tables.all_specs() if s.arrow_schema() is not None]
COMPUTED = [s for s in tables.all_specs() if s.arrow_schema() is None]


def rows(spec: tables.TableSpec, day: dt.date, tag: str) -> pd.DataFrame:
    """Two rows of ``spec`` dated ``day``, every column filled; ``tag`` marks the values."""
    out = {}
    for name, kind in spec.columns:
        if kind == "timestamp":
            base = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=15)
            out[name] = [base, base + pd.Timedelta(minutes=1)]
        elif kind == "string":
            out[name] = [f"{name}-{tag}-0", f"{name}-{tag}-1"]
        elif kind == "int64":
            out[name] = [1, 2]
        else:
            out[name] = [0.5, 1.5]
    frame = pd.DataFrame(out)
    for key in spec.keys:  # the keys do not depend on the tag: a rewrite hits the same rows
        if dict(spec.columns)[key] == "string":
            frame[key] = [f"{key}-{day}-0", f"{key}-{day}-1"]
    return frame


def write(lake: Lake, spec: tables.TableSpec, frame: pd.DataFrame, day: dt.date) -> None:
    if spec.write == "upsert":
        lake.upsert(spec, frame)
    else:
        lake.replace_range(spec, frame, day, day)


def newer_version_adds_a_column(lake: Lake, spec: tables.TableSpec) -> None:
    """What the newer code did: a nullable column, with a value in every stored row."""
    uri = lake.table_uri(spec)
    stored = DeltaTable(uri).to_pyarrow_table()
    values = pa.array([f"newer-{i}" for i in range(stored.num_rows)])
    write_deltalake(
        uri, stored.append_column(NEWER, values), mode="overwrite", schema_mode="overwrite"
    )


@pytest.mark.parametrize("spec", DECLARED, ids=lambda s: s.name)
def test_a_declared_table_keeps_a_column_it_does_not_know(spec: tables.TableSpec, tmp_path) -> None:
    lake = Lake(tmp_path)
    for day in DAYS:
        write(lake, spec, rows(spec, day, "first"), day)
    newer_version_adds_a_column(lake, spec)
    before = lake.read(spec, DAYS[0], DAYS[0])

    write(lake, spec, rows(spec, DAYS[1], "again"), DAYS[1])  # this version rewrites day 2

    assert NEWER in lake.schema(spec).names
    untouched = lake.read(spec, DAYS[0], DAYS[0])
    pd.testing.assert_frame_equal(untouched, before)  # day 1: every value, the newer one too
    assert untouched[NEWER].str.startswith("newer-").all()
    rewritten = lake.read(spec, DAYS[1], DAYS[1])
    assert len(rewritten) == 2
    if spec.write == "upsert":  # the same keys: the stored value survives the update
        assert rewritten[NEWER].str.startswith("newer-").all()
    else:  # the day was recomputed by code that does not know the column
        assert rewritten[NEWER].isna().all()
    new_day = dt.date(2024, 1, 4)
    write(lake, spec, rows(spec, new_day, "new"), new_day)
    assert lake.read(spec, new_day, new_day)[NEWER].isna().all()


@pytest.mark.parametrize("spec", COMPUTED, ids=lambda s: s.name)
def test_a_computed_table_refuses_a_frame_without_a_stored_column_in_one_line(
    spec: tables.TableSpec, tmp_path
) -> None:
    lake = Lake(tmp_path)
    frame = pd.DataFrame(
        {
            spec.date_source: pd.to_datetime(["2024-01-02 15:00", "2024-01-02 15:01"], utc=True),
            **{k: ["a", "b"] for k in spec.keys if k != spec.date_source},
            "news_feature": [0.5, 1.5],
        }
    )
    write(lake, spec, frame, DAYS[0])
    newer_version_adds_a_column(lake, spec)
    version = lake.version(spec)
    with pytest.raises(SchemaMismatchError) as raised:
        write(lake, spec, frame, DAYS[0])
    message = str(raised.value)
    assert "\n" not in message and f"missing columns ['{NEWER}']" in message
    assert "Nothing was written" in message
    assert lake.version(spec) == version
    assert lake.read(spec)[NEWER].str.startswith("newer-").all()

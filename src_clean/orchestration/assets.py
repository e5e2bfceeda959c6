"""The lake's tables as Airflow Assets, and the events a stage task emits for them.

A stage whose tables are fixed (ingest, silver) declares them as outlet Assets. A stage
whose table depends on the run's feature set (``Stage.route``: another window, horizon or
``skip_news`` writes a variant's own table) declares an ``AssetAlias`` instead and, once
it succeeded, adds an event for each table it really wrote: a ``skip_news`` run emits
``gold/variants/market_only-w60-h30/training``, never ``gold/training``, and every variant
table becomes an Asset with that task as its producer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from src_clean import tables

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias

    from src_clean.orchestration.stages import Stage

GROUP = "sp500-lake"


def asset(table: str) -> Asset:
    """The Asset of a lake table or file (``sp500://lake/<path>``)."""
    from airflow.sdk import Asset

    return Asset(name=table, uri=tables.asset_uri(table), group=GROUP)


def alias(task_id: str) -> AssetAlias:
    """The alias through which a routed stage's task names the tables it wrote."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"{GROUP}/{task_id}", group=GROUP)


def outlets(stage: Stage) -> list[Asset | AssetAlias]:
    """A stage's outlets: its tables, or its alias when a run routes them (variants)."""
    if stage.route is not None:
        return [alias(stage.task_id)]
    return [asset(table) for table in stage.outputs]


def inlets(stage: Stage) -> list[Asset]:
    """A stage's inputs that are lake tables another stage writes, as Assets: lineage in
    the UI, and every canonical table registered even when only an alias emits for it."""
    from src_clean.orchestration.stages import STAGES

    written = {name for other in STAGES.values() for name in other.outputs}
    return [asset(name) for name in stage.inputs if name in written]


def written_key(task_id: str) -> str:
    """The plan's XCom key of the tables a routed stage writes in this run."""
    return f"written:{task_id}"


def emit(
    outlet_events: Any,
    task_id: str,
    written: Sequence[str],
    argv: Sequence[str],
    lake_root: str | None = None,
) -> None:
    """Give each table the stage wrote its event's ``extra``: the table, the dates the
    ``argv`` processed and, for a lake table, its Delta version and the rows it holds in
    those dates. A routed stage adds an event per table ``written`` to its alias; a fixed
    one fills the events of its outlet Assets."""
    from src_clean.orchestration.stages import STAGES

    options = dict(zip(argv, argv[1:], strict=False))
    dates = {k: options[f"--{k}"] for k in ("start", "end") if f"--{k}" in options}
    stage = STAGES.get(task_id)
    for table in written:
        outlet_events[alias(task_id)].add(asset(table), extra=describe(table, dates, lake_root))
    if stage is not None and stage.route is None:
        for table in stage.outputs:
            outlet_events[asset(table)].extra.update(describe(table, dates, lake_root))


def describe(table: str, dates: dict[str, str], lake_root: str | None) -> dict[str, Any]:
    """An Asset event's ``extra``: table, dates, and (a lake table) version and rows."""
    extra: dict[str, Any] = {"table": table, **dates}
    if lake_root is None:
        return extra
    try:
        spec = tables.spec(table)
    except KeyError:
        return extra  # a side file (the training summary): no version, no rows
    from src_clean.lake import Lake

    lake = Lake(lake_root)
    if not lake.exists(spec):
        return extra
    rows = lake.read(spec, dates.get("start"), dates.get("end"), columns=[spec.date_source])
    return extra | {"version": lake.version(spec), "rows": len(rows)}

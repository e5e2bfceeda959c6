"""Sharded sentiment backfill: month shards, checkpointed scoring, a circuit breaker.

``backfill-plan`` cuts ``[start, end]`` into shards and writes the shard manifest;
``backfill-shard`` scores one shard in checkpointed chunks. Everything a run leaves
behind lives in the lake under ``_state/backfill/<run_id>/`` (see ``state``).
"""

"""The sentiment scoring worker: raw article files queued in DynamoDB, scored outside Airflow.

``jobs`` is the queue (table layout, enqueue, atomic claims with leases), ``scoring``
turns one raw file into a curated Parquet file, ``runner`` is the long-running loop
and ``cli`` its command line (``python -m src_clean sentiment-worker``). What the Airflow
DAG calls (enqueue new files, check their jobs) is ``orchestration.worker_tasks``.
"""

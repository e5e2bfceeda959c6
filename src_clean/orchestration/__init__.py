"""Everything between the Airflow DAG files and the stages: the DAG files only wire it.

``stages`` is the stage registry and ``pipeline_graph`` the pipeline DAG's edges, gates
and reports derived from it; ``plan`` (with ``run_window``, ``default_dates`` and
``trigger_form``) builds one run's argv; ``pipeline_tasks``, ``backfill_tasks``,
``worker_tasks`` and ``maintenance_tasks`` are the bodies of the DAGs' own tasks;
``stage_task`` makes a stage a task (``runner`` in-process, ``docker`` in a container, or
AWS Batch) under every task's retry policy (``task_policy``); ``assets`` and ``alerts``
are its lineage and its alerts; ``dag_settings`` and ``airflow_lookups`` resolve the
settings when a DAG file is parsed and when a task runs.

Nothing heavy (pandas, a model library, boto3) is imported at module level, so a DAG file
parses in well under a second.
"""

from src_clean.orchestration import airflow_lookups

# a stage that runs in the worker's process finds the task's Airflow connections
airflow_lookups.install()

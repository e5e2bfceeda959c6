"""Pure-python helpers behind the Airflow DAG: settings, stage commands, the docker operator.

Nothing here imports Airflow, pandas or a model library at module level, so the DAG file
parses in well under a second.
"""

from src_clean.orchestration import airflow_lookups

# a stage that runs in the worker's process finds the task's Airflow connections
airflow_lookups.install()
